//! `pushback serve`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use pushback_guard::Observer;
use pushback_model::{SystemClock, SystemEntropy};
use pushback_respond::{Actuator, Responder};
use pushback_server::live::{GuardEvents, LiveParts, spawn_poller};
use pushback_server::respond::{self, GuardActuator, RespondObserver, StoredDeadLetters};
use pushback_server::{AppState, Live, Metrics, WatchState};
use pushback_watch::rule::RuleSet;

use crate::config::Config;
use crate::output;
use crate::runtime;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let url = config.database.url.clone();
    let stores = runtime::open_stores(&url, None, config.database.max_connections).await?;
    let secret =
        runtime::load_or_create_secret(std::path::Path::new(&config.database.secret_file))?;
    let clock = Arc::new(SystemClock);
    let connectors = config
        .connectors
        .build(clock.clone())
        .context("setting up [connectors]")?;

    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    let public_url = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let service = Service::build(&config, stores, &secret, connectors, public_url.clone())?;
    let admin_key = service
        .guard
        .bootstrap_admin_key()
        .await
        .context("creating the first admin key")?;

    output::serve_banner(
        &addr.to_string(),
        &public_url,
        &redacted_url(&url),
        admin_key.as_deref(),
    );
    tracing::info!(%addr, database = %redacted_url(&url), "pushback serving");
    service.serve(listener, shutdown_signal()).await
}

/// Everything `pushback serve` runs besides the listener: the guard, watch live (the
/// engine, its sinks and pollers) and the responder, wired to one another. The
/// respond benchmark builds the same thing.
pub struct Service {
    pub guard: Arc<pushback_guard::Guard>,
    pub live: Live,
    state: AppState,
    engine: tokio::task::JoinHandle<()>,
    responding: respond::Responding,
    housekeeping: tokio::task::JoinHandle<()>,
    pollers: Vec<tokio::task::JoinHandle<()>>,
}

impl Service {
    pub fn build(
        config: &Config,
        stores: runtime::Stores,
        secret: &[u8],
        mut connectors: pushback_connect::Connectors,
        public_url: String,
    ) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new());
        let sources = if config.watch.poll {
            connectors.log_sources()
        } else {
            Vec::new()
        };
        let delays: Vec<Duration> = sources.iter().map(|s| s.delay()).collect();
        let (watch, raised) = config.watch.covering(&delays);
        if raised {
            tracing::info!(
                disorder_tolerance_ms = watch.disorder_tolerance_ms,
                "the disorder tolerance is raised to cover the slowest log poller; findings may wait that long"
            );
        }
        let watch = &watch;
        let rules = match &watch.rules_dir {
            Some(dir) => RuleSet::builtin_with_dir(std::path::Path::new(dir))
                .with_context(|| format!("loading rules from {dir}"))?,
            None => RuleSet::builtin().context("loading the built-in rules")?,
        };
        let clock = Arc::new(SystemClock);
        let dead_letters = Arc::new(StoredDeadLetters(stores.incidents.clone()));
        let sinks = runtime::sinks(&watch.sinks, clock.clone(), dead_letters.clone())?;
        let playbook = config.respond.playbook().context("checking [respond]")?;
        let (triggers, trigger_queue) = respond::channel();
        let respond_on = config.respond.enabled.then(|| triggers.clone());
        let (live, engine) = Live::start(
            LiveParts {
                rules,
                store: stores.findings.clone(),
                sinks,
                clock: clock.clone(),
                metrics: metrics.clone(),
                respond: respond_on.clone(),
                pollers: sources.iter().map(|s| s.name()).collect(),
            },
            watch,
        );
        let mut observers: Vec<Arc<dyn Observer>> = vec![Arc::new(GuardEvents(live.clone()))];
        if let Some(triggers) = respond_on {
            observers.push(Arc::new(RespondObserver {
                triggers,
                clock: clock.clone(),
            }));
        }
        let guard = Arc::new(runtime::guard_observed(
            stores.guard,
            secret,
            config.guard(),
            &metrics,
            observers,
        )?);
        connectors.webhook = connectors
            .webhook
            .map(|hook| hook.with_dead_letters(dead_letters));
        let mut actuators: Vec<Arc<dyn Actuator>> = vec![Arc::new(GuardActuator(guard.clone()))];
        actuators.extend(respond::actuators(&connectors));
        let pollers = sources
            .into_iter()
            .map(|source| {
                spawn_poller(
                    source,
                    live.clone(),
                    stores.findings.clone(),
                    metrics.clone(),
                )
            })
            .collect();
        let responder = Arc::new(Responder::new(
            playbook,
            stores.incidents.clone(),
            actuators,
            config.respond.retry.clone(),
            clock,
            Arc::new(SystemEntropy::new()),
        ));
        drop(triggers);
        let responding = respond::start(responder, trigger_queue);
        let housekeeping = pushback_server::spawn_housekeeping(
            guard.clone(),
            Duration::from_millis(config.server.housekeeping_interval_ms.max(50)),
            Duration::from_millis(config.server.seal_interval_ms.max(10)),
        );
        let mut state = AppState::with_metrics(guard.clone(), metrics, public_url)
            .with_watch(WatchState {
                live: live.clone(),
                findings: stores.findings,
                max_ingest_bytes: watch.max_ingest_bytes,
            })
            .with_incidents(stores.incidents);
        state.max_body_bytes = config.server.max_body_bytes;
        Ok(Self {
            guard,
            live,
            state,
            engine,
            responding,
            housekeeping,
            pollers,
        })
    }

    /// Serves until `shutdown`, then saves what the engine holds for the next start,
    /// lets responses in flight end (after their last retry at the latest) and stops.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        pushback_server::serve(listener, self.state, shutdown)
            .await
            .context("serving")?;
        for poller in &self.pollers {
            poller.abort();
        }
        self.housekeeping.abort();
        if self.live.stop().await.is_err() {
            tracing::warn!("the detection engine had already stopped");
        }
        let _ = self.engine.await;
        self.responding.finish().await;
        tracing::info!("pushback stopped");
        Ok(())
    }
}

/// The URL without any password in it, for printing.
pub fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme_end + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn passwords_never_reach_the_screen() {
        assert_eq!(
            redacted_url("postgres://u:hunter2@db/x"),
            "postgres://u@db/x"
        );
        assert_eq!(redacted_url("sqlite://pushback.db"), "sqlite://pushback.db");
    }
}
