//! The webhook against a local receiver that checks the signature: retried after a
//! 500 and a 429, `Retry-After` honoured, a 400 final, and a dead letter after the
//! last try.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pushback_connect::{DeadLetter, DeadLetters, Secret, Webhook, WebhookConfig};
use serde_json::json;

use crate::support::{Req, Resp, T0, Vendor, Waits, clock, quick_retry, vendor};

const SECRET: &[u8] = b"a webhook secret of some length";

fn valid(r: &Req) -> bool {
    let ts = r.header("x-pushback-timestamp");
    let Some(sig) = r.header("x-pushback-signature").strip_prefix("sha256=") else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    ts == (T0.millis() / 1000).to_string()
        && r.header("content-type") == "application/json"
        && ring::hmac::verify(&key, &signed, &hex::decode(sig).unwrap_or_default()).is_ok()
}

#[derive(Default)]
struct Letters(Mutex<Vec<DeadLetter>>);

#[async_trait]
impl DeadLetters for Letters {
    async fn record(&self, letter: &DeadLetter) {
        self.0.lock().unwrap().push(letter.clone());
    }
}

fn webhook(v: &Vendor, attempts: u32) -> (Webhook, Arc<Waits>, Arc<Letters>) {
    let config = WebhookConfig {
        url: format!("{}/hook?token=query-token-value", v.url),
        retry: pushback_connect::RetryPolicy {
            max_attempts: attempts,
            ..quick_retry()
        },
        ..WebhookConfig::default()
    };
    let waits = Arc::new(Waits::default());
    let letters = Arc::new(Letters::default());
    let h = Webhook::with_secret(&config, Secret::new(SECRET), clock())
        .unwrap()
        .with_pause(waits.clone())
        .with_dead_letters(letters.clone());
    (h, waits, letters)
}

/// Answers the statuses in `script`, then 200.
async fn receiver(script: Vec<Resp>) -> Vendor {
    let n = AtomicUsize::new(0);
    vendor(move |r| {
        assert!(valid(r), "every attempt is signed: {r:?}");
        assert!(r.is("POST", "/hook"));
        script
            .get(n.fetch_add(1, Ordering::SeqCst))
            .cloned()
            .unwrap_or_else(|| Resp::empty(200))
    })
    .await
}

#[tokio::test]
async fn a_signed_body_is_retried_after_a_500_and_a_429_and_delivered() {
    let v = receiver(vec![
        Resp::text(500, "oops"),
        Resp::empty(429).header("retry-after", "3"),
    ])
    .await;
    let (hook, waits, letters) = webhook(&v, 4);
    let finding = json!({ "class_uid": 2004, "finding_info": { "title": "Push flood" } });
    hook.send(&finding).await.unwrap();
    let seen = v.requests();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|r| r.json() == finding));
    assert_eq!(
        waits.all(),
        vec![Duration::from_millis(10), Duration::from_secs(3)]
    );
    assert!(letters.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn after_the_last_try_the_body_becomes_a_dead_letter() {
    let v = receiver(vec![Resp::text(503, "down"); 3]).await;
    let (hook, _, letters) = webhook(&v, 3);
    let letter = hook.send(&json!({ "n": 1 })).await.unwrap_err();
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.body, r#"{"n":1}"#);
    assert_eq!(letter.failed_at, T0);
    assert!(letter.error.contains("503"), "{}", letter.error);
    assert!(
        !letter.destination.contains("query-token-value"),
        "{}",
        letter.destination
    );
    assert!(letter.destination.ends_with("/hook"));
    assert_eq!(
        letters.0.lock().unwrap().as_slice(),
        &[*letter.clone()],
        "also recorded"
    );
    assert!(
        letter.to_string().contains("gave up after 3 attempt(s)"),
        "{letter}"
    );

    let v = receiver(vec![Resp::json(400, json!({ "message": "bad finding" }))]).await;
    let (hook, _, _) = webhook(&v, 4);
    let letter = hook.send(&json!({ "n": 2 })).await.unwrap_err();
    assert_eq!(letter.attempts, 1, "a 400 is final");
    assert!(letter.error.contains("bad finding"), "{}", letter.error);
}

#[tokio::test]
async fn a_receiver_that_is_gone_is_a_dead_letter_too() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let v = Vendor {
        url: format!("http://127.0.0.1:{port}"),
        seen: Arc::default(),
    };
    let (hook, waits, _) = webhook(&v, 2);
    let letter = hook.send(&json!({})).await.unwrap_err();
    assert_eq!(letter.attempts, 2);
    assert_eq!(waits.all().len(), 1);
    assert!(
        !letter.error.contains("query-token-value"),
        "{}",
        letter.error
    );
    assert!(
        letter.error.to_lowercase().contains("connect"),
        "the cause is named: {}",
        letter.error
    );
}

#[test]
fn short_secrets_and_bad_urls_are_refused() {
    let config = WebhookConfig {
        url: "https://h.example/x".into(),
        ..WebhookConfig::default()
    };
    assert!(Webhook::with_secret(&config, Secret::new("short"), clock()).is_err());
    let bad = WebhookConfig {
        url: "ftp://h.example/x".into(),
        ..WebhookConfig::default()
    };
    assert!(Webhook::with_secret(&bad, Secret::new(SECRET), clock()).is_err());
}
