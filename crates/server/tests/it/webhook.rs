//! The webhook sink against a local receiver that checks the signature: a 500 is
//! retried, and a sink that never answers holds up nothing but itself.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use pushback_model::{Clock as _, EventSource, Finding, ManualClock, Severity};
use pushback_server::live::{Sink, WebhookSecret, WebhookSettings, WebhookSink};

use crate::support::{T0, TestServer};

pub(crate) const SECRET: &[u8] = b"a webhook secret of some length";

/// (signature valid, timestamp, body) of one request.
type Seen = (bool, String, Vec<u8>);

#[derive(Clone, Default)]
pub(crate) struct Receiver {
    /// Statuses to answer, in order; 200 once they run out.
    script: Arc<Mutex<Vec<u16>>>,
    /// Every request.
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let ts = headers
        .get("x-pushback-timestamp")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let sig = headers
        .get("x-pushback-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|v| hex::decode(v).ok())
        .unwrap_or_default();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(&body);
    let valid = ring::hmac::verify(&key, &signed, &sig).is_ok();
    r.seen.lock().unwrap().push((valid, ts, body.to_vec()));
    let mut script = r.script.lock().unwrap();
    if script.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::from_u16(script.remove(0)).unwrap()
    }
}

pub(crate) async fn receiver(script: Vec<u16>) -> (String, Receiver) {
    let r = Receiver {
        script: Arc::new(Mutex::new(script)),
        ..Receiver::default()
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, r)
}

fn finding() -> Finding {
    Finding {
        rule_id: "push_flood".into(),
        title: "Push flood (MFA fatigue)".into(),
        severity: Severity::High,
        user: Some("alice".into()),
        source: Some(EventSource::Okta),
        window_start: T0,
        window_end: T0.plus_millis(240_000),
        event_count: 5,
        event_ids: vec!["a".into()],
        event_ids_truncated: false,
        group: vec![("user".into(), "alice".into())],
        distinct: None,
        tags: vec!["attack.t1621".into()],
    }
}

fn sink(url: &str, attempts: u32) -> WebhookSink {
    let settings = WebhookSettings {
        url: url.to_owned(),
        secret_env: Some("UNUSED".into()),
        max_attempts: attempts,
        initial_backoff_ms: 5,
        max_backoff_ms: 20,
        ..WebhookSettings::default()
    };
    let clock = Arc::new(ManualClock::new(T0));
    WebhookSink::new(&settings, WebhookSecret::new(SECRET.to_vec()), clock).unwrap()
}

#[tokio::test]
async fn a_signed_finding_is_retried_after_a_500_and_delivered() {
    let (url, r) = receiver(vec![500, 429]).await;
    let mut hook = sink(&url, 4);
    hook.deliver(&finding())
        .await
        .expect("delivered on the third attempt");
    let seen = r.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "500, 429, then 200");
    for (valid, ts, body) in &seen {
        assert!(valid, "every attempt is signed over <timestamp>.<body>");
        assert_eq!(
            ts,
            &(T0.millis() / 1000).to_string(),
            "Unix seconds from the clock"
        );
        let got: Finding = serde_json::from_slice(body).unwrap();
        assert_eq!(got, finding(), "the body is the finding");
    }
}

#[tokio::test]
async fn a_client_error_is_final_and_a_dead_hook_gives_up() {
    let (url, r) = receiver(vec![400]).await;
    assert!(sink(&url, 4).deliver(&finding()).await.is_err());
    assert_eq!(r.seen.lock().unwrap().len(), 1, "a 400 is not retried");

    let (url, r) = receiver(vec![503, 503, 503]).await;
    assert!(sink(&url, 3).deliver(&finding()).await.is_err());
    assert_eq!(
        r.seen.lock().unwrap().len(),
        3,
        "three attempts, then it gives up"
    );
}

/// A sink that never finishes a delivery.
struct Stuck;

#[async_trait::async_trait]
impl Sink for Stuck {
    fn name(&self) -> &'static str {
        "webhook"
    }
    async fn deliver(&mut self, _f: &Finding) -> Result<(), pushback_server::live::SinkError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_stuck_sink_blocks_neither_ingestion_nor_the_other_sinks() {
    let s = TestServer::start_with(
        &crate::support::Db::Sqlite,
        Default::default(),
        vec![Box::new(Stuck)],
    )
    .await;
    let key = s
        .admin_post("/v1/admin/ingest-keys", json!({ "name": "hook" }))
        .await["ingest_key"]
        .as_str()
        .unwrap()
        .to_owned();
    // Many users' floods: far more findings than the stuck sink's queue holds.
    let now = s.clock.now();
    let mut lines = Vec::new();
    for u in 0..1200 {
        for i in 0..5 {
            lines.push(
                json!({
                    "uuid": format!("u{u}-{i}"),
                    "published": now.minus_secs(200 - i * 30).to_rfc3339(),
                    "eventType": "user.mfa.okta_verify.deny_push",
                    "outcome": { "result": "FAILURE" },
                    "actor": { "type": "User", "alternateId": format!("user{u}") },
                })
                .to_string(),
            );
        }
    }
    let r = s
        .http
        .post(s.url("/v1/ingest/okta"))
        .bearer_auth(&key)
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    s.clock.advance_secs(3600);
    s.live.sync().await.unwrap();
    let metrics = s.metrics().await;
    assert!(
        metrics.contains(r#"pushback_watch_findings_total{rule="push_flood"} 1200"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"pushback_sink_deliveries_total{sink="webhook",result="dropped"}"#),
        "drops are counted: {metrics}"
    );
}
