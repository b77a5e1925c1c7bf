//! The conformance harness: a [`World`] per backend (a fresh SQLite file, and a fresh
//! PostgreSQL schema when `PUSHBACK_TEST_POSTGRES_URL` is set), a guard on a manual
//! clock, and test devices that sign what a real authenticator signs.

use std::io::Write as _;
use std::str::FromStr as _;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use pushback_guard::policy::UserState;
use pushback_guard::proof::{self, AnswerPayload, Decision, DeviceKey, KeyType};
use pushback_guard::store::{AppRecord, GuardStore, UserRecord};
use pushback_guard::{
    AdminPrincipal, AnswerReceipt, BindingContext, ChallengeAnswer, ChallengeRecord,
    ChallengeRequest, ChallengeStatus, CodeKey, EnrolRequest, Guard, GuardError, GuardResult,
    GuardSettings, PendingItem, Refusal, SignedAnswer, SignedRequest,
};
use pushback_model::audit::SealedEntry;
use pushback_model::{
    Clock as _, Entropy as _, ManualClock, SystemEntropy, Timestamp, random_token,
};
use pushback_store::{PostgresStore, SqliteStore};
use pushback_watch::FindingStore;

/// Where every world's manual clock starts (2027-01-15).
pub const T0: i64 = 1_800_000_000_000;
/// The variable naming the PostgreSQL server to run the suite against.
pub const PG_ENV: &str = "PUSHBACK_TEST_POSTGRES_URL";

/// A raw connection to the same database the store uses, for tampering.
pub enum Raw {
    Sqlite(std::sync::Mutex<rusqlite::Connection>),
    Postgres(PgPool),
}

impl Raw {
    /// Runs one statement; returns the rows it touched.
    pub async fn execute(&self, sql: &str) -> u64 {
        match self {
            Self::Sqlite(conn) => conn
                .lock()
                .expect("the raw SQLite connection")
                .execute(sql, [])
                .expect("raw SQL on SQLite") as u64,
            Self::Postgres(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .expect("raw SQL on PostgreSQL")
                .rows_affected(),
        }
    }
}

/// Drops a test schema when the world that used it goes away, even after a panic.
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let url = self.url.clone();
        let schema = self.schema.clone();
        // A thread of its own, so this works from inside any runtime flavour.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let Ok(mut conn) = sqlx::PgConnection::connect(&url).await else {
                    return;
                };
                // The dropped store's pool may still hold a connection whose transaction
                // was abandoned (the rollback runs on the test's runtime, which is busy
                // dropping us): end every session holding a lock in this test's schema.
                let _ = sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM (SELECT DISTINCT l.pid FROM pg_locks l \
                     JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()) AS holders",
                )
                .bind(&schema)
                .execute(&mut conn)
                .await;
                let _ = sqlx::query("SET lock_timeout = '10s'").execute(&mut conn).await;
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut conn).await;
                let _ = conn.close().await;
            });
        });
        let _ = cleanup.join();
    }
}

enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema(#[allow(dead_code)] DropSchema),
}

/// A fresh, empty store of one backend.
pub struct Backend {
    pub name: &'static str,
    pub store: Arc<dyn GuardStore>,
    pub findings: Arc<dyn FindingStore>,
    pub incidents: Arc<dyn pushback_respond::IncidentStore>,
    pub raw: Raw,
    reopen: Reopen,
    cleanup: Cleanup,
}

/// How to open a second store on the same database, as another node would.
#[derive(Clone)]
enum Reopen {
    Sqlite(String),
    Postgres { url: String, schema: String },
}

fn announce_postgres_skipped() {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the PostgreSQL conformance suite: set {PG_ENV}"
    );
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Straight to the process's stderr: libtest captures `eprintln!`, and this must
        // be seen in an ordinary `cargo test` run.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED PostgreSQL: {PG_ENV} is unset; the conformance suite ran on SQLite only ***\n"
        );
    });
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("a temporary directory for the SQLite file");
    let url = format!("sqlite://{}", dir.path().join("pushback.db").display());
    let store = Arc::new(
        SqliteStore::connect(&url)
            .await
            .expect("open a fresh SQLite store"),
    );
    let raw =
        rusqlite::Connection::open(dir.path().join("pushback.db")).expect("raw SQLite connection");
    raw.busy_timeout(Duration::from_secs(10))
        .expect("a busy timeout");
    Backend {
        name: "sqlite",
        findings: store.clone(),
        incidents: store.clone(),
        store,
        raw: Raw::Sqlite(std::sync::Mutex::new(raw)),
        reopen: Reopen::Sqlite(url),
        cleanup: Cleanup::Dir(dir),
    }
}

async fn postgres(url: &str) -> Backend {
    postgres_with_pool(url, pushback_store::default_max_connections()).await
}

/// A fresh PostgreSQL store whose pool holds at most `max_connections`, when [`PG_ENV`]
/// is set.
pub async fn postgres_pool_of(max_connections: u32) -> Option<Backend> {
    match std::env::var(PG_ENV) {
        Ok(url) if !url.trim().is_empty() => {
            Some(postgres_with_pool(url.trim(), max_connections).await)
        }
        _ => {
            announce_postgres_skipped();
            None
        }
    }
}

async fn postgres_with_pool(url: &str, max_connections: u32) -> Backend {
    let mut bytes = [0u8; 8];
    SystemEntropy::new().fill(&mut bytes);
    let schema = format!("t_{}", hex::encode(bytes));
    let cleanup = DropSchema {
        url: url.to_owned(),
        schema: schema.clone(),
    };
    let store = Arc::new(
        PostgresStore::connect_with(url, Some(&schema), max_connections)
            .await
            .expect("open a fresh PostgreSQL store in its own schema"),
    );
    let options = PgConnectOptions::from_str(url)
        .expect("PostgreSQL URL")
        .options([("search_path", schema.as_str())]);
    let raw = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .expect("raw PostgreSQL connection");
    Backend {
        name: "postgres",
        findings: store.clone(),
        incidents: store.clone(),
        store,
        raw: Raw::Postgres(raw),
        reopen: Reopen::Postgres {
            url: url.to_owned(),
            schema,
        },
        cleanup: Cleanup::Schema(cleanup),
    }
}

/// A fresh SQLite store, and a fresh PostgreSQL one when [`PG_ENV`] is set.
pub async fn backends() -> Vec<Backend> {
    let mut out = vec![sqlite().await];
    match std::env::var(PG_ENV) {
        Ok(url) if !url.trim().is_empty() => out.push(postgres(url.trim()).await),
        _ => announce_postgres_skipped(),
    }
    out
}

/// One world per backend, each with a bootstrapped admin and an app called "Payroll".
pub async fn worlds() -> Worlds {
    let mut out = Vec::new();
    for backend in backends().await {
        out.push(World::new(backend).await);
    }
    Worlds(out.into_iter())
}

/// The worlds of one test, announcing each backend as its turn comes, so a failure's
/// captured output names the backend it happened on.
pub struct Worlds(std::vec::IntoIter<World>);

impl Iterator for Worlds {
    type Item = World;

    fn next(&mut self) -> Option<World> {
        let world = self.0.next()?;
        eprintln!("--- backend: {}", world.name);
        Some(world)
    }
}

/// A fresh nonce, as a device draws one per request.
pub fn fresh_nonce() -> String {
    random_token(&SystemEntropy::new(), 16)
}

/// The binding context the Payroll login page sends.
/// An app's request for `login`, in the usual context, at the default expiry.
pub fn request(login: &str) -> ChallengeRequest {
    ChallengeRequest {
        login_hint: login.to_owned(),
        context: context(),
        requested_expiry: None,
    }
}

pub fn context() -> BindingContext {
    BindingContext {
        action: "Sign in to Payroll".into(),
        ip: "203.0.113.9".into(),
        location: "Berlin, DE".into(),
        user_agent: "Firefox/140.0".into(),
    }
}

/// An enrolment request proving possession of `key`.
pub fn enrol_request(token: &str, key: &DeviceKey, name: &str) -> EnrolRequest {
    let public_key = proof::b64(&key.public_key());
    let msg = proof::enrolment_payload(token, key.key_type(), &public_key);
    EnrolRequest {
        token: token.to_owned(),
        key_type: key.key_type(),
        public_key,
        name: name.to_owned(),
        signature: proof::b64(&key.sign(&msg).expect("sign the enrolment")),
    }
}

/// Signs `payload` with `key`, whoever the payload claims to be from.
pub fn sign_with(key: &DeviceKey, payload: AnswerPayload) -> SignedAnswer {
    let signature = proof::b64(&key.sign(&payload.canonical()).expect("sign the answer"));
    SignedAnswer { payload, signature }
}

/// The device's `GET /v1/device/pending` to `guard`, signed by `key` claiming to be
/// `device_id`.
pub async fn pending_via(
    guard: &Guard,
    device_id: &str,
    key: &DeviceKey,
    timestamp_ms: i64,
    nonce: &str,
) -> GuardResult<Vec<PendingItem>> {
    let (method, path, body): (&str, &str, &[u8]) = ("GET", "/v1/device/pending", b"");
    let msg = proof::request_payload(method, path, device_id, timestamp_ms, nonce, body);
    let signature = proof::b64(&key.sign(&msg).expect("sign the request"));
    let req = SignedRequest {
        device_id,
        timestamp_ms,
        nonce,
        signature: &signature,
        method,
        path_and_query: path,
        body,
    };
    guard.pending(&req).await.map(|(_, items)| items)
}

/// An enrolled test device: its id and its private key.
pub struct Device {
    pub id: String,
    pub login: String,
    pub key: DeviceKey,
}

impl Device {
    /// An answer payload from this device with a fresh nonce.
    pub fn payload(
        &self,
        challenge_id: &str,
        code: &str,
        decision: Decision,
        context_sha256: &str,
        timestamp_ms: i64,
    ) -> AnswerPayload {
        AnswerPayload {
            challenge_id: challenge_id.to_owned(),
            code: code.to_owned(),
            decision,
            context_sha256: context_sha256.to_owned(),
            device_id: self.id.clone(),
            timestamp_ms,
            nonce: fresh_nonce(),
        }
    }

    pub fn sign(&self, payload: AnswerPayload) -> SignedAnswer {
        sign_with(&self.key, payload)
    }
}

/// A challenge the guard opened: what the app got back.
#[derive(Clone, Debug)]
pub struct Opened {
    pub id: String,
    pub code: String,
    pub expires_at: Timestamp,
    pub prompts: u32,
}

#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(result: GuardResult<T>, want: Refusal, what: &str) {
    match result {
        Err(GuardError::Refused(got)) if got == want => {}
        other => panic!("{what}: expected Refused({want:?}), got {other:?}"),
    }
}

#[track_caller]
pub fn assert_unauthorized<T: std::fmt::Debug>(result: GuardResult<T>, what: &str) {
    match result {
        Err(GuardError::Unauthorized) => {}
        other => panic!("{what}: expected Unauthorized, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(result: GuardResult<T>, what: &str) {
    match result {
        Err(GuardError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// A guard on one fresh store, driven by a manual clock.
pub struct World {
    pub name: &'static str,
    pub clock: Arc<ManualClock>,
    pub guard: Arc<Guard>,
    pub store: Arc<dyn GuardStore>,
    pub incidents: Arc<dyn pushback_respond::IncidentStore>,
    pub admin_key: String,
    pub admin: AdminPrincipal,
    pub app: AppRecord,
    pub app_key: String,
    pub raw: Raw,
    reopen: Reopen,
    // Last, so the store is dropped before its file or schema goes.
    _cleanup: Cleanup,
}

impl World {
    /// Opens a challenge for `dev`'s user, fetches it as the device does (it must be the
    /// one pending) and approves it with its code.
    pub async fn open_fetch_approve(&self, dev: &Device) -> Opened {
        let ch = self.open_pending(&dev.login).await;
        assert_eq!(self.pending(dev).await.expect("pending").len(), 1);
        self.answer(dev, &ch.id, &ch.code, Decision::Approve)
            .await
            .expect("approve");
        ch
    }

    pub async fn new(backend: Backend) -> Self {
        let Backend {
            name,
            store,
            findings: _,
            incidents,
            raw,
            reopen,
            cleanup,
        } = backend;
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(T0)));
        let guard = Guard::new(
            store.clone(),
            clock.clone(),
            Arc::new(SystemEntropy::new()),
            CodeKey::new(b"test key"),
            GuardSettings::default(),
        )
        .expect("default settings are valid");
        let admin_key = guard
            .bootstrap_admin_key()
            .await
            .expect("bootstrap the admin key")
            .expect("a fresh store has no admin key, so bootstrap makes one");
        let admin = guard
            .authenticate_admin(&admin_key)
            .await
            .expect("the bootstrap key authenticates");
        let (app, app_key) = guard
            .create_app(&admin, "Payroll", None)
            .await
            .expect("create the Payroll app");
        Self {
            name,
            clock,
            guard: Arc::new(guard),
            store,
            incidents,
            admin_key,
            admin,
            app,
            app_key,
            raw,
            reopen,
            _cleanup: cleanup,
        }
    }

    /// Another server node with a store of its own on the same database and clock:
    /// nothing kept in memory is shared with this one.
    pub async fn separate_node(&self) -> Guard {
        self.separate_node_on(self.clock.clone()).await
    }

    /// Like [`Self::separate_node`], on a clock of its own (a node whose clock is off).
    pub async fn separate_node_on(&self, clock: Arc<ManualClock>) -> Guard {
        let store: Arc<dyn GuardStore> = match &self.reopen {
            Reopen::Sqlite(url) => Arc::new(
                SqliteStore::connect(url)
                    .await
                    .expect("a second SQLite store on the same file"),
            ),
            Reopen::Postgres { url, schema } => Arc::new(
                PostgresStore::connect_in_schema(url, Some(schema))
                    .await
                    .expect("a second PostgreSQL store on the same schema"),
            ),
        };
        Guard::new(
            store,
            clock,
            Arc::new(SystemEntropy::new()),
            CodeKey::new(b"test key"),
            GuardSettings::default(),
        )
        .expect("default settings are valid")
    }

    /// Another server node: its own guard (and caches) on the same store and clock.
    pub fn another_node(&self) -> Guard {
        self.node_with(GuardSettings::default())
    }

    /// Another server node on the same store and clock, under `settings`.
    pub fn node_with(&self, settings: GuardSettings) -> Guard {
        Guard::new(
            self.store.clone(),
            self.clock.clone(),
            Arc::new(SystemEntropy::new()),
            CodeKey::new(b"test key"),
            settings,
        )
        .expect("the settings are valid")
    }

    /// On PostgreSQL, a separate node (as [`Self::separate_node`]) and its store, which
    /// counts the statements it sends; `None` on SQLite.
    pub async fn counted_node(&self) -> Option<(Arc<PostgresStore>, Guard)> {
        let Reopen::Postgres { url, schema } = &self.reopen else {
            return None;
        };
        let store = Arc::new(
            PostgresStore::connect_in_schema(url, Some(schema))
                .await
                .expect("a second PostgreSQL store on the same schema"),
        );
        let guard = Guard::new(
            store.clone(),
            self.clock.clone(),
            Arc::new(SystemEntropy::new()),
            CodeKey::new(b"test key"),
            GuardSettings::default(),
        )
        .expect("default settings are valid");
        Some((store, guard))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance_secs(secs);
    }

    pub fn set_clock(&self, at: Timestamp) {
        self.clock.set(at);
    }

    pub async fn user(&self, login: &str) -> UserRecord {
        self.guard
            .create_user(&self.admin, login, "Test User")
            .await
            .expect("create user")
    }

    /// The user `login`, as the store has it.
    pub async fn user_record(&self, login: &str) -> UserRecord {
        self.store
            .user_by_login(login)
            .await
            .expect("reads")
            .expect("the user")
    }

    /// Enrols a new device for `login` through a one-time token, as a phone would.
    pub async fn device(&self, login: &str, key_type: KeyType) -> Device {
        let enrolment = self
            .guard
            .create_enrolment(&self.admin, login)
            .await
            .expect("create enrolment");
        let key = DeviceKey::generate(key_type).expect("generate a device key");
        let record = self
            .guard
            .enrol(&enrol_request(&enrolment.token, &key, "Test phone"))
            .await
            .expect("enrol the device");
        Device {
            id: record.id,
            login: login.to_owned(),
            key,
        }
    }

    /// A new user with one P-256 device.
    pub async fn user_with_device(&self, login: &str) -> Device {
        self.user(login).await;
        self.device(login, KeyType::P256).await
    }

    pub async fn open_with(
        &self,
        app: &AppRecord,
        login: &str,
        requested_expiry: Option<i64>,
    ) -> ChallengeAnswer {
        let req = ChallengeRequest {
            requested_expiry,
            ..request(login)
        };
        self.guard.open(app, &req).await.expect("open answers")
    }

    /// Asks the Payroll app's question for `login`.
    pub async fn open(&self, login: &str) -> ChallengeAnswer {
        self.open_with(&self.app, login, None).await
    }

    #[track_caller]
    pub fn expect_pending(&self, answer: ChallengeAnswer) -> Opened {
        match answer {
            ChallengeAnswer::Pending {
                auth_req_id,
                user_code,
                expires_at,
                prompts,
                ..
            } => Opened {
                id: auth_req_id,
                code: user_code,
                expires_at,
                prompts,
            },
            other => panic!(
                "[{}] expected a pending challenge, got {other:?}",
                self.name
            ),
        }
    }

    pub async fn open_pending(&self, login: &str) -> Opened {
        let answer = self.open(login).await;
        self.expect_pending(answer)
    }

    /// The status as the Payroll app sees it when polling.
    pub async fn status(&self, id: &str) -> ChallengeStatus {
        self.guard
            .status(&self.app, id)
            .await
            .expect("status of own challenge")
            .status
    }

    pub async fn record(&self, id: &str) -> ChallengeRecord {
        self.store
            .challenge(id)
            .await
            .expect("read challenge")
            .expect("challenge exists")
    }

    pub async fn state(&self, login: &str) -> UserState {
        self.guard
            .user_state(&self.admin, login)
            .await
            .expect("user state")
    }

    /// Moves the clock to the end of `login`'s backoff, if one is running.
    pub async fn skip_backoff(&self, login: &str) {
        if let Some(until) = self.state(login).await.backoff_until
            && until > self.now()
        {
            self.set_clock(until);
        }
    }

    /// The context hash the device was shown for challenge `id`.
    pub async fn context_sha(&self, id: &str) -> String {
        self.record(id).await.context_sha256
    }

    /// A validly signed answer from `dev`, timestamped now, with a fresh nonce.
    pub async fn signed_answer(
        &self,
        dev: &Device,
        id: &str,
        code: &str,
        decision: Decision,
    ) -> SignedAnswer {
        let ctx = self.context_sha(id).await;
        dev.sign(dev.payload(id, code, decision, &ctx, self.now().millis()))
    }

    pub async fn answer(
        &self,
        dev: &Device,
        id: &str,
        code: &str,
        decision: Decision,
    ) -> GuardResult<AnswerReceipt> {
        let signed = self.signed_answer(dev, id, code, decision).await;
        self.guard.answer(&signed).await
    }

    /// The device's `GET /v1/device/pending`, signed by `key` claiming to be `device_id`.
    pub async fn pending_signed(
        &self,
        device_id: &str,
        key: &DeviceKey,
        timestamp_ms: i64,
        nonce: &str,
    ) -> GuardResult<Vec<PendingItem>> {
        pending_via(&self.guard, device_id, key, timestamp_ms, nonce).await
    }

    pub async fn pending(&self, dev: &Device) -> GuardResult<Vec<PendingItem>> {
        self.pending_signed(&dev.id, &dev.key, self.now().millis(), &fresh_nonce())
            .await
    }

    /// Seals what is pending and returns the whole sealed log.
    pub async fn audit(&self) -> Vec<SealedEntry> {
        while self
            .store
            .seal_audit(10_000)
            .await
            .expect("seal the audit log")
            > 0
        {}
        self.store
            .audit_sealed(0, 1_000_000)
            .await
            .expect("read the audit log")
    }
}
