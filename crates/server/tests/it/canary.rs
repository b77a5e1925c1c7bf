//! A full flow at TRACE logging, then a search of everything logged for the secrets.

use pushback_guard::proof::b64;
use pushback_guard::{Decision, KeyType};
use pushback_model::Clock as _;

use crate::support::{Db, TestServer, captured_logs};

#[tokio::test]
async fn no_code_key_or_token_is_ever_logged() {
    let s = TestServer::start(&Db::Sqlite).await;
    let alice = s.user_with_device("alice", KeyType::P256).await;
    let mut codes = Vec::new();
    for decision in [Decision::Approve, Decision::Deny] {
        s.clock.advance_secs(3600);
        let c = s.challenge("alice").await;
        let code = c["user_code"].as_str().unwrap().to_owned();
        let item = s.pending(&alice).await.remove(0);
        let typed = if decision == Decision::Approve {
            code.clone()
        } else {
            String::new()
        };
        assert_eq!(
            s.post_answer(&alice.answer(&item, decision, &typed, s.clock.now()))
                .await
                .0,
            200
        );
        codes.push(code);
    }
    // A wrong guess is logged as a refusal, never with the guessed or the right code.
    s.clock.advance_secs(3600);
    let c = s.challenge("alice").await;
    let item = s.pending(&alice).await.remove(0);
    let right = c["user_code"].as_str().unwrap().to_owned();
    let guess = if right == "999999" {
        "999998".to_owned()
    } else {
        "999999".to_owned()
    };
    assert_eq!(
        s.post_answer(&alice.answer(&item, Decision::Approve, &guess, s.clock.now()))
            .await
            .0,
        403
    );
    codes.push(right);
    codes.push(guess);
    s.guard.housekeeping().await.unwrap();

    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
    assert!(
        logs.contains("device request refused"),
        "the capture must be live"
    );
    let secret = |key: &str| key.rsplit('.').next().unwrap().to_owned();
    let mut needles = vec![
        secret(&s.app_key),
        secret(&s.admin_key),
        alice.token.clone(),
        b64(alice.key.pkcs8()),
        "server test secret".to_owned(),
    ];
    needles.extend(codes.iter().map(|c| format!("\"{c}\"")));
    needles.extend(codes.iter().map(|c| format!("={c}")));
    needles.extend(codes.iter().map(|c| format!(" {c} ")));
    for needle in needles {
        assert!(
            !logs.contains(&needle),
            "a secret reached the logs: {needle:?}"
        );
    }
}
