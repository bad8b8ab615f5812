//! The message-id deduplication window of one partition: ids seen recently (bounded in count and age).

use std::collections::{HashSet, VecDeque};

use crate::config::DedupWindow;

/// Recently appended message ids.
pub(crate) struct Dedup {
    window: DedupWindow,
    ids: HashSet<u128>,
    order: VecDeque<(u128, i64)>,
}

impl Dedup {
    pub(crate) fn new(window: DedupWindow) -> Self {
        Dedup { window, ids: HashSet::new(), order: VecDeque::new() }
    }

    /// Forgets ids older than the window.
    pub(crate) fn expire(&mut self, now_ms: i64) {
        let horizon = now_ms.saturating_sub(i64::try_from(self.window.max_age_ms).unwrap_or(i64::MAX));
        while let Some(&(id, at)) = self.order.front() {
            if at >= horizon && self.order.len() <= self.window.max_ids {
                break;
            }
            self.order.pop_front();
            self.ids.remove(&id);
        }
    }

    /// Whether `id` was seen within the window.
    pub(crate) fn contains(&self, id: u128) -> bool {
        self.ids.contains(&id)
    }

    /// Remembers `id`, seen at `at_ms`.
    pub(crate) fn insert(&mut self, id: u128, at_ms: i64) {
        if self.ids.insert(id) {
            self.order.push_back((id, at_ms));
        }
    }

    /// Oldest timestamp that still matters when rebuilding the window from the log.
    pub(crate) fn horizon(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(i64::try_from(self.window.max_age_ms).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_count_and_age() {
        let mut d = Dedup::new(DedupWindow { max_ids: 2, max_age_ms: 100 });
        d.insert(1, 0);
        d.insert(2, 10);
        d.insert(3, 20);
        d.expire(20);
        assert!(!d.contains(1), "count bound");
        assert!(d.contains(2) && d.contains(3));
        d.expire(115);
        assert!(!d.contains(2), "age bound");
        assert!(d.contains(3));
    }

    #[test]
    fn a_window_of_forever_keeps_ids() {
        // u64::MAX ms used to wrap to -1 ms as i64, so the horizon lay in the future and every id was forgotten.
        let mut d = Dedup::new(DedupWindow { max_ids: 10, max_age_ms: u64::MAX });
        d.insert(1, 1_000);
        d.expire(2_000);
        assert!(d.contains(1));
    }
}
