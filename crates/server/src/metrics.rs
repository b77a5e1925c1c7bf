//! Prometheus metrics. No per-user labels: a label per user would let one attacker grow
//! the series without bound. Prompts per user are a histogram of each user's count
//! within the budget window instead.

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use pushback_guard::policy::LockReason;
use pushback_guard::{ChallengeAnswer, ChallengeStatus, Observer, Refusal, Resolution};

type Labels = Vec<(&'static str, &'static str)>;
/// Labels whose value comes from configuration (a rule's name), never from a request.
type NamedLabels = Vec<(&'static str, String)>;

pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    outcomes: Family<Labels, Counter>,
    prompts: Histogram,
    decision_seconds: Histogram,
    lockouts: Family<Labels, Counter>,
    refusals: Family<Labels, Counter>,
    pub(crate) watch: WatchMetrics,
}

/// watch's counters: ingestion, the live engine, sinks.
#[derive(Default)]
pub(crate) struct WatchMetrics {
    /// Findings stored for the first time, by rule.
    pub(crate) findings: Family<NamedLabels, Counter>,
    /// Ingested records by source and result (accepted, rejected).
    pub(crate) ingest_records: Family<Labels, Counter>,
    /// Events that never reached the engine because its queue was full, by source.
    pub(crate) events_dropped: Family<Labels, Counter>,
    /// Events the engine dropped for arriving behind its watermark.
    pub(crate) late_events: Counter,
    /// Groups (users, sessions, addresses) evicted while their window held events.
    pub(crate) evicted_groups: Counter,
    /// Groups held now, over all rules.
    pub(crate) groups: Gauge,
    /// Events waiting in the reorder buffer now.
    pub(crate) buffered_events: Gauge,
    /// Findings by sink and result: delivered, failed (after retries), dropped (queue full).
    pub(crate) sink_deliveries: Family<Labels, Counter>,
    /// Findings that could not be stored (they still go to the sinks).
    pub(crate) store_failures: Counter,
    /// Polls of a vendor's log that failed, by source.
    pub(crate) poll_failures: Family<Labels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pushback");
        let requests = Family::<Labels, Counter>::default();
        let outcomes = Family::<Labels, Counter>::default();
        let prompts = Histogram::new([1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 50.0]);
        let decision_seconds = Histogram::new([
            0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
        ]);
        let lockouts = Family::<Labels, Counter>::default();
        let refusals = Family::<Labels, Counter>::default();
        registry.register(
            "challenge_requests",
            "Challenge requests by answer: pending, wait, locked, step_up_required",
            requests.clone(),
        );
        registry.register(
            "challenge_outcomes",
            "Challenges by outcome: approved, denied, wrong_code, not_me, expired, superseded",
            outcomes.clone(),
        );
        registry.register(
            "prompts_since_approval",
            "Each pushed prompt's position in its user's budget window",
            prompts.clone(),
        );
        registry.register(
            "decision_seconds",
            "Time from a challenge's creation to its decision on the device",
            decision_seconds.clone(),
        );
        registry.register(
            "lockouts",
            "Push lockouts by reason: denies, not_me, failure_cap",
            lockouts.clone(),
        );
        registry.register(
            "device_refusals",
            "Refused device requests by cause",
            refusals.clone(),
        );
        let watch = WatchMetrics::default();
        registry.register(
            "watch_findings",
            "Findings stored for the first time, by rule",
            watch.findings.clone(),
        );
        registry.register(
            "ingest_records",
            "Records posted to the ingest API, by source and result (accepted, rejected)",
            watch.ingest_records.clone(),
        );
        registry.register(
            "watch_events_dropped",
            "Events not handed to the engine because its queue was full, by source",
            watch.events_dropped.clone(),
        );
        registry.register(
            "watch_late_events",
            "Events dropped for arriving behind the engine's watermark",
            watch.late_events.clone(),
        );
        registry.register(
            "watch_evicted_groups",
            "Per-user (or per-group) windows evicted while they held events (raise max_groups_per_rule if this grows)",
            watch.evicted_groups.clone(),
        );
        registry.register(
            "watch_groups",
            "Groups the engine holds state for, over all rules",
            watch.groups.clone(),
        );
        registry.register(
            "watch_buffered_events",
            "Events waiting in the engine's reorder buffer",
            watch.buffered_events.clone(),
        );
        registry.register(
            "sink_deliveries",
            "Findings by sink and result: delivered, failed (after retries), dropped (queue full)",
            watch.sink_deliveries.clone(),
        );
        registry.register(
            "watch_store_failures",
            "Findings that could not be stored",
            watch.store_failures.clone(),
        );
        registry.register(
            "poll_failures",
            "Polls of a vendor's log that failed (the checkpoint stays; retried later), by source",
            watch.poll_failures.clone(),
        );
        Self {
            watch,
            registry,
            requests,
            outcomes,
            prompts,
            decision_seconds,
            lockouts,
            refusals,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Feeds the guard's decisions into [`Metrics`].
pub struct MetricsObserver(pub Arc<Metrics>);

impl Observer for MetricsObserver {
    fn opened(&self, answer: &ChallengeAnswer) {
        let label = match answer {
            ChallengeAnswer::Pending { prompts, .. } => {
                self.0.prompts.observe(f64::from(*prompts));
                "pending"
            }
            ChallengeAnswer::Wait { .. } => "wait",
            ChallengeAnswer::Locked { .. } => "locked",
            ChallengeAnswer::StepUpRequired { .. } => "step_up_required",
        };
        self.0
            .requests
            .get_or_create(&vec![("answer", label)])
            .inc();
    }

    fn decided(&self, resolution: Resolution, seconds: f64) {
        self.0
            .outcomes
            .get_or_create(&vec![("outcome", resolution.reason())])
            .inc();
        self.0.decision_seconds.observe(seconds);
    }

    fn unanswered(&self, status: ChallengeStatus, count: usize) {
        self.0
            .outcomes
            .get_or_create(&vec![("outcome", status.as_str())])
            .inc_by(count as u64);
    }

    /// By cause, which the client never sees.
    fn refused(&self, cause: Refusal) {
        self.0
            .refusals
            .get_or_create(&vec![("cause", cause.as_str())])
            .inc();
    }

    fn locked(&self, _login: &str, reason: LockReason) {
        self.0
            .lockouts
            .get_or_create(&vec![("reason", reason.as_str())])
            .inc();
    }
}
