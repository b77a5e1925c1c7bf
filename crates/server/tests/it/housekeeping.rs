//! The housekeeping task: full passes at their interval, and the audit log sealed
//! between them.

use std::time::Duration;

use pushback_guard::{ChallengeStatus, KeyType};

use crate::support::{Db, TestServer};

#[tokio::test]
async fn the_audit_log_is_sealed_between_housekeeping_passes() {
    let s = TestServer::start(&Db::Sqlite).await;
    s.user_with_device("alice", KeyType::P256).await;
    // Passes an hour apart, sealing every 10 ms; the first pass runs at once.
    let task = pushback_server::spawn_housekeeping(
        s.guard.clone(),
        Duration::from_secs(3600),
        Duration::from_millis(10),
    );
    until_sealed(&s).await;

    let opened = s.challenge("alice").await;
    let id = opened["auth_req_id"].as_str().unwrap();
    s.clock.advance_secs(3600);
    // The opening's entry is sealed long before the next pass…
    until_sealed(&s).await;
    // …and a seal is not a pass: the lapsed challenge waits for one to expire it.
    let row = s.guard.store().challenge(id).await.unwrap().unwrap();
    assert_eq!(row.status, ChallengeStatus::Pending);
    task.abort();
}

/// Waits until no audit entry is left unsealed; panics after 20 s.
async fn until_sealed(s: &TestServer) {
    for _ in 0..2_000 {
        if s.guard.store().audit_unsealed().await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the audit log was not sealed within 20 s");
}
