//! A server per test, a signing test device, and log capture.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};

use pushback_guard::proof::{self, b64};
use pushback_guard::store::GuardStore;
use pushback_guard::{
    AnswerPayload, CodeKey, Decision, DeviceKey, Guard, GuardSettings, KeyType, PendingItem,
};
use pushback_guard::{Observer, Observers};
use pushback_model::{Clock, ManualClock, SystemEntropy, Timestamp, random_token};
use pushback_respond::{
    Actuator, Entry, IncidentStore, Playbook, Responder, RetryPolicy, default_entries,
};
use pushback_server::live::{GuardEvents, JsonlSink, LiveParts, Sink};
use pushback_server::respond::{self, GuardActuator, RespondObserver};
use pushback_server::{AppState, Live, Metrics, MetricsObserver, WatchSettings, WatchState};
use pushback_watch::FindingStore;
use pushback_watch::rule::RuleSet;

pub const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// Everything any test logged, at TRACE level, for the canary test.
pub fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer_buf = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer_buf.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub enum Db {
    Sqlite,
    Postgres(String),
}

/// SQLite always; PostgreSQL when configured (announced when not).
pub fn databases() -> Vec<Db> {
    let mut dbs = vec![Db::Sqlite];
    match std::env::var("PUSHBACK_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => dbs.push(Db::Postgres(url)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI must run the PostgreSQL tests: set PUSHBACK_TEST_POSTGRES_URL")
        }
        // Straight to stderr: libtest captures `eprintln!`, and a skip must be seen.
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED PostgreSQL: PUSHBACK_TEST_POSTGRES_URL is unset; server tests ran on SQLite only ***\n"
            );
        }
    }
    dbs
}

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub guard: Arc<Guard>,
    pub admin_key: String,
    pub app_key: String,
    /// The live detection engine; [`Live::sync`] makes it catch up with the clock.
    pub live: Live,
    /// The jsonl sink's file.
    pub jsonl: std::path::PathBuf,
    pub findings: Arc<dyn FindingStore>,
    _responding: Arc<respond::Responding>,
    _dir: tempfile::TempDir,
    _schema: Option<DropSchema>,
}

/// Drops a test's PostgreSQL schema when the test ends, pass or fail.
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Its own thread and runtime: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(pushback_store::PostgresStore::drop_schema(&url, &schema))
        })
        .join();
    }
}

impl TestServer {
    pub async fn start(db: &Db) -> Self {
        Self::start_with(db, GuardSettings::default(), Vec::new()).await
    }

    /// A server with these guard settings and these sinks besides the jsonl file.
    pub async fn start_with(db: &Db, settings: GuardSettings, sinks: Vec<Box<dyn Sink>>) -> Self {
        Self::start_full(db, settings, sinks, Vec::new(), default_entries()).await
    }

    /// …and these response actuators besides the guard.
    pub async fn start_full(
        db: &Db,
        settings: GuardSettings,
        sinks: Vec<Box<dyn Sink>>,
        actuators: Vec<Arc<dyn Actuator>>,
        playbook: Vec<Entry>,
    ) -> Self {
        captured_logs();
        let dir = tempfile::tempdir().unwrap();
        let mut drop_schema = None;
        #[allow(clippy::type_complexity)]
        let (store, findings, incidents): (
            Arc<dyn GuardStore>,
            Arc<dyn FindingStore>,
            Arc<dyn IncidentStore>,
        ) = match db {
            Db::Sqlite => {
                let s = Arc::new(
                    pushback_store::SqliteStore::connect(&format!(
                        "sqlite://{}",
                        dir.path().join("t.db").display()
                    ))
                    .await
                    .unwrap(),
                );
                (s.clone(), s.clone(), s)
            }
            Db::Postgres(url) => {
                let schema = format!(
                    "srv_{}",
                    hex::encode(pushback_model::sha256(
                        random_token(&SystemEntropy::new(), 8).as_bytes()
                    ))[..12]
                        .to_owned()
                );
                let store = pushback_store::PostgresStore::connect_in_schema(url, Some(&schema))
                    .await
                    .unwrap();
                drop_schema = Some(DropSchema {
                    url: url.clone(),
                    schema,
                });
                let s = Arc::new(store);
                (s.clone(), s.clone(), s)
            }
        };
        let clock = Arc::new(ManualClock::new(T0));
        let metrics = Arc::new(Metrics::new());
        let jsonl = dir.path().join("findings.jsonl");
        let mut all_sinks: Vec<Box<dyn Sink>> = vec![Box::new(JsonlSink::new(&jsonl))];
        all_sinks.extend(sinks);
        let watch = WatchSettings {
            // Only `Live::sync` moves the watermark with the clock: tests are exact.
            tick_interval_ms: 3_600_000,
            // Saved after every batch: a test can stop at any point.
            state_save_interval_ms: 0,
            ..WatchSettings::default()
        };
        let (triggers, trigger_queue) = respond::channel();
        let (live, _engine) = Live::start(
            LiveParts {
                rules: RuleSet::builtin().unwrap(),
                store: findings.clone(),
                sinks: all_sinks,
                clock: clock.clone(),
                metrics: metrics.clone(),
                respond: Some(triggers.clone()),
                pollers: Vec::new(),
            },
            &watch,
        );
        let observers: Vec<Arc<dyn Observer>> = vec![
            Arc::new(MetricsObserver(metrics.clone())),
            Arc::new(GuardEvents(live.clone())),
            Arc::new(RespondObserver {
                triggers,
                clock: clock.clone(),
            }),
        ];
        let guard = Guard::new(
            store,
            clock.clone(),
            Arc::new(SystemEntropy::new()),
            CodeKey::new(b"server test secret"),
            settings,
        )
        .unwrap()
        .with_observer(Arc::new(Observers(observers)));
        let guard = Arc::new(guard);
        let mut all_actuators: Vec<Arc<dyn Actuator>> =
            vec![Arc::new(GuardActuator(guard.clone()))];
        all_actuators.extend(actuators);
        let responder = Arc::new(Responder::new(
            Playbook::new(playbook).unwrap(),
            incidents.clone(),
            all_actuators,
            RetryPolicy {
                attempts: 3,
                first_delay: std::time::Duration::from_millis(5),
                max_delay: std::time::Duration::from_millis(20),
            },
            clock.clone(),
            Arc::new(SystemEntropy::new()),
        ));
        let responding = Arc::new(respond::start(responder, trigger_queue));
        let admin_key = guard.bootstrap_admin_key().await.unwrap().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::with_metrics(guard.clone(), metrics, base.clone())
            .with_watch(WatchState {
                live: live.clone(),
                findings: findings.clone(),
                max_ingest_bytes: watch.max_ingest_bytes,
            })
            .with_incidents(incidents);
        tokio::spawn(pushback_server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        let http = reqwest::Client::new();
        let mut server = Self {
            base,
            http,
            clock,
            guard,
            admin_key,
            app_key: String::new(),
            live,
            jsonl,
            findings,
            _responding: responding,
            _dir: dir,
            _schema: drop_schema,
        };
        let app = server
            .admin_post("/v1/admin/apps", json!({ "name": "Payroll" }))
            .await;
        server.app_key = app["api_key"].as_str().unwrap().to_owned();
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.admin_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Creates `login` with an enrolled device.
    pub async fn user_with_device(&self, login: &str, key_type: KeyType) -> TestDevice {
        self.admin_post("/v1/admin/users", json!({ "login": login }))
            .await;
        self.enrol(login, key_type).await
    }

    pub async fn enrol(&self, login: &str, key_type: KeyType) -> TestDevice {
        let e = self
            .admin_post(&format!("/v1/admin/users/{login}/enrolments"), json!(null))
            .await;
        let link = e["link"].as_str().unwrap();
        let token = link.split_once("/enroll#").unwrap().1.to_owned();
        let key = DeviceKey::generate(key_type).unwrap();
        let public_key = b64(&key.public_key());
        let signature = b64(&key
            .sign(&proof::enrolment_payload(&token, key_type, &public_key))
            .unwrap());
        let r: Value = self
            .http
            .post(self.url("/v1/enroll"))
            .json(&json!({ "token": token, "key_type": key_type, "public_key": public_key, "name": "phone", "signature": signature }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        TestDevice {
            id: r["device_id"].as_str().unwrap().to_owned(),
            key,
            token,
        }
    }

    /// Opens a challenge; returns the whole answer.
    pub async fn challenge(&self, login: &str) -> Value {
        self.http
            .post(self.url("/v1/challenges"))
            .bearer_auth(&self.app_key)
            .json(&json!({ "login_hint": login, "context": { "action": "Sign in to Payroll", "ip": "203.0.113.5", "location": "Berlin, DE", "user_agent": "Firefox" } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// GET `path` with a bearer `key`; the JSON answer.
    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        self.http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The Prometheus exposition.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// How many devices `login` has.
    pub async fn device_count(&self, login: &str) -> usize {
        let v = self
            .get_json(&format!("/v1/admin/users/{login}/devices"), &self.admin_key)
            .await;
        v["devices"].as_array().unwrap().len()
    }

    /// The fatigue counters of `login`, as the admin API shows them.
    pub async fn user_state(&self, login: &str) -> Value {
        self.get_json(&format!("/v1/admin/users/{login}"), &self.admin_key)
            .await
    }

    pub async fn status_of(&self, id: &str) -> String {
        let v = self
            .get_json(&format!("/v1/challenges/{id}"), &self.app_key)
            .await;
        v["status"].as_str().unwrap().to_owned()
    }

    /// A signed GET /v1/device/pending; returns (status code, body).
    pub async fn pending_raw(&self, d: &TestDevice, nonce: &str) -> (u16, Value) {
        let ts = self.clock.now().millis();
        let sig = d
            .key
            .sign(&proof::request_payload(
                "GET",
                "/v1/device/pending",
                &d.id,
                ts,
                nonce,
                b"",
            ))
            .unwrap();
        let r = self
            .http
            .get(self.url("/v1/device/pending"))
            .header("pushback-device", &d.id)
            .header("pushback-timestamp", ts.to_string())
            .header("pushback-nonce", nonce)
            .header("pushback-signature", b64(&sig))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn pending(&self, d: &TestDevice) -> Vec<PendingItem> {
        let (status, body) = self.pending_raw(d, &nonce()).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body["challenges"].clone()).unwrap()
    }

    /// `login` (with a device) is prompted and answers "not me"; the answer is recorded.
    pub async fn report_not_me(&self, login: &str) -> TestDevice {
        let device = self.user_with_device(login, KeyType::P256).await;
        let ch = self.challenge(login).await;
        let item = self.pending(&device).await.remove(0);
        let code = ch["user_code"].as_str().unwrap();
        let (status, _, body) = self
            .post_answer(&device.answer(&item, Decision::NotMe, code, self.clock.now()))
            .await;
        assert_eq!(status, 200, "{body}");
        device
    }

    /// Posts an answer body; returns (status code, content type, body).
    pub async fn post_answer(&self, body: &Value) -> (u16, String, Value) {
        let r = self
            .http
            .post(self.url("/v1/device/answers"))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ct, r.json().await.unwrap_or(Value::Null))
    }
}

pub fn nonce() -> String {
    random_token(&SystemEntropy::new(), 16)
}

pub struct TestDevice {
    pub id: String,
    pub key: DeviceKey,
    pub token: String,
}

impl TestDevice {
    /// An answer body signed by `signer` (normally this device's own key).
    pub fn answer_signed_by(
        &self,
        signer: &DeviceKey,
        challenge_id: &str,
        context_sha256: &str,
        decision: Decision,
        code: &str,
        ts: Timestamp,
    ) -> Value {
        let p = AnswerPayload {
            challenge_id: challenge_id.to_owned(),
            code: code.to_owned(),
            decision,
            context_sha256: context_sha256.to_owned(),
            device_id: self.id.clone(),
            timestamp_ms: ts.millis(),
            nonce: nonce(),
        };
        let signature = b64(&signer.sign(&p.canonical()).unwrap());
        json!({
            "challenge_id": p.challenge_id, "code": p.code, "decision": p.decision,
            "context_sha256": p.context_sha256, "device_id": p.device_id,
            "timestamp": p.timestamp_ms, "nonce": p.nonce, "signature": signature,
        })
    }

    pub fn answer(
        &self,
        item: &PendingItem,
        decision: Decision,
        code: &str,
        ts: Timestamp,
    ) -> Value {
        self.answer_signed_by(
            &self.key,
            &item.challenge_id,
            &item.context_sha256,
            decision,
            code,
            ts,
        )
    }
}
