//! Counting each Entra MFA step once. Entra writes several sign-in rows for one flow
//! (one `correlationId`), and later rows repeat the steps of earlier ones in
//! `authenticationDetails`; counting rows would count one denied push several times.
//!
//! [`FlowSteps`] remembers the steps it has seen, keyed by (correlation id, step time,
//! method, kind), as 64-bit hashes. Memory is bounded: it holds at most `capacity` keys
//! and forgets the oldest first (first in, first out), so a step is recognised as a
//! repeat as long as fewer than `capacity` newer steps arrived in between. With the
//! default 65,536 keys that is well beyond one flow's rows, which Entra writes within
//! minutes; memory is about 1.5 MiB at most.

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

/// A bounded memory of seen flow steps (see the module documentation).
#[derive(Debug)]
pub struct FlowSteps {
    capacity: usize,
    seen: HashSet<u64>,
    order: VecDeque<u64>,
}

impl FlowSteps {
    pub const DEFAULT_CAPACITY: usize = 65_536;

    /// A memory of at most `capacity` steps (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// True the first time a step is offered, false when it is a repeat.
    pub fn first_time(&mut self, flow: &str, step_time: &str, method: &str, kind: &str) -> bool {
        // DefaultHasher::new() has fixed keys, so the same step hashes the same in every
        // run; the length prefixes keep ("ab","c") apart from ("a","bc").
        let mut h = DefaultHasher::new();
        for part in [flow, step_time, method, kind] {
            part.len().hash(&mut h);
            part.hash(&mut h);
        }
        let key = h.finish();
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    /// Steps currently remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_recognised_and_memory_stays_bounded() {
        let mut steps = FlowSteps::new(3);
        assert!(steps.first_time("c1", "t1", "push", "push_denied"));
        assert!(!steps.first_time("c1", "t1", "push", "push_denied"));
        assert!(steps.first_time("c1", "t2", "push", "push_denied"));
        assert!(steps.first_time("c2", "t1", "push", "push_denied"));
        assert!(steps.first_time("c1", "t1", "sms", "push_denied"));
        assert_eq!(steps.len(), 3);
        // The oldest key was forgotten; the newer ones are still known.
        assert!(steps.first_time("c1", "t1", "push", "push_denied"));
        assert!(!steps.first_time("c1", "t1", "sms", "push_denied"));
        for i in 0..1000 {
            steps.first_time("c", &i.to_string(), "m", "k");
        }
        assert_eq!(steps.len(), 3);
        assert!(steps.seen.len() <= 3);
    }

    #[test]
    fn parts_do_not_run_together() {
        let mut steps = FlowSteps::new(8);
        assert!(steps.first_time("ab", "c", "m", "k"));
        assert!(steps.first_time("a", "bc", "m", "k"));
    }
}
