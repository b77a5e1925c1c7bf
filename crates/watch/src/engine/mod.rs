//! The detection engine: [`AuthEvent`]s in, [`Finding`]s out, synchronously.
//!
//! ```text
//! observe(event) ─► reorder buffer ─► (events below the watermark, in time order)
//!                     │ late: dropped, counted        │
//!                     ▼                               ▼
//!                                      detection rules indexed by kind
//!                                      ─► finding (rules that report)
//!                                      ─► correlation windows per (rule, group)
//!                                           ─► finding, and on to chained correlations
//! ```
//!
//! - **Time** is event time. The watermark is the latest event time seen minus the
//!   disorder tolerance (default five minutes: Duo's log runs about two minutes late and
//!   out of order). Events are held until they fall below it and then evaluated in time
//!   order, so any arrival order within the tolerance gives the same findings as sorted
//!   input. An event older than the watermark is dropped and counted as `late`.
//! - **Live use**: a runner that waits on a quiet source calls [`Engine::tick`] with the
//!   clock's now, which moves the watermark to now minus the tolerance so that held
//!   events are evaluated without waiting for the next one. Batch runs never call it.
//! - **End of input**: [`Engine::finish`] evaluates everything held and judges every
//!   window still open.
//! - **Cost**: an event meets only the detection rules that can match its kind; a
//!   non-matching event allocates nothing. Per-group window state is bounded by the rule
//!   (see [`window`]) and the number of groups per rule by
//!   [`EngineSettings::max_groups_per_rule`], least recently seen first out;
//!   [`EngineStats::evicted_groups`] counts evictions of groups that still had events in
//!   their window.
//!
//! ```
//! use pushback_model::{AuthEvent, EventKind, EventSource, Timestamp};
//! use pushback_watch::{Engine, EngineSettings, rule::RuleSet};
//!
//! let mut engine = Engine::new(RuleSet::builtin().unwrap(), EngineSettings::default());
//! let mut findings = Vec::new();
//! for i in 0..5 {
//!     let t = Timestamp::from_millis(1_767_225_600_000 + i * 60_000);
//!     let e = AuthEvent::new(format!("d{i}"), t, EventSource::Okta, EventKind::PushDenied,
//!                            "alice@example.com", "user.mfa.okta_verify.deny_push");
//!     findings.extend(engine.observe(e));
//! }
//! findings.extend(engine.finish());
//! assert_eq!(findings.len(), 1);
//! assert_eq!(findings[0].rule_id, "push_flood");
//! assert_eq!(findings[0].event_count, 5);
//! assert_eq!(engine.stats().late, 0);
//! ```

use pushback_model::{AuthEvent, DistinctValues, EventKind, Finding, Timestamp};
use serde::{Deserialize, Serialize};

use crate::rule::correlation::{CorrelationDef, Counting};
use crate::rule::field::Field;
use crate::rule::{Body, Rule, RuleSet};

mod groups;
mod reorder;
pub(crate) mod window;

use reorder::Reorder;
use window::{Fired, Hit, Ids, SavedWindow, SavedWindowRef, Window};

/// Separates group-by values inside a group key.
const KEY_SEPARATOR: char = '\u{1f}';

/// How the engine trades memory for completeness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// How far behind the latest event time (in milliseconds) an event may arrive and
    /// still be evaluated in order. Default: 300,000 (five minutes).
    pub disorder_tolerance_ms: i64,
    /// The most groups (users, sessions, source addresses…) one correlation rule keeps
    /// state for; the least recently seen goes first. Default: 100,000.
    pub max_groups_per_rule: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            disorder_tolerance_ms: 300_000,
            max_groups_per_rule: 100_000,
        }
    }
}

/// Counters for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EngineStats {
    /// Events offered to [`Engine::observe`].
    pub events: u64,
    /// Events dropped for arriving older than the watermark.
    pub late: u64,
    /// Events evaluated against the rules.
    pub evaluated: u64,
    /// Findings reported.
    pub findings: u64,
    /// Groups evicted while their window still held events (a possible missed detection;
    /// raise `max_groups_per_rule` if this grows).
    pub evicted_groups: u64,
    /// Events waiting in the reorder buffer.
    pub buffered: usize,
    /// Groups currently held, over all correlation rules.
    pub groups: usize,
}

/// The version of [`Engine::save_state`]'s format.
const STATE_FORMAT: u32 = 1;

/// The engine's state as saved: the events held for reordering (with the watermark)
/// and each correlation window, under a fingerprint of its rule's definition.
#[derive(Serialize)]
struct SavedRef<'a> {
    format: u32,
    reorder: &'a Reorder,
    windows: Vec<(String, SavedWindowRef<'a>)>,
}

#[derive(Deserialize)]
struct Saved {
    format: u32,
    reorder: Reorder,
    windows: Vec<(String, SavedWindow)>,
}

/// What [`Engine::restore_state`] took up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Events that were waiting in the reorder buffer.
    pub events: usize,
    /// Correlation windows whose rule is unchanged, with their groups.
    pub windows: usize,
    /// Saved windows left out: their rule is gone, its definition changed, or the
    /// saved state does not fit it.
    pub dropped_windows: usize,
}

/// A saved state that cannot be restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Not the JSON [`Engine::save_state`] writes.
    #[error("the saved engine state does not parse: {0}")]
    Malformed(String),
    /// Written by a build with another format.
    #[error("the saved engine state is in format {0}; this build reads format {STATE_FORMAT}")]
    Format(u32),
}

/// Evaluated events handed back by [`Engine::take_spent`], in the boxes they came in, so
/// that they can be freed on the thread that made them.
#[allow(clippy::vec_box)]
pub type Spent = Vec<Box<AuthEvent>>;

/// Scratch buffers reused from event to event.
#[derive(Debug, Default)]
struct Scratch {
    key: String,
    value: String,
}

/// The detection engine. See the module documentation.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    /// For each [`EventKind`] (by discriminant), the detection rules that can match it.
    by_kind: Vec<Vec<usize>>,
    windows: Vec<Option<Window>>,
    /// The windows judged when they close.
    tumbling: Vec<usize>,
    reorder: Reorder,
    stats: EngineStats,
    scratch: Scratch,
    closed: Vec<(Box<str>, Fired)>,
    /// Evaluated events kept for the caller ([`Engine::keep_spent`]); `None`: dropped.
    spent: Option<Spent>,
}

impl Engine {
    pub fn new(rules: RuleSet, settings: EngineSettings) -> Engine {
        let rules = rules.rules;
        let by_kind = EventKind::ALL
            .iter()
            .map(|&kind| {
                rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| match &r.body {
                        Body::Detection(d) => {
                            d.kinds.contains(kind) && (r.emits || !r.parents.is_empty())
                        }
                        Body::Correlation(_) => false,
                    })
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        let windows: Vec<Option<Window>> = rules
            .iter()
            .map(|r| match &r.body {
                Body::Correlation(def) => Some(Window::new(def, settings.max_groups_per_rule)),
                Body::Detection(_) => None,
            })
            .collect();
        let tumbling = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(&r.body, Body::Correlation(c) if !c.fires_on_crossing()))
            .map(|(i, _)| i)
            .collect();
        Engine {
            rules,
            by_kind,
            windows,
            tumbling,
            reorder: Reorder::new(settings.disorder_tolerance_ms),
            stats: EngineStats::default(),
            scratch: Scratch::default(),
            closed: Vec::new(),
            spent: None,
        }
    }

    /// Keeps evaluated events for [`Engine::take_spent`] instead of dropping them.
    ///
    /// Freeing memory on another thread than the one that allocated it is slow with
    /// the system allocator: a reader whose events were made on normalising threads
    /// ([`crate::input::Reader::recycle`]) has them freed there, and this thread only
    /// runs the rules.
    pub fn keep_spent(&mut self, keep: bool) {
        match (keep, &self.spent) {
            (true, None) => self.spent = Some(Vec::new()),
            (false, Some(_)) => self.spent = None,
            _ => {}
        }
    }

    /// How many evaluated events are waiting for [`Engine::take_spent`].
    pub fn spent_len(&self) -> usize {
        self.spent.as_ref().map_or(0, Vec::len)
    }

    /// The evaluated events kept since the last call (none unless
    /// [`Engine::keep_spent`] is on).
    pub fn take_spent(&mut self) -> Spent {
        match &mut self.spent {
            Some(spent) => std::mem::replace(spent, Vec::with_capacity(spent.capacity())),
            None => Vec::new(),
        }
    }

    /// Takes one event; returns the findings of the events this one released from the
    /// reorder buffer (usually events up to the tolerance older than it).
    pub fn observe(&mut self, event: impl Into<Box<AuthEvent>>) -> Vec<Finding> {
        let mut out = Vec::new();
        self.observe_into(event, &mut out);
        out
    }

    /// [`Engine::observe`], appending to `out` (no allocation when nothing is found).
    pub fn observe_into(&mut self, event: impl Into<Box<AuthEvent>>, out: &mut Vec<Finding>) {
        self.stats.events += 1;
        if !self.reorder.push(event.into()) {
            self.stats.late += 1;
            return;
        }
        self.release(false, out);
    }

    /// Moves the watermark to `now` minus the tolerance (live use: `now` from the
    /// runner's clock) and returns the findings that released.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Finding> {
        let mut out = Vec::new();
        let tolerance = self.reorder.tolerance_ms();
        self.reorder.advance(now.plus_millis(-tolerance));
        self.release(false, &mut out);
        out
    }

    /// End of input: evaluates every held event and judges every open window.
    pub fn finish(&mut self) -> Vec<Finding> {
        let mut out = Vec::new();
        self.release(true, &mut out);
        self.close_windows(Timestamp::from_millis(i64::MAX), &mut out);
        out
    }

    /// The counters so far.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            buffered: self.reorder.len(),
            groups: self.windows.iter().flatten().map(Window::groups).sum(),
            ..self.stats
        }
    }

    /// Events older than this are late.
    pub fn watermark(&self) -> Option<Timestamp> {
        self.reorder.watermark()
    }

    /// Holds the watermark at `hold` at most, or lets it go (`None`), and returns the
    /// findings that released. A live runner holds it while a log source catches up
    /// after a restart, so that the old events it delivers are judged, not dropped.
    pub fn set_hold(&mut self, hold: Option<Timestamp>) -> Vec<Finding> {
        let mut out = Vec::new();
        self.reorder.set_hold(hold);
        self.release(false, &mut out);
        out
    }

    /// What the engine holds — events waiting to be judged, every open window, the
    /// watermark — as text for [`Engine::restore_state`], so that a service that stops
    /// and starts again goes on as if it had not (an attack straddling the restart is
    /// still seen whole).
    pub fn save_state(&self) -> String {
        let windows = self
            .windows
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some((self.fingerprint(i)?, w.as_ref()?.saved())))
            .collect();
        let saved = SavedRef {
            format: STATE_FORMAT,
            reorder: &self.reorder,
            windows,
        };
        // Strings, numbers and sequences only: serialising cannot fail.
        serde_json::to_string(&saved).unwrap_or_default()
    }

    /// Takes up a state saved by [`Engine::save_state`] in place of this engine's
    /// (meant for a new engine). Held events are kept whatever the rules; a window is
    /// kept only if its rule's definition is unchanged. The current settings (disorder
    /// tolerance, group cap) apply from now on.
    pub fn restore_state(&mut self, text: &str) -> Result<Restored, StateError> {
        let saved: Saved =
            serde_json::from_str(text).map_err(|e| StateError::Malformed(e.to_string()))?;
        if saved.format != STATE_FORMAT {
            return Err(StateError::Format(saved.format));
        }
        let tolerance = self.reorder.tolerance_ms();
        self.reorder = saved.reorder;
        self.reorder.set_tolerance_ms(tolerance);
        let mut restored = Restored {
            events: self.reorder.len(),
            ..Restored::default()
        };
        let mut by_fingerprint: std::collections::HashMap<String, SavedWindow> =
            saved.windows.into_iter().collect();
        for i in 0..self.windows.len() {
            let Some(print) = self.fingerprint(i) else {
                continue;
            };
            if let (Some(w), Some(state)) =
                (self.windows[i].as_mut(), by_fingerprint.remove(&print))
            {
                if w.restore(state) {
                    restored.windows += 1;
                } else {
                    restored.dropped_windows += 1;
                }
            }
        }
        restored.dropped_windows += by_fingerprint.len();
        Ok(restored)
    }

    /// What identifies correlation rule `i`'s window across runs: its name and its
    /// whole definition (as `Debug` writes it: a build that writes it differently
    /// starts every window afresh, which is safe).
    fn fingerprint(&self, i: usize) -> Option<String> {
        let rule = &self.rules[i];
        match &rule.body {
            Body::Correlation(def) => Some(format!("{}\u{1f}{def:?}", rule.meta.key())),
            Body::Detection(_) => None,
        }
    }

    fn release(&mut self, all: bool, out: &mut Vec<Finding>) {
        while let Some(e) = self.reorder.pop(all) {
            self.close_windows(e.time, out);
            self.evaluate(&e, out);
            if let Some(spent) = &mut self.spent {
                spent.push(e);
            }
        }
        if let Some(w) = self.reorder.watermark()
            && !all
        {
            self.close_windows(w, out);
        }
    }

    fn close_windows(&mut self, before: Timestamp, out: &mut Vec<Finding>) {
        for &i in &self.tumbling {
            let (Some(w), Body::Correlation(def)) = (self.windows[i].as_mut(), &self.rules[i].body)
            else {
                continue;
            };
            w.close_due(before, &mut self.closed);
            for (key, fired) in self.closed.drain(..) {
                if self.rules[i].emits {
                    self.stats.findings += 1;
                    out.push(finding(&self.rules[i], def, &key, fired));
                }
            }
        }
    }

    fn evaluate(&mut self, e: &AuthEvent, out: &mut Vec<Finding>) {
        self.stats.evaluated += 1;
        let Engine {
            rules,
            by_kind,
            windows,
            stats,
            scratch,
            ..
        } = self;
        for &i in &by_kind[e.kind as usize] {
            let rule = &rules[i];
            let Body::Detection(d) = &rule.body else {
                continue;
            };
            if !d.matches(e) {
                continue;
            }
            if rule.emits {
                stats.findings += 1;
                out.push(single(rule, e));
            }
            let hit = Hit {
                time: e.time,
                start: e.time,
                count: 1,
                ids: Ids::One(&e.id),
                user: Some(&e.user),
                source: Some(e.source),
            };
            propagate(rules, windows, scratch, stats, i, &hit, e, out);
        }
    }
}

/// Feeds a match of rule `from` to the correlations that refer to it, and their
/// findings on up the chain.
#[allow(clippy::too_many_arguments)]
fn propagate(
    rules: &[Rule],
    windows: &mut [Option<Window>],
    scratch: &mut Scratch,
    stats: &mut EngineStats,
    from: usize,
    hit: &Hit<'_>,
    event: &AuthEvent,
    out: &mut Vec<Finding>,
) {
    for &(p, step) in &rules[from].parents {
        let Body::Correlation(def) = &rules[p].body else {
            continue;
        };
        let mut key = std::mem::take(&mut scratch.key);
        let mut value = std::mem::take(&mut scratch.value);
        key.clear();
        value.clear();
        if group_key(&def.group_by, event, &mut key) {
            let counted = match def.counting {
                Counting::Values(field) => field
                    .write_value(event, &mut value)
                    .then_some(value.as_str()),
                _ => None,
            };
            let fired = windows[p]
                .as_mut()
                .map(|w| w.feed(step, hit, &key, counted));
            if let Some((fired, evicted)) = fired {
                if evicted {
                    stats.evicted_groups += 1;
                }
                if let Some(fired) = fired {
                    let f = finding(&rules[p], def, &key, fired);
                    let inner = Hit {
                        time: f.window_end,
                        start: f.window_start,
                        count: f.event_count,
                        ids: Ids::Many(&f.event_ids),
                        user: f.user.as_deref(),
                        source: f.source,
                    };
                    if rules[p].emits {
                        stats.findings += 1;
                        out.push(f.clone());
                    }
                    propagate(rules, windows, scratch, stats, p, &inner, event, out);
                }
            }
        }
        scratch.key = key;
        scratch.value = value;
    }
}

/// Writes the group-by values of `e` into `key`; false if one of them is absent (the
/// event then takes no part in the correlation).
fn group_key(fields: &[Field], e: &AuthEvent, key: &mut String) -> bool {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            key.push(KEY_SEPARATOR);
        }
        if !f.write_value(e, key) {
            return false;
        }
    }
    true
}

fn single(rule: &Rule, e: &AuthEvent) -> Finding {
    Finding {
        rule_id: rule.meta.key().to_owned(),
        title: rule.meta.title.clone(),
        severity: rule.severity,
        user: Some(e.user.to_string()),
        source: Some(e.source),
        window_start: e.time,
        window_end: e.time,
        event_count: 1,
        event_ids: vec![e.id.to_string()],
        event_ids_truncated: false,
        group: Vec::new(),
        distinct: None,
        tags: rule.meta.tags.clone(),
    }
}

fn finding(rule: &Rule, def: &CorrelationDef, key: &str, fired: Fired) -> Finding {
    let group: Vec<(String, String)> = def
        .group_by
        .iter()
        .zip(key.split(KEY_SEPARATOR))
        .map(|(f, v)| (f.name().to_owned(), v.to_owned()))
        .collect();
    let user = group
        .iter()
        .find(|(f, _)| f == Field::User.name())
        .map(|(_, v)| v.clone())
        .or_else(|| fired.user.map(String::from));
    let event_ids: Vec<String> = fired.ids.iter().map(|s| s.to_string()).collect();
    let distinct = match (def.counting, fired.distinct) {
        (Counting::Values(field), Some((count, values))) => Some(DistinctValues {
            field: field.name().to_owned(),
            count,
            values: values
                .iter()
                .take(Finding::MAX_EVENT_IDS)
                .map(|s| s.to_string())
                .collect(),
        }),
        _ => None,
    };
    Finding {
        rule_id: rule.meta.key().to_owned(),
        title: rule.meta.title.clone(),
        severity: rule.severity,
        user,
        source: fired.source,
        window_start: fired.start,
        window_end: fired.end,
        event_count: fired.count,
        event_ids_truncated: fired.count > event_ids.len() as u64,
        event_ids,
        group,
        distinct,
        tags: rule.meta.tags.clone(),
    }
}

#[cfg(test)]
mod tests;
