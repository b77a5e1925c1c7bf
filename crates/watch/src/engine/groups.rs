//! A bounded map from group key to window state, kept in least-recently-seen order.
//!
//! Two things remove a group: it *expires* (nothing seen for longer than the rule's
//! timespan, so its window is empty anyway; free, not counted), or it is *evicted* (the
//! table is full, and the least recently seen group still had events in its window;
//! counted, because a detection may have been missed). Both take O(1): a slab of slots
//! threaded on a doubly linked list, and a hash index by key.

use std::collections::HashMap;

use pushback_model::Timestamp;
use serde::{Deserialize, Serialize};

const NIL: usize = usize::MAX;

#[derive(Debug)]
struct Slot<S> {
    key: Box<str>,
    state: S,
    last_seen: Timestamp,
    prev: usize,
    next: usize,
}

#[derive(Debug)]
pub(crate) struct GroupTable<S> {
    index: HashMap<Box<str>, usize>,
    slots: Vec<Option<Slot<S>>>,
    free: Vec<usize>,
    /// Most recently seen.
    head: usize,
    /// Least recently seen.
    tail: usize,
    cap: usize,
}

/// Saved as `(key, last seen, state)` from the least to the most recently seen: no
/// slots or links, so that nothing read back can point nowhere.
impl<S: Serialize> Serialize for GroupTable<S> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        use serde::ser::SerializeSeq as _;
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        let mut i = self.tail;
        while i != NIL {
            let s = self.slot(i);
            seq.serialize_element(&(&s.key, s.last_seen, &s.state))?;
            i = s.prev;
        }
        seq.end()
    }
}

/// Read back with the largest cap; the engine then sets the current one.
impl<'de, S: Deserialize<'de>> Deserialize<'de> for GroupTable<S> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<(Box<str>, Timestamp, S)>::deserialize(deserializer)?;
        let mut table = GroupTable::new(usize::MAX);
        for (key, last_seen, state) in entries {
            if table.index.contains_key(&key) {
                continue;
            }
            table.insert_front(key, last_seen, state);
        }
        Ok(table)
    }
}

impl<S> GroupTable<S> {
    pub(crate) fn new(cap: usize) -> GroupTable<S> {
        GroupTable {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            cap: cap.max(1),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Every group's state, in no particular order.
    pub(crate) fn states(&self) -> impl Iterator<Item = &S> {
        self.slots.iter().flatten().map(|s| &s.state)
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Changes the cap (a restored table takes the current setting); a table above it
    /// shrinks as groups are added.
    pub(crate) fn set_cap(&mut self, cap: usize) {
        self.cap = cap.max(1);
    }

    fn slot(&self, i: usize) -> &Slot<S> {
        self.slots[i].as_ref().expect("linked slots are occupied")
    }

    fn slot_mut(&mut self, i: usize) -> &mut Slot<S> {
        self.slots[i].as_mut().expect("linked slots are occupied")
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = {
            let s = self.slot(i);
            (s.prev, s.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slot_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slot_mut(next).prev = prev;
        }
    }

    fn push_front(&mut self, i: usize) {
        let head = self.head;
        {
            let s = self.slot_mut(i);
            s.prev = NIL;
            s.next = head;
        }
        if head == NIL {
            self.tail = i;
        } else {
            self.slot_mut(head).prev = i;
        }
        self.head = i;
    }

    fn remove(&mut self, i: usize) {
        self.unlink(i);
        if let Some(slot) = self.slots[i].take() {
            self.index.remove(&slot.key);
        }
        self.free.push(i);
    }

    /// The state of `key`, seen at `now`; created by `make` if absent. Groups not seen
    /// within `span_ms` before `now` expire first. Returns whether a group that was
    /// still live had to be evicted to make room.
    pub(crate) fn touch(
        &mut self,
        key: &str,
        now: Timestamp,
        span_ms: i64,
        make: impl FnOnce() -> S,
    ) -> (&mut S, bool) {
        let horizon = now.plus_millis(-span_ms);
        while self.tail != NIL && self.slot(self.tail).last_seen < horizon {
            self.remove(self.tail);
        }
        if let Some(&i) = self.index.get(key) {
            self.unlink(i);
            self.push_front(i);
            let s = self.slot_mut(i);
            s.last_seen = s.last_seen.max(now);
            return (&mut s.state, false);
        }
        let mut evicted = false;
        if self.index.len() >= self.cap && self.tail != NIL {
            self.remove(self.tail);
            evicted = true;
        }
        let i = self.insert_front(key.into(), now, make());
        (&mut self.slot_mut(i).state, evicted)
    }

    /// Adds a group as the most recently seen; its slot.
    fn insert_front(&mut self, key: Box<str>, last_seen: Timestamp, state: S) -> usize {
        let slot = Slot {
            key: key.clone(),
            state,
            last_seen,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.index.insert(key, i);
        self.push_front(i);
        i
    }

    /// The state of `key` without counting it as seen.
    pub(crate) fn peek_mut(&mut self, key: &str) -> Option<&mut S> {
        let i = *self.index.get(key)?;
        Some(&mut self.slot_mut(i).state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn the_least_recently_seen_group_is_evicted_when_full() {
        let mut g: GroupTable<u32> = GroupTable::new(2);
        *g.touch("a", t(0), 1_000, || 0).0 += 1;
        *g.touch("b", t(1), 1_000, || 0).0 += 1;
        *g.touch("a", t(2), 1_000, || 0).0 += 1; // a is now the most recent
        let (c, evicted) = g.touch("c", t(3), 1_000, || 7);
        assert_eq!(*c, 7);
        assert!(evicted, "b was live and had to go");
        assert_eq!(g.len(), 2);
        assert!(g.peek_mut("b").is_none());
        assert_eq!(g.peek_mut("a").copied(), Some(2));
    }

    #[test]
    fn quiet_groups_expire_without_counting_as_evictions() {
        let mut g: GroupTable<u32> = GroupTable::new(2);
        g.touch("a", t(0), 1_000, || 0);
        g.touch("b", t(10), 1_000, || 0);
        let (_, evicted) = g.touch("c", t(1_005), 1_000, || 0);
        assert!(
            !evicted,
            "a expired (last seen 1,005 ms ago, span 1,000 ms)"
        );
        assert!(g.peek_mut("a").is_none());
        assert_eq!(g.len(), 2);
        let (_, evicted) = g.touch("d", t(3_000), 1_000, || 0);
        assert!(!evicted);
        assert_eq!(g.len(), 1, "b and c expired too");
    }

    #[test]
    fn slots_are_reused_so_memory_stays_at_the_cap() {
        let mut g: GroupTable<u64> = GroupTable::new(100);
        for i in 0..10_000i64 {
            g.touch(&format!("user{i}"), t(i), 1_000_000, || 0);
        }
        assert_eq!(g.len(), 100);
        assert!(g.slots.len() <= 101, "{}", g.slots.len());
    }
}
