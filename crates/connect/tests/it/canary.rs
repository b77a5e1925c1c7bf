//! Credentials never reach a log: every connector runs, succeeding and failing, with
//! canary credentials while every tracing event (all levels) is captured; none of
//! the canaries may appear in the capture, in an error or in a `Debug`.
//!
//! The check runs in a child process of this test binary, alone. `tracing` caches
//! per call site whether anyone listens, and a call site first reached by another
//! test thread while this test's subscriber was being installed kept "no one" and
//! dropped its events (CI saw the INFO retry lines vanish while the WARN ones were
//! caught). Alone in its process, every event reaches the capture.

use std::io::Write;
use std::sync::{Arc, Mutex};

use pushback_connect::{
    Duo, DuoConfig, Graph, GraphConfig, IdentityProvider, LogSource, Okta, OktaConfig, Secret,
    SecretSource, UserRef, Webhook, WebhookConfig,
};
use serde_json::json;

use crate::support::{Resp, clock, quick_retry, vendor};

const OKTA_TOKEN: &str = "CANARY-okta-token-7f3a";
const GRAPH_SECRET: &str = "CANARY-graph-secret-91be";
const GRAPH_ACCESS: &str = "CANARY-graph-access-token-c0de";
const DUO_SKEY: &str = "CANARY-duo-skey-5511";
const HOOK_SECRET: &str = "CANARY-webhook-secret-8d2e";
const CANARIES: [&str; 5] = [
    OKTA_TOKEN,
    GRAPH_SECRET,
    GRAPH_ACCESS,
    DUO_SKEY,
    HOOK_SECRET,
];

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_clean(what: &str, text: &str) {
    for c in CANARIES {
        assert!(!text.contains(c), "{what} shows a credential: {text}");
    }
}

const NAME: &str = "canary::no_credential_appears_in_logs_errors_or_debug";
const CHILD: &str = "PUSHBACK_CONNECT_CANARY_CHILD";

#[test]
fn no_credential_appears_in_logs_errors_or_debug() {
    if std::env::var_os(CHILD).is_some() {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_alone());
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the canary run failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "the canary did not run in the child:\n{stdout}\n{stderr}"
    );
}

async fn run_alone() {
    let capture = Capture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut texts = Vec::new();

    // Okta, its token read from a file; one success, a 500 run, a refusal.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("okta");
    std::fs::write(&token_file, format!("{OKTA_TOKEN}\n")).unwrap();
    let v = vendor(|r| match r.path.as_str() {
        "/api/v1/users/ok" => Resp::json(200, json!({ "id": "00u1", "status": "ACTIVE" })),
        "/api/v1/users/down" => Resp::text(500, "down"),
        "/api/v1/logs" => Resp::json(200, json!([{ "uuid": "e1" }]))
            .header("link", "<https://evil.example/x>; rel=\"next\""),
        _ => Resp::json(
            403,
            json!({ "errorCode": "E0000006", "errorSummary": "no" }),
        ),
    })
    .await;
    let okta_config = OktaConfig {
        base_url: v.url.clone(),
        token: SecretSource::file(token_file.to_str().unwrap()),
        retry: quick_retry(),
        ..OktaConfig::default()
    };
    let okta = Okta::new(&okta_config, clock()).unwrap();
    texts.push(format!("{okta:?} {okta_config:?}"));
    for user in ["ok", "down", "nope"] {
        texts.push(format!("{:?}", okta.suspend(&UserRef::new(user)).await));
    }
    texts.push(format!("{:?}", okta.logs().poll(None).await));

    // Graph: a token, a 401 and a refresh, a refused secret.
    let v = vendor(|r| {
        if r.path.ends_with("/token") {
            return Resp::json(
                200,
                json!({ "token_type": "Bearer", "expires_in": 3599, "access_token": GRAPH_ACCESS }),
            );
        }
        Resp::json(
            401,
            json!({ "error": { "code": "InvalidAuthenticationToken", "message": "expired" } }),
        )
    })
    .await;
    let graph_config = GraphConfig {
        tenant: "t".into(),
        client_id: "c".into(),
        graph_url: v.url.clone(),
        login_url: v.url.clone(),
        retry: quick_retry(),
        ..GraphConfig::default()
    };
    let graph = Graph::with_secret(&graph_config, Secret::new(GRAPH_SECRET), clock()).unwrap();
    texts.push(format!("{graph:?}"));
    texts.push(format!(
        "{:?}",
        graph.revoke_sessions(&UserRef::new("a@b")).await
    ));
    texts.push(format!("{:?}", graph.sign_ins().poll(None).await));

    // Duo: a signed failure and a malformed page.
    let v = vendor(|r| match r.path.as_str() {
        "/admin/v1/users" => Resp::json(
            401,
            json!({ "stat": "FAIL", "code": 40103, "message": "Invalid signature" }),
        ),
        _ => Resp::text(200, "{"),
    })
    .await;
    let duo_config = DuoConfig {
        base_url: v.url.clone(),
        integration_key: "DIKEY".into(),
        retry: quick_retry(),
        ..DuoConfig::default()
    };
    let duo = Duo::with_secret_key(&duo_config, Secret::new(DUO_SKEY), clock()).unwrap();
    texts.push(format!("{duo:?}"));
    texts.push(format!("{:?}", duo.suspend(&UserRef::new("a")).await));
    texts.push(format!("{:?}", duo.auth_logs().poll(None).await));

    // The webhook: retried, then a dead letter.
    let v = vendor(|_| Resp::text(502, "bad gateway")).await;
    let hook_config = WebhookConfig {
        url: format!("{}/hook", v.url),
        retry: quick_retry(),
        ..WebhookConfig::default()
    };
    let hook = Webhook::with_secret(&hook_config, Secret::new(HOOK_SECRET), clock()).unwrap();
    texts.push(format!("{hook:?}"));
    texts.push(format!("{:?}", hook.send(&json!({ "x": 1 })).await));

    let logged = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("connector call failed; retrying"),
        "the capture works: {logged}"
    );
    assert!(logged.contains("dead letter"), "{logged}");
    assert_clean("the log", &logged);
    for t in &texts {
        assert_clean("an error or a Debug", t);
    }
}
