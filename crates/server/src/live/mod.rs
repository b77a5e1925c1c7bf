//! watch, live: one task owns the detection [`Engine`]; ingested batches and the
//! guard's own events reach it over a bounded queue, a timer moves its watermark with
//! the clock, and the findings it reports are stored (once per episode, through
//! [`FindingStore`]) and handed to the [`sink`]s.
//!
//! ```text
//! POST /v1/ingest/{okta|entra|duo} ─┐
//! log pollers (pages + checkpoints) ─┼─► queue ─► engine task ─► FindingStore
//! guard (GuardEvents observer) ─────┘   (bounded)   │ tick(now)     │ new findings only
//!                                                    timer          ▼
//!                                                        per-sink queue ─► jsonl, stdout, webhook
//! ```
//!
//! **State across restarts.** At most every `state_save_interval_ms`, when something
//! changed, and when the service stops, the task saves the engine's state with the
//! checkpoints of the pages it took, in one transaction; it takes that state up when it
//! starts. Until each poller has caught up with its log, the watermark is held for it
//! (at most ten minutes after the start), so that the records of an outage are
//! judged rather than counted late.
//!
//! Nothing upstream waits on a sink: each sink drains a queue of its own, and a full
//! queue drops the finding and counts it (`pushback_sink_deliveries{result="dropped"}`).
//! An ingest request waits only for room in the engine's queue (backpressure); the
//! guard, which must never wait, drops its event and counts it instead.

mod guard_events;
mod poller;
pub mod sink;
mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use pushback_model::{AuthEvent, Clock, EventSource, Finding, Timestamp};
use pushback_watch::rule::RuleSet;
use pushback_watch::{Engine, EngineSettings, EngineStats, FindingStore};

use crate::metrics::Metrics;
use crate::respond::Triggers;

pub use guard_events::{GuardEvents, auth_event};
pub use poller::spawn_poller;
pub use sink::{JsonlSink, Sink, SinkError, SinkSettings};
pub use webhook::{WebhookSecret, WebhookSettings, WebhookSink};

/// The `[watch]` table of `pushback.toml`: the live engine and its sinks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchSettings {
    /// A directory of Sigma rules (`*.yml`) that add to or override the built-in ones.
    pub rules_dir: Option<String>,
    /// How late (event time, milliseconds) an event may arrive and still be judged in
    /// order. Findings are reported this long after their last event at the latest.
    pub disorder_tolerance_ms: i64,
    /// The most groups (users, sessions, addresses) one correlation rule keeps state
    /// for; the least recently seen is evicted first and counted
    /// (`pushback_watch_evicted_groups`).
    pub max_groups_per_rule: usize,
    /// How often the engine's watermark follows the clock, in milliseconds.
    pub tick_interval_ms: u64,
    /// How often, at most, the engine's state is saved with the pollers' checkpoints
    /// (and always when the service stops), in milliseconds.
    pub state_save_interval_ms: u64,
    /// Batches (an ingest request, or one guard event) waiting for the engine.
    pub event_queue: usize,
    /// Largest accepted ingest request body, in bytes.
    pub max_ingest_bytes: usize,
    /// Poll the logs of the identity providers configured under `[connectors]`.
    pub poll: bool,
    pub sinks: SinkSettings,
}

impl Default for WatchSettings {
    fn default() -> Self {
        let engine = EngineSettings::default();
        Self {
            rules_dir: None,
            disorder_tolerance_ms: engine.disorder_tolerance_ms,
            max_groups_per_rule: engine.max_groups_per_rule,
            tick_interval_ms: 1000,
            state_save_interval_ms: 10_000,
            event_queue: 1024,
            max_ingest_bytes: 5 << 20,
            poll: true,
            sinks: SinkSettings::default(),
        }
    }
}

impl WatchSettings {
    /// Margin above a poller's delay: its own request time, clock skew.
    pub const POLL_MARGIN_MS: i64 = 60_000;

    /// These settings with a disorder tolerance that covers pollers delivering records
    /// up to `delays` late (plus a margin): an event older than the tolerance is judged
    /// late and dropped, so a poller slower than the tolerance would find nothing.
    /// The tolerance only grows; the second value says whether it did.
    #[must_use]
    pub fn covering(&self, delays: &[Duration]) -> (Self, bool) {
        let needed = delays
            .iter()
            .map(|d| {
                i64::try_from(d.as_millis())
                    .unwrap_or(i64::MAX)
                    .saturating_add(Self::POLL_MARGIN_MS)
            })
            .max()
            .unwrap_or(0);
        let mut out = self.clone();
        let raised = needed > out.disorder_tolerance_ms;
        out.disorder_tolerance_ms = out.disorder_tolerance_ms.max(needed);
        (out, raised)
    }

    pub fn engine(&self) -> EngineSettings {
        EngineSettings {
            disorder_tolerance_ms: self.disorder_tolerance_ms,
            max_groups_per_rule: self.max_groups_per_rule,
        }
    }
}

enum Msg {
    Events(Vec<AuthEvent>),
    Page(PolledPage),
    /// A poller that will not catch up for now: the engine stops waiting for it.
    Settled(&'static str),
    /// Tick now, store and dispatch what that finds, then answer.
    Sync(oneshot::Sender<()>),
    /// Save the state, answer and stop.
    Stop(oneshot::Sender<()>),
}

/// One page from a log poller, with the checkpoint to save along with the engine's
/// state once the engine holds the page's events.
#[derive(Debug)]
pub struct PolledPage {
    pub source: &'static str,
    pub events: Vec<AuthEvent>,
    pub checkpoint: String,
    /// The log had nothing more to give: the poller has caught up.
    pub caught_up: bool,
}

/// How long, at most, the engine holds its watermark back for pollers catching up
/// after a start (a source that stays down must not hold up every other detection).
const CATCH_UP_LIMIT: Duration = Duration::from_secs(600);

/// The engine task has stopped.
#[derive(Debug, thiserror::Error)]
#[error("the detection engine has stopped")]
pub struct EngineStopped;

/// A handle on the live engine task; cheap to clone.
#[derive(Clone)]
pub struct Live {
    tx: mpsc::Sender<Msg>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

/// What the engine task starts from.
pub struct LiveParts {
    pub rules: RuleSet,
    /// Where findings are stored, and the engine's state with the pollers' checkpoints.
    pub store: Arc<dyn FindingStore>,
    /// Each gets a task and a queue of `settings.sinks.queue`.
    pub sinks: Vec<Box<dyn Sink>>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// The responder's queue: every new finding is a trigger.
    pub respond: Option<Triggers>,
    /// The log sources that will be polled: until each has caught up (or
    /// ten minutes have passed), the watermark waits for the records they
    /// deliver, so that what happened while the service was down is judged.
    pub pollers: Vec<&'static str>,
}

impl Live {
    /// Starts the engine task: it first takes up the state saved when it last stopped,
    /// then judges what it is given, storing findings and handing new ones to the
    /// sinks and the responder.
    pub fn start(
        parts: LiveParts,
        settings: &WatchSettings,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(settings.event_queue.max(1));
        let outlets = sink::start_all(
            parts.sinks,
            settings.sinks.queue.max(1),
            parts.metrics.clone(),
        );
        let catch_up_until = parts
            .clock
            .now()
            .plus_millis(i64::try_from(CATCH_UP_LIMIT.as_millis()).unwrap_or(i64::MAX));
        let task = EngineTask {
            engine: Engine::new(parts.rules, settings.engine()),
            tolerance_ms: settings.disorder_tolerance_ms.max(0),
            store: parts.store,
            outlets,
            clock: parts.clock,
            metrics: parts.metrics.clone(),
            last: EngineStats::default(),
            respond: parts.respond,
            catching_up: parts.pollers.into_iter().map(|p| (p, None)).collect(),
            catch_up_until,
            checkpoints: BTreeMap::new(),
            dirty: false,
            saved_evaluated: 0,
            save_every_ms: i64::try_from(settings.state_save_interval_ms).unwrap_or(i64::MAX),
            last_save: None,
        };
        let every = Duration::from_millis(settings.tick_interval_ms.max(10));
        let handle = tokio::spawn(task.run(rx, every));
        (
            Self {
                tx,
                metrics: parts.metrics,
            },
            handle,
        )
    }

    async fn send(&self, msg: Msg) -> Result<(), EngineStopped> {
        self.tx.send(msg).await.map_err(|_| EngineStopped)
    }

    /// Hands a batch to the engine, waiting for room in its queue.
    pub async fn submit(&self, events: Vec<AuthEvent>) -> Result<(), EngineStopped> {
        if events.is_empty() {
            return Ok(());
        }
        self.send(Msg::Events(events)).await
    }

    /// Hands a poller's page to the engine, waiting for room in its queue. Its
    /// checkpoint is saved with the engine's state.
    pub async fn submit_page(&self, page: PolledPage) -> Result<(), EngineStopped> {
        self.send(Msg::Page(page)).await
    }

    /// Tells the engine that the poller of `source` will not catch up for now.
    pub async fn settled(&self, source: &'static str) -> Result<(), EngineStopped> {
        self.send(Msg::Settled(source)).await
    }

    /// Hands one event to the engine if its queue has room; otherwise drops it and
    /// counts the drop. Never waits.
    pub fn offer(&self, event: AuthEvent) -> bool {
        let source = event.source.as_str();
        let sent = self.tx.try_send(Msg::Events(vec![event])).is_ok();
        if !sent {
            self.metrics
                .watch
                .events_dropped
                .get_or_create(&vec![("source", source)])
                .inc();
        }
        sent
    }

    /// Moves the watermark to the clock's now (as far as a hold allows) and returns
    /// once what that released is stored and queued for the sinks (every event
    /// submitted before is in).
    pub async fn sync(&self) -> Result<(), EngineStopped> {
        let (reply, done) = oneshot::channel();
        self.send(Msg::Sync(reply)).await?;
        done.await.map_err(|_| EngineStopped)
    }

    /// End of service: saves what the engine holds (events not yet judged, open
    /// windows) with the pollers' checkpoints, for the next start to go on from, and
    /// stops the engine. Nothing is judged early.
    pub async fn stop(&self) -> Result<(), EngineStopped> {
        let (reply, done) = oneshot::channel();
        self.send(Msg::Stop(reply)).await?;
        done.await.map_err(|_| EngineStopped)
    }
}

struct EngineTask {
    engine: Engine,
    tolerance_ms: i64,
    store: Arc<dyn FindingStore>,
    outlets: Vec<sink::Outlet>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    last: EngineStats,
    respond: Option<Triggers>,
    /// Pollers not caught up yet, with the newest event time each has delivered.
    catching_up: BTreeMap<&'static str, Option<Timestamp>>,
    /// When the engine stops waiting for them (the start plus [`CATCH_UP_LIMIT`]).
    catch_up_until: Timestamp,
    /// Checkpoints of the pages taken since the state was last saved.
    checkpoints: BTreeMap<&'static str, String>,
    /// Something was taken since the state was last saved.
    dirty: bool,
    /// Events the engine had evaluated at the last save: a tick that releases held
    /// events changes the state as much as taking new ones does.
    saved_evaluated: u64,
    save_every_ms: i64,
    last_save: Option<Timestamp>,
}

impl EngineTask {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>, every: Duration) {
        self.restore().await;
        let mut found = Vec::new();
        self.hold(&mut found);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Events(events)) => {
                        for e in events {
                            self.engine.observe_into(e, &mut found);
                        }
                        self.dirty = true;
                    }
                    Some(Msg::Page(page)) => self.take_page(page, &mut found),
                    Some(Msg::Settled(source)) => {
                        if self.catching_up.remove(source).is_some() {
                            self.hold(&mut found);
                        }
                    }
                    Some(Msg::Sync(reply)) => {
                        found.extend(self.engine.tick(self.clock.now()));
                        self.report(&mut found).await;
                        self.save_if_due().await;
                        let _ = reply.send(());
                        continue;
                    }
                    Some(Msg::Stop(reply)) => {
                        self.report(&mut found).await;
                        self.save().await;
                        let _ = reply.send(());
                        return;
                    }
                    None => {
                        self.report(&mut found).await;
                        self.save().await;
                        return;
                    }
                },
                _ = tick.tick() => {
                    if !self.catching_up.is_empty() && self.clock.now() > self.catch_up_until {
                        tracing::warn!(
                            pollers = ?self.catching_up.keys().collect::<Vec<_>>(),
                            "log pollers have not caught up; detection no longer waits for them (their older records may now be counted late)"
                        );
                        self.catching_up.clear();
                        self.hold(&mut found);
                    }
                    found.extend(self.engine.tick(self.clock.now()));
                }
            }
            self.report(&mut found).await;
            self.save_if_due().await;
        }
    }

    /// Takes up the state saved when the engine last stopped, if there is one.
    async fn restore(&mut self) {
        match self.store.engine_state().await {
            Ok(Some(text)) => match self.engine.restore_state(&text) {
                Ok(r) => tracing::info!(
                    events = r.events,
                    windows = r.windows,
                    changed_rules = r.dropped_windows,
                    "the detection engine goes on from its saved state"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "the saved detection state is unusable; starting afresh");
                }
            },
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reading the saved detection state failed; starting afresh");
            }
        }
    }

    /// Holds the watermark below the oldest position of the pollers still catching
    /// up (all the way back while one has delivered nothing yet), or lets it go.
    fn hold(&mut self, found: &mut Vec<Finding>) {
        let hold = self
            .catching_up
            .values()
            .map(|p| {
                p.map_or(Timestamp::from_millis(i64::MIN), |t| {
                    t.plus_millis(-self.tolerance_ms)
                })
            })
            .min();
        found.extend(self.engine.set_hold(hold));
    }

    fn take_page(&mut self, page: PolledPage, found: &mut Vec<Finding>) {
        let newest = page.events.iter().map(|e| e.time).max();
        for e in page.events {
            self.engine.observe_into(e, found);
        }
        self.checkpoints.insert(page.source, page.checkpoint);
        self.dirty = true;
        if page.caught_up {
            if self.catching_up.remove(page.source).is_some() {
                self.hold(found);
            }
        } else if let Some(position) = self.catching_up.get_mut(page.source)
            && newest > *position
        {
            *position = newest;
            self.hold(found);
        }
    }

    async fn save_if_due(&mut self) {
        let due = self
            .last_save
            .is_none_or(|at| self.clock.now() >= at.plus_millis(self.save_every_ms));
        if self.changed() && due {
            self.save().await;
        }
    }

    /// Saves the engine's state with the checkpoints of the pages it took; on failure
    /// both wait for the next save (the pollers read those pages again after a crash).
    fn changed(&self) -> bool {
        self.dirty
            || !self.checkpoints.is_empty()
            || self.engine.stats().evaluated != self.saved_evaluated
    }

    async fn save(&mut self) {
        if !self.changed() {
            return;
        }
        let state = self.engine.save_state();
        let checkpoints: Vec<(String, String)> = self
            .checkpoints
            .iter()
            .map(|(s, c)| ((*s).to_owned(), c.clone()))
            .collect();
        match self
            .store
            .save_engine_state(&state, &checkpoints, self.clock.now())
            .await
        {
            Ok(()) => {
                self.checkpoints.clear();
                self.dirty = false;
                self.saved_evaluated = self.engine.stats().evaluated;
                self.last_save = Some(self.clock.now());
            }
            Err(e) => {
                tracing::warn!(error = %e, "saving the detection state failed; will retry");
            }
        }
    }

    /// Stores `found`, hands the new ones to the sinks, and updates the metrics.
    async fn report(&mut self, found: &mut Vec<Finding>) {
        self.count_stats();
        if found.is_empty() {
            return;
        }
        let batch = std::mem::take(found);
        let fresh = match self.store.insert_findings(&batch, self.clock.now()).await {
            Ok(fresh) => fresh,
            Err(e) => {
                // Alerting matters more than the record: the sinks still get them.
                tracing::error!(error = %e, findings = batch.len(), "storing findings failed; sending them to the sinks anyway");
                self.metrics.watch.store_failures.inc_by(batch.len() as u64);
                vec![true; batch.len()]
            }
        };
        for (finding, new) in batch.into_iter().zip(fresh) {
            if !new {
                continue;
            }
            self.metrics
                .watch
                .findings
                .get_or_create(&vec![("rule", finding.rule_id.clone())])
                .inc();
            tracing::info!(rule = %finding.rule_id, severity = %finding.severity, events = finding.event_count, "finding");
            if let Some(respond) = &self.respond {
                respond.finding(&finding, self.clock.as_ref());
            }
            let finding = Arc::new(finding);
            for outlet in &self.outlets {
                outlet.offer(&finding);
            }
        }
    }

    fn count_stats(&mut self) {
        let now = self.engine.stats();
        let w = &self.metrics.watch;
        w.late_events
            .inc_by(now.late.saturating_sub(self.last.late));
        w.evicted_groups
            .inc_by(now.evicted_groups.saturating_sub(self.last.evicted_groups));
        w.groups.set(i64::try_from(now.groups).unwrap_or(i64::MAX));
        w.buffered_events
            .set(i64::try_from(now.buffered).unwrap_or(i64::MAX));
        self.last = now;
    }
}

/// Counts an ingest request's records.
pub(crate) fn count_ingest(metrics: &Metrics, source: EventSource, accepted: u64, rejected: u64) {
    let f = &metrics.watch.ingest_records;
    f.get_or_create(&vec![("source", source.as_str()), ("result", "accepted")])
        .inc_by(accepted);
    f.get_or_create(&vec![("source", source.as_str()), ("result", "rejected")])
        .inc_by(rejected);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tolerance_grows_to_cover_the_slowest_poller_and_never_shrinks() {
        let w = WatchSettings::default();
        assert_eq!(w.disorder_tolerance_ms, 300_000);
        // Entra's defaults: windows end 300 s before now, polled every 60 s.
        let (raised, grew) = w.covering(&[Duration::from_secs(30), Duration::from_secs(360)]);
        assert!(grew);
        assert_eq!(raised.disorder_tolerance_ms, 420_000);
        // A fast poller leaves the configured tolerance alone.
        let (same, grew) = w.covering(&[Duration::from_secs(30)]);
        assert!(!grew);
        assert_eq!(same, w);
        assert_eq!(w.covering(&[]).0, w);
    }
}
