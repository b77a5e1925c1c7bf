//! Putting events back in time order when they arrive within a bounded disorder.
//!
//! The watermark is the latest event time seen minus the tolerance. Events wait in a heap
//! until they fall below the watermark, then leave in order of time (ties broken by a
//! hash of the vendor id, then arrival, so that any arrival order of the same events
//! gives the same processing order). An event that arrives below the watermark is late:
//! the events around it have already been evaluated, so it is dropped and counted.
//!
//! The events themselves sit in a slab reused from one to the next; small `(time, tie,
//! arrival, slot)` keys are ordered by a queue for events that arrive in order (the usual
//! case: O(1)) and a heap for the ones that do not, so the steady state allocates nothing.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

type Key = (Timestamp, u64, u64, usize);

use pushback_model::{AuthEvent, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug)]
pub(crate) struct Reorder {
    tolerance_ms: i64,
    /// Keys that arrived in order, ascending.
    run: VecDeque<Key>,
    /// Keys that arrived out of order.
    heap: BinaryHeap<Reverse<Key>>,
    slots: Vec<Option<Box<AuthEvent>>>,
    free: Vec<usize>,
    arrivals: u64,
    watermark: Option<Timestamp>,
    /// Where the watermark would be without the hold.
    wanted: Option<Timestamp>,
    /// The watermark goes no further than this while it is set (a source catching up
    /// after a restart delivers old events that must not count as late).
    hold: Option<Timestamp>,
}

/// A reorder buffer as saved: its watermark and its events in the order they will
/// leave. No slots or indices, so that nothing read back can point nowhere.
#[derive(Serialize, Deserialize)]
struct Saved {
    watermark: Option<Timestamp>,
    wanted: Option<Timestamp>,
    events: Vec<AuthEvent>,
}

impl Serialize for Reorder {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut keys: Vec<Key> = self.run.iter().copied().collect();
        keys.extend(self.heap.iter().map(|Reverse(k)| *k));
        keys.sort_unstable();
        let events = keys
            .iter()
            .filter_map(|k| self.slots.get(k.3).and_then(Option::as_deref).cloned())
            .collect();
        Saved {
            watermark: self.watermark,
            wanted: self.wanted,
            events,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Reorder {
    /// The tolerance is not saved: the engine sets the current one.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let saved = Saved::deserialize(deserializer)?;
        let mut r = Reorder::new(0);
        for e in saved.events {
            r.store(Box::new(e));
        }
        r.watermark = saved.watermark;
        r.wanted = saved.wanted.or(saved.watermark);
        Ok(r)
    }
}

/// FNV-1a: a fixed, cheap hash so that tie order does not depend on arrival.
fn tie(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Reorder {
    pub(crate) fn new(tolerance_ms: i64) -> Reorder {
        Reorder {
            tolerance_ms: tolerance_ms.max(0),
            run: VecDeque::new(),
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            arrivals: 0,
            watermark: None,
            wanted: None,
            hold: None,
        }
    }

    pub(crate) fn tolerance_ms(&self) -> i64 {
        self.tolerance_ms
    }

    /// Takes the current tolerance (a restored buffer keeps its events and watermark).
    pub(crate) fn set_tolerance_ms(&mut self, tolerance_ms: i64) {
        self.tolerance_ms = tolerance_ms.max(0);
    }

    /// Holds the watermark at `hold` at most (`None`: no hold), moving it up to where
    /// it would be when the hold rises or ends. Never moves it back.
    pub(crate) fn set_hold(&mut self, hold: Option<Timestamp>) {
        self.hold = hold;
        if let Some(to) = self.wanted {
            self.advance(to);
        }
    }

    pub(crate) fn watermark(&self) -> Option<Timestamp> {
        self.watermark
    }

    pub(crate) fn len(&self) -> usize {
        self.run.len() + self.heap.len()
    }

    /// Takes `e` in; false (and `e` dropped) if it is late.
    pub(crate) fn push(&mut self, e: Box<AuthEvent>) -> bool {
        if self.watermark.is_some_and(|w| e.time < w) {
            return false;
        }
        self.advance(e.time.plus_millis(-self.tolerance_ms));
        self.store(e);
        true
    }

    /// Keeps `e` until its turn.
    fn store(&mut self, e: Box<AuthEvent>) {
        let key = (e.time, tie(&e.id), self.arrivals);
        self.arrivals += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(e);
                i
            }
            None => {
                self.slots.push(Some(e));
                self.slots.len() - 1
            }
        };
        let key = (key.0, key.1, key.2, slot);
        if self.run.back().is_none_or(|last| key > *last) {
            self.run.push_back(key);
        } else {
            self.heap.push(Reverse(key));
        }
    }

    /// Moves the watermark forward to `to` (never back), or as far as the hold allows.
    pub(crate) fn advance(&mut self, to: Timestamp) {
        if self.wanted.is_none_or(|w| to > w) {
            self.wanted = Some(to);
        }
        let to = self.hold.map_or(to, |h| to.min(h));
        if self.watermark.is_none_or(|w| to > w) {
            self.watermark = Some(to);
        }
    }

    /// The next event below the watermark, in order; with `all`, the next event at all.
    pub(crate) fn pop(&mut self, all: bool) -> Option<Box<AuthEvent>> {
        let from_run = match (self.run.front(), self.heap.peek()) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(Reverse(b))) => a < b,
        };
        let next = if from_run {
            self.run.front().copied()
        } else {
            self.heap.peek().map(|Reverse(k)| *k)
        };
        let (time, _, _, slot) = next?;
        if !all && self.watermark.is_none_or(|w| time >= w) {
            return None;
        }
        if from_run {
            self.run.pop_front();
        } else {
            self.heap.pop();
        }
        self.free.push(slot);
        self.slots[slot].take()
    }
}

#[cfg(test)]
mod tests {
    use pushback_model::{EventKind, EventSource};

    use super::*;

    fn ev(id: &str, ms: i64) -> Box<AuthEvent> {
        Box::new(AuthEvent::new(
            id,
            Timestamp::from_millis(ms),
            EventSource::Duo,
            EventKind::PushDenied,
            "u",
            "authentication",
        ))
    }

    fn drain(r: &mut Reorder, all: bool) -> Vec<String> {
        std::iter::from_fn(|| r.pop(all))
            .map(|e| e.id.to_string())
            .collect()
    }

    #[test]
    fn events_leave_in_time_order_once_below_the_watermark() {
        let mut r = Reorder::new(100);
        assert!(r.push(ev("b", 50)));
        assert!(r.push(ev("a", 10)));
        assert!(drain(&mut r, false).is_empty(), "watermark is -50");
        assert!(r.push(ev("c", 140)));
        assert_eq!(
            drain(&mut r, false),
            ["a"],
            "watermark 40: only a is below it"
        );
        assert!(!r.push(ev("late", 39)), "below the watermark");
        assert!(r.push(ev("d", 40)), "at the watermark is still in time");
        assert_eq!(drain(&mut r, true), ["d", "b", "c"]);
    }

    #[test]
    fn ties_leave_in_the_same_order_whatever_the_arrival() {
        let mut one = Reorder::new(0);
        let mut two = Reorder::new(0);
        for id in ["x", "y", "z"] {
            assert!(one.push(ev(id, 5)));
        }
        for id in ["z", "x", "y"] {
            assert!(two.push(ev(id, 5)));
        }
        assert_eq!(drain(&mut one, true), drain(&mut two, true));
    }

    #[test]
    fn a_hold_keeps_old_events_in_time_until_it_ends() {
        let mut r = Reorder::new(100);
        r.set_hold(Some(Timestamp::from_millis(1_000)));
        assert!(r.push(ev("now", 10_000)));
        assert_eq!(r.watermark(), Some(Timestamp::from_millis(1_000)));
        assert!(r.push(ev("old", 1_200)), "not late while held");
        assert!(!r.push(ev("older", 999)), "below the hold is late");
        r.set_hold(Some(Timestamp::from_millis(2_000)));
        assert_eq!(drain(&mut r, false), ["old"]);
        r.set_hold(None);
        assert_eq!(r.watermark(), Some(Timestamp::from_millis(9_900)));
        assert_eq!(drain(&mut r, false), Vec::<String>::new());
        assert_eq!(drain(&mut r, true), ["now"]);
    }

    #[test]
    fn slots_are_reused() {
        let mut r = Reorder::new(10);
        for i in 0..1_000 {
            assert!(r.push(ev("e", i)));
            while r.pop(false).is_some() {}
        }
        assert!(r.slots.len() <= 12, "{}", r.slots.len());
    }
}
