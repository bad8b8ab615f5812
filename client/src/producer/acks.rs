//! Counting acknowledged messages without a gap: messages are numbered from the first send, batches hold ranges of
//! those numbers (several when messages are split by key), and the count is the first number still unacknowledged.

use std::collections::BTreeSet;
use std::ops::Range;

/// Tracks which message numbers are still waiting for an acknowledgement.
#[derive(Debug, Default)]
pub(crate) struct AckTracker {
    next: u64,
    /// First numbers of the ranges not yet acknowledged.
    waiting: BTreeSet<u64>,
}

impl AckTracker {
    /// Numbers the next message.
    pub(crate) fn next_index(&mut self) -> u64 {
        let i = self.next;
        self.next += 1;
        i
    }

    /// Adds message `index` to a batch's ranges, opening a range when it does not extend the last one.
    pub(crate) fn add(&mut self, ranges: &mut Vec<Range<u64>>, index: u64) {
        match ranges.last_mut() {
            Some(r) if r.end == index => r.end += 1,
            _ => {
                ranges.push(index..index + 1);
                self.waiting.insert(index);
            }
        }
    }

    /// Marks a batch's ranges acknowledged.
    pub(crate) fn ack(&mut self, ranges: &[Range<u64>]) {
        for r in ranges {
            self.waiting.remove(&r.start);
        }
    }

    /// Messages acknowledged without a gap from the first.
    pub(crate) fn acknowledged(&self) -> u64 {
        self.waiting.first().copied().unwrap_or(self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_stops_at_the_first_gap() {
        let mut acks = AckTracker::default();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..10 {
            let index = acks.next_index();
            // Even messages to batch a, odd ones to b: ranges of one message each.
            acks.add(if i % 2 == 0 { &mut a } else { &mut b }, index);
        }
        assert_eq!(a.len(), 5);
        assert_eq!(acks.acknowledged(), 0);
        acks.ack(&b);
        assert_eq!(acks.acknowledged(), 0, "message 0 is still waiting");
        acks.ack(&a);
        assert_eq!(acks.acknowledged(), 10);
    }

    #[test]
    fn contiguous_messages_share_one_range() {
        let mut acks = AckTracker::default();
        let mut first = Vec::new();
        for _ in 0..3 {
            let i = acks.next_index();
            acks.add(&mut first, i);
        }
        let mut second = Vec::new();
        let i = acks.next_index();
        acks.add(&mut second, i);
        assert_eq!(first, vec![0..3]);
        acks.ack(&second);
        assert_eq!(acks.acknowledged(), 0);
        acks.ack(&first);
        assert_eq!(acks.acknowledged(), 4);
    }
}
