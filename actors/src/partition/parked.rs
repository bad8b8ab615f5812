//! Long polls parked in a partition actor until data arrives or their wait ends. Appends wake them; nothing polls.

use tokio::sync::oneshot;

use super::messages::{Fetch, Fetched};
use crate::error::Result;

/// A parked poll.
pub(crate) struct ParkedPoll {
    pub(crate) id: u64,
    pub(crate) request: Fetch,
    pub(crate) reply: oneshot::Sender<Result<Fetched>>,
}

/// The parked polls of one partition, bounded.
#[derive(Default)]
pub(crate) struct Parked {
    next_id: u64,
    polls: Vec<ParkedPoll>,
}

impl Parked {
    pub(crate) fn len(&self) -> usize {
        self.polls.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.polls.is_empty()
    }

    /// Parks a poll and returns its id (for its timeout).
    pub(crate) fn park(&mut self, request: Fetch, reply: oneshot::Sender<Result<Fetched>>) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.polls.push(ParkedPoll { id, request, reply });
        id
    }

    /// Removes the poll `id` if it is still parked.
    pub(crate) fn take(&mut self, id: u64) -> Option<ParkedPoll> {
        let i = self.polls.iter().position(|p| p.id == id)?;
        Some(self.polls.swap_remove(i))
    }

    /// Removes every parked poll.
    pub(crate) fn drain(&mut self) -> Vec<ParkedPoll> {
        std::mem::take(&mut self.polls)
    }
}

impl Parked {
    /// Puts back a poll taken by [`Parked::drain`] that still has nothing to read.
    pub(crate) fn park_again(&mut self, poll: ParkedPoll) {
        self.polls.push(poll);
    }
}
