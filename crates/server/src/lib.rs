//! pushback's HTTP service: the app API (CIBA-shaped), the device API (signed requests),
//! the admin API, `/metrics` and a health check, over one [`pushback_guard::Guard`]; and,
//! when [`AppState::watch`] is set, watch live ([`live`]): the ingest API for
//! identity-provider logs (`/v1/ingest/{okta|entra|duo}`) and `GET /v1/findings`.
//!
//! Handlers are thin: an extractor authenticates ([`extract`]), the guard decides, a DTO
//! goes back; every error becomes `application/problem+json` in [`problem`]. Only this
//! crate knows HTTP.
//!
//! ```no_run
//! # async fn demo(guard: std::sync::Arc<pushback_guard::Guard>) -> std::io::Result<()> {
//! let state = pushback_server::AppState::new(guard, "http://127.0.0.1:8080".into());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! pushback_server::serve(listener, state, std::future::pending()).await
//! # }
//! ```

mod admin_api;
mod app_api;
pub mod device_api;
mod extract;
mod findings_api;
mod incidents_api;
mod ingest_api;
pub mod live;
pub mod metrics;
mod problem;
pub mod respond;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};

use pushback_guard::Guard;
use pushback_watch::FindingStore;

pub use live::{Live, WatchSettings};
pub use metrics::{Metrics, MetricsObserver};

/// The `[server]` table of `pushback.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub listen: String,
    /// The URL devices and admins reach this server at, used in enrolment links.
    /// Defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// How often lapsed challenges are expired and old nonces purged, in milliseconds.
    pub housekeeping_interval_ms: u64,
    /// How often new audit entries are sealed (hash-chained), in milliseconds.
    pub seal_interval_ms: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            max_body_bytes: 16 * 1024,
            housekeeping_interval_ms: 1000,
            seal_interval_ms: 100,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub guard: Arc<Guard>,
    pub metrics: Arc<Metrics>,
    pub public_url: String,
    pub max_body_bytes: usize,
    /// watch, live: without it, the ingest and findings routes answer 404.
    pub watch: Option<WatchState>,
    /// respond's incidents: without them, the incident routes answer 404.
    pub incidents: Option<Arc<dyn pushback_respond::IncidentStore>>,
}

/// What the ingest and findings routes need.
#[derive(Clone)]
pub struct WatchState {
    pub live: Live,
    pub findings: Arc<dyn FindingStore>,
    /// Largest accepted ingest request body, in bytes.
    pub max_ingest_bytes: usize,
}
impl AppState {
    /// State with fresh metrics. Build the guard with [`MetricsObserver`] over
    /// [`AppState::metrics`] to count decisions; see [`AppState::with_metrics`].
    pub fn new(guard: Arc<Guard>, public_url: String) -> Self {
        Self::with_metrics(guard, Arc::new(Metrics::new()), public_url)
    }

    pub fn with_metrics(guard: Arc<Guard>, metrics: Arc<Metrics>, public_url: String) -> Self {
        Self {
            guard,
            metrics,
            public_url,
            max_body_bytes: ServerSettings::default().max_body_bytes,
            watch: None,
            incidents: None,
        }
    }

    /// Serves respond's incidents too.
    #[must_use]
    pub fn with_incidents(mut self, incidents: Arc<dyn pushback_respond::IncidentStore>) -> Self {
        self.incidents = Some(incidents);
        self
    }

    /// Serves watch live (ingest and findings) too.
    #[must_use]
    pub fn with_watch(mut self, watch: WatchState) -> Self {
        self.watch = Some(watch);
        self
    }
}

/// All routes.
pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    let ingest_limit = state.watch.as_ref().map_or(limit, |w| w.max_ingest_bytes);
    Router::new()
        .route(
            "/v1/ingest/{source}",
            post(ingest_api::ingest)
                .get(ingest_api::verify)
                .layer(DefaultBodyLimit::max(ingest_limit)),
        )
        .route("/v1/findings", get(findings_api::list))
        .route("/v1/admin/ingest-keys", post(admin_api::create_ingest_key))
        .route("/v1/challenges", post(app_api::create))
        .route("/v1/challenges/{auth_req_id}", get(app_api::status))
        .route("/v1/enroll", post(device_api::enrol))
        .route("/v1/device/pending", get(device_api::pending))
        .route("/v1/device/answers", post(device_api::answer))
        .route("/v1/admin/apps", post(admin_api::create_app))
        .route("/v1/admin/users", post(admin_api::create_user))
        .route("/v1/admin/users/{login}", get(admin_api::user_state))
        .route(
            "/v1/admin/users/{login}/enrolments",
            post(admin_api::create_enrolment),
        )
        .route(
            "/v1/admin/users/{login}/devices",
            get(admin_api::list_devices),
        )
        .route("/v1/admin/users/{login}/unlock", post(admin_api::unlock))
        .route(
            "/v1/admin/users/{login}/lift-step-up",
            post(admin_api::lift_step_up),
        )
        .route(
            "/v1/admin/devices/{id}/unfreeze",
            post(admin_api::unfreeze_device),
        )
        .route("/v1/incidents", get(incidents_api::list))
        .route("/v1/incidents/{id}", get(incidents_api::show))
        .route("/v1/incidents/{id}/ack", post(incidents_api::ack))
        .route("/v1/incidents/{id}/resolve", post(incidents_api::resolve))
        .route(
            "/v1/admin/devices/{id}",
            patch(admin_api::rename_device).delete(admin_api::revoke_device),
        )
        .route("/enroll", get(enrol_page))
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async {
            problem::problem(
                StatusCode::NOT_FOUND,
                "https://pushback.dev/problems/not-found",
                "Not found",
                None,
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let mut r = state.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

async fn enrol_page() -> &'static str {
    "This is a pushback device enrolment link. Enrol with:\n\n    pushback device enroll '<the whole link>'\n"
}

/// Runs [`Guard::housekeeping`] every `every` and, between its passes, seals the audit
/// log every `seal_every` ([`Guard::seal`]), until the task is dropped.
pub fn spawn_housekeeping(
    guard: Arc<Guard>,
    every: Duration,
    seal_every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(seal_every.min(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_pass = tokio::time::Instant::now();
        loop {
            let now = tick.tick().await;
            if now < next_pass {
                if let Err(e) = guard.seal().await {
                    tracing::warn!(error = %e, "sealing the audit log failed; will retry");
                }
                continue;
            }
            next_pass = now + every;
            match guard.housekeeping().await {
                Ok(done) if done.expired > 0 => {
                    tracing::info!(expired = done.expired, sealed = done.sealed, "housekeeping")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
            }
        }
    })
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    // Each response goes out at once: with Nagle's algorithm on, a small write behind
    // one not yet acknowledged waits for the ACK (up to the peer's delayed-ACK timer).
    let listener = listener.tap_io(|stream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
        }
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
