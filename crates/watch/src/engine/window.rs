//! The window of one correlation rule: its per-group state and when it fires.
//!
//! Every group keeps only what its condition needs: an `event_count` that fires at N
//! keeps the times of its last N matches, a `value_count` that fires at N keeps at most
//! N values, a temporal rule one entry per referenced rule. So memory per group is
//! bounded by the rule, and the number of groups by the [`GroupTable`] cap.
//!
//! **One finding per episode.** When a group fires, its window is consumed (the finding
//! carries its events) and the group stays quiet for one timespan after the firing
//! event: matches in that time neither fire nor count. It then re-arms and counts
//! afresh. A flood that goes on for an hour at one prompt a minute therefore yields one
//! finding per timespan, not one per prompt. Windows judged at close (upper-bounded
//! conditions) are consumed when they close and simply reopen at the next match.

use std::collections::VecDeque;

use pushback_model::{EventSource, Finding, Timestamp};
use serde::{Deserialize, Serialize};

use super::groups::GroupTable;
use crate::rule::correlation::{Bounds, CorrelationDef, Counting};

/// One match arriving at a window: a detection rule's event, or a correlation's finding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit<'a> {
    pub(crate) time: Timestamp,
    pub(crate) start: Timestamp,
    pub(crate) count: u64,
    pub(crate) ids: Ids<'a>,
    pub(crate) user: Option<&'a str>,
    pub(crate) source: Option<EventSource>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Ids<'a> {
    One(&'a str),
    Many(&'a [String]),
}

impl Ids<'_> {
    /// Appends the ids, stamped with `at` (a chained finding's ids, already in order,
    /// all take its start).
    fn extend_into(self, at: Timestamp, out: &mut Vec<(Timestamp, Box<str>)>) {
        match self {
            Ids::One(id) => out.push((at, id.into())),
            Ids::Many(ids) => out.extend(ids.iter().map(|s| (at, s.as_str().into()))),
        }
    }
}

/// What a window reports when it fires.
#[derive(Debug)]
pub(crate) struct Fired {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) count: u64,
    pub(crate) ids: Vec<Box<str>>,
    pub(crate) user: Option<Box<str>>,
    pub(crate) source: Option<EventSource>,
    pub(crate) distinct: Option<(u64, Vec<Box<str>>)>,
}

/// The value all contributions shared, or none if they differed.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Shared<T> {
    value: Option<T>,
    mixed: bool,
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Shared {
            value: None,
            mixed: false,
        }
    }
}

impl<T: PartialEq> Shared<T> {
    fn add(&mut self, v: Option<T>) {
        if self.mixed {
            return;
        }
        match (&self.value, v) {
            (None, v) => {
                self.value = v;
                self.mixed = self.value.is_none();
            }
            (Some(a), Some(b)) if *a == b => {}
            _ => {
                self.value = None;
                self.mixed = true;
            }
        }
    }

    fn merge(&mut self, other: Shared<T>) {
        if other.mixed {
            self.value = None;
            self.mixed = true;
        } else {
            self.add(other.value);
        }
    }

    fn get(self) -> Option<T> {
        if self.mixed { None } else { self.value }
    }
}

/// Matches that together make (part of) an episode.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Part {
    time: Timestamp,
    start: Timestamp,
    count: u64,
    /// Event ids with their times, to be put in time order when fired.
    ids: Vec<(Timestamp, Box<str>)>,
    user: Shared<Box<str>>,
    source: Shared<EventSource>,
}

impl Part {
    fn of(hit: &Hit<'_>) -> Part {
        let mut p = Part {
            time: hit.time,
            start: hit.start,
            count: hit.count,
            ids: Vec::new(),
            user: Shared::default(),
            source: Shared::default(),
        };
        let at = match hit.ids {
            Ids::One(_) => hit.time,
            Ids::Many(_) => hit.start,
        };
        hit.ids.extend_into(at, &mut p.ids);
        p.user.add(hit.user.map(Into::into));
        p.source.add(hit.source);
        p
    }

    fn absorb(&mut self, other: Part) {
        self.time = self.time.max(other.time);
        self.start = self.start.min(other.start);
        self.count += other.count;
        self.ids.extend(other.ids);
        if self.ids.len() > 2 * Finding::MAX_EVENT_IDS {
            self.ids.sort_by_key(|(t, _)| *t);
            cap_ids(&mut self.ids);
        }
        self.user.merge(other.user);
        self.source.merge(other.source);
    }

    fn fired(mut self, end: Timestamp) -> Fired {
        self.ids.sort_by_key(|(t, _)| *t);
        cap_ids(&mut self.ids);
        Fired {
            start: self.start,
            end,
            count: self.count,
            ids: self.ids.into_iter().map(|(_, id)| id).collect(),
            user: self.user.get(),
            source: self.source.get(),
            distinct: None,
        }
    }
}

/// Keeps the most recent [`Finding::MAX_EVENT_IDS`] ids.
fn cap_ids<T>(ids: &mut Vec<T>) {
    if ids.len() > Finding::MAX_EVENT_IDS {
        ids.drain(..ids.len() - Finding::MAX_EVENT_IDS);
    }
}

fn merge_all(parts: impl IntoIterator<Item = Part>) -> Option<Part> {
    let mut it = parts.into_iter();
    let mut first = it.next()?;
    for p in it {
        first.absorb(p);
    }
    Some(first)
}

#[derive(Debug, Serialize, Deserialize)]
enum State {
    /// `event_count`, lower bound: the last `low` matches.
    Count(VecDeque<Part>),
    /// `value_count`, lower bound: one entry per distinct value.
    Values(Vec<(Box<str>, Part)>),
    /// `temporal`: the latest match of each referenced rule.
    Temporal(Vec<Option<Part>>),
    /// `temporal_ordered`: entry i is the best chain that completed steps 0..=i
    /// (its `start` field holds the time of its first step).
    Ordered(Vec<Option<(Timestamp, Part)>>),
    /// Upper-bounded conditions: a window from the first match to `close`.
    Tumbling(Option<Tumble>),
}

#[derive(Debug, Serialize, Deserialize)]
struct Tumble {
    generation: u64,
    part: Part,
    values: Vec<Box<str>>,
    /// More distinct values than the upper bound: the condition can no longer hold.
    overflow: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Group {
    quiet_until: Option<Timestamp>,
    state: State,
}

/// A window's state, as saved.
#[derive(Serialize)]
pub(crate) struct SavedWindowRef<'a> {
    groups: &'a GroupTable<Group>,
    closing: &'a VecDeque<(Timestamp, Box<str>, u64)>,
    generation: u64,
}

/// A window's state, read back.
#[derive(Deserialize)]
pub(crate) struct SavedWindow {
    groups: GroupTable<Group>,
    closing: VecDeque<(Timestamp, Box<str>, u64)>,
    generation: u64,
}

/// The window of one correlation rule.
#[derive(Debug)]
pub(crate) struct Window {
    counting: Counting,
    bounds: Bounds,
    span_ms: i64,
    steps: usize,
    groups: GroupTable<Group>,
    /// Tumbling windows in order of closing: (close, key, generation).
    closing: VecDeque<(Timestamp, Box<str>, u64)>,
    generation: u64,
}

impl Window {
    pub(crate) fn new(def: &CorrelationDef, max_groups: usize) -> Window {
        Window {
            counting: def.counting,
            bounds: def.bounds,
            span_ms: def.span_ms,
            steps: def.references.len(),
            groups: GroupTable::new(max_groups),
            closing: VecDeque::new(),
            generation: 0,
        }
    }

    pub(crate) fn groups(&self) -> usize {
        self.groups.len()
    }

    /// What this window has seen, to be saved and restored by [`Window::restore`].
    pub(crate) fn saved(&self) -> SavedWindowRef<'_> {
        SavedWindowRef {
            groups: &self.groups,
            closing: &self.closing,
            generation: self.generation,
        }
    }

    /// Takes up a saved state (of a window built from the same definition), keeping
    /// the current group cap. False, and nothing changed, if a group's state does not
    /// have the shape this window's definition gives it.
    pub(crate) fn restore(&mut self, saved: SavedWindow) -> bool {
        if !saved.groups.states().all(|g| self.fits(&g.state)) {
            return false;
        }
        let newest = saved
            .groups
            .states()
            .filter_map(|g| match &g.state {
                State::Tumbling(Some(t)) => Some(t.generation),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let cap = self.groups.cap();
        self.groups = saved.groups;
        self.groups.set_cap(cap);
        self.closing = saved.closing;
        self.generation = saved.generation.max(newest);
        true
    }

    fn fits(&self, state: &State) -> bool {
        let tumbling = self.bounds.high.is_some();
        match state {
            State::Tumbling(_) => tumbling,
            _ if tumbling => false,
            State::Count(_) => matches!(self.counting, Counting::Events),
            State::Values(_) => matches!(self.counting, Counting::Values(_)),
            State::Temporal(v) => {
                matches!(self.counting, Counting::Temporal) && v.len() == self.steps
            }
            State::Ordered(v) => {
                matches!(self.counting, Counting::TemporalOrdered)
                    && v.len() == self.steps
                    && !v.is_empty()
            }
        }
    }

    fn empty_state(counting: Counting, bounds: Bounds, steps: usize) -> State {
        if bounds.high.is_some() {
            return State::Tumbling(None);
        }
        match counting {
            Counting::Events => State::Count(VecDeque::new()),
            Counting::Values(_) => State::Values(Vec::new()),
            Counting::Temporal => State::Temporal(vec![None; steps]),
            Counting::TemporalOrdered => State::Ordered(vec![None; steps]),
        }
    }

    /// Feeds one match for reference `step` into group `key`. `value` is the counted
    /// field's value (`value_count` only; a match without it is ignored). Returns what
    /// fired, and whether a live group was evicted to make room.
    pub(crate) fn feed(
        &mut self,
        step: usize,
        hit: &Hit<'_>,
        key: &str,
        value: Option<&str>,
    ) -> (Option<Fired>, bool) {
        if matches!(self.counting, Counting::Values(_)) && value.is_none() {
            return (None, false);
        }
        let span = self.span_ms;
        let bounds = self.bounds;
        let (counting, steps) = (self.counting, self.steps);
        let (group, evicted) = self.groups.touch(key, hit.time, span, || Group {
            quiet_until: None,
            state: Window::empty_state(counting, bounds, steps),
        });
        if group.quiet_until.is_some_and(|q| hit.time <= q) {
            return (None, evicted);
        }
        let horizon = hit.time.plus_millis(-span);
        let fired = match &mut group.state {
            State::Count(parts) => {
                while parts.front().is_some_and(|p| p.time < horizon) {
                    parts.pop_front();
                }
                parts.push_back(Part::of(hit));
                let low = usize::try_from(bounds.low).unwrap_or(usize::MAX);
                while parts.len() > low {
                    parts.pop_front();
                }
                if parts.len() >= low {
                    merge_all(parts.drain(..)).map(|p| p.fired(hit.time))
                } else {
                    None
                }
            }
            State::Values(values) => {
                values.retain(|(_, p)| p.time >= horizon);
                let v = value.unwrap_or_default();
                match values.iter_mut().find(|(x, _)| &**x == v) {
                    Some((_, p)) => p.absorb(Part::of(hit)),
                    None => values.push((v.into(), Part::of(hit))),
                }
                if bounds.holds(values.len() as u64) {
                    let n = values.len() as u64;
                    let (names, parts): (Vec<Box<str>>, Vec<Part>) = values.drain(..).unzip();
                    merge_all(parts).map(|p| {
                        let mut f = p.fired(hit.time);
                        f.distinct = Some((n, names));
                        f
                    })
                } else {
                    None
                }
            }
            State::Temporal(slots) => {
                for s in slots.iter_mut() {
                    if s.as_ref().is_some_and(|p| p.time < horizon) {
                        *s = None;
                    }
                }
                slots[step] = Some(Part::of(hit));
                let present = slots.iter().filter(|s| s.is_some()).count() as u64;
                if present >= bounds.low {
                    merge_all(slots.iter_mut().filter_map(Option::take)).map(|p| p.fired(hit.time))
                } else {
                    None
                }
            }
            State::Ordered(chains) => {
                for c in chains.iter_mut() {
                    if c.as_ref().is_some_and(|(first, _)| *first < horizon) {
                        *c = None;
                    }
                }
                let last = chains.len() - 1;
                let candidate = if step == 0 {
                    Some((hit.time, Part::of(hit)))
                } else {
                    chains[step - 1].clone().map(|(first, mut p)| {
                        p.absorb(Part::of(hit));
                        (first, p)
                    })
                };
                match candidate {
                    Some((_, p)) if step == last => {
                        chains.iter_mut().for_each(|c| *c = None);
                        Some(p.fired(hit.time))
                    }
                    Some((first, p)) => {
                        // Keep the chain that started latest: it has the most time left.
                        if chains[step].as_ref().is_none_or(|(f, _)| first >= *f) {
                            chains[step] = Some((first, p));
                        }
                        None
                    }
                    None => None,
                }
            }
            State::Tumbling(open) => {
                let t = open.get_or_insert_with(|| {
                    self.generation += 1;
                    let close = hit.time.plus_millis(span);
                    self.closing.push_back((close, key.into(), self.generation));
                    Tumble {
                        generation: self.generation,
                        part: Part {
                            time: hit.time,
                            start: hit.start,
                            count: 0,
                            ids: Vec::new(),
                            user: Shared::default(),
                            source: Shared::default(),
                        },
                        values: Vec::new(),
                        overflow: false,
                    }
                });
                t.part.absorb(Part::of(hit));
                if let (Some(v), false) = (value, t.overflow)
                    && !t.values.iter().any(|x| &**x == v)
                {
                    if bounds.high.is_some_and(|h| t.values.len() as u64 >= h) {
                        t.overflow = true;
                    } else {
                        t.values.push(v.into());
                    }
                }
                None
            }
        };
        if fired.is_some() {
            group.quiet_until = Some(hit.time.plus_millis(span));
        }
        (fired, evicted)
    }

    /// Judges the tumbling windows that closed before `before`; returns each that holds
    /// with its group key.
    pub(crate) fn close_due(&mut self, before: Timestamp, out: &mut Vec<(Box<str>, Fired)>) {
        while self.closing.front().is_some_and(|(c, _, _)| *c < before) {
            let Some((close, key, generation)) = self.closing.pop_front() else {
                break;
            };
            let counting = self.counting;
            let bounds = self.bounds;
            let Some(group) = self.groups.peek_mut(&key) else {
                continue; // evicted meanwhile
            };
            let State::Tumbling(open) = &mut group.state else {
                continue;
            };
            if open.as_ref().is_none_or(|t| t.generation != generation) {
                continue;
            }
            let Some(t) = open.take() else { continue };
            let (n, distinct) = match counting {
                Counting::Values(_) => {
                    let n = t.values.len() as u64;
                    (if t.overflow { u64::MAX } else { n }, Some((n, t.values)))
                }
                _ => (t.part.count, None),
            };
            if bounds.holds(n) {
                let end = t.part.time.min(close);
                let mut f = t.part.fired(end);
                f.distinct = distinct;
                out.push((key, f));
            }
        }
    }
}
