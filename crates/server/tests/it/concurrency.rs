//! Many answers racing for one challenge: exactly one is recorded.

use pushback_model::Clock as _;
use std::sync::Arc;

use pushback_guard::{Decision, KeyType};

use crate::support::{TestServer, databases};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_answers_record_exactly_one_decision() {
    for db in databases() {
        let s = Arc::new(TestServer::start(&db).await);
        let alice = s.user_with_device("alice", KeyType::P256).await;
        for round in 0..20 {
            // Two hours apart: no backoff, budget or lockout from earlier rounds applies.
            s.clock.advance_secs(7200);
            let c = s.challenge("alice").await;
            assert_eq!(c["status"], "pending", "round {round}: {c}");
            let id = c["auth_req_id"].as_str().unwrap().to_owned();
            let code = c["user_code"].as_str().unwrap().to_owned();
            let item = s.pending(&alice).await.remove(0);
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..64 {
                let decision = if i % 2 == 0 {
                    Decision::Approve
                } else {
                    Decision::Deny
                };
                let body = alice.answer(
                    &item,
                    decision,
                    if i % 2 == 0 { &code } else { "" },
                    s.clock.now(),
                );
                let s = s.clone();
                tasks.spawn(async move {
                    let (status, _, reply) = s.post_answer(&body).await;
                    (status, reply["status"].as_str().map(str::to_owned))
                });
            }
            let mut winners = Vec::new();
            let mut refused = 0;
            while let Some(r) = tasks.join_next().await {
                match r.unwrap() {
                    (200, Some(status)) => winners.push(status),
                    (403, _) => refused += 1,
                    other => panic!("round {round}: unexpected answer {other:?}"),
                }
            }
            assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
            assert_eq!(refused, 63);
            assert_eq!(s.status_of(&id).await, winners[0], "round {round}");
        }
    }
}
