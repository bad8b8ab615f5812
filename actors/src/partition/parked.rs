//! Long polls parked in a partition actor until data arrives or their wait ends. Appends wake them; nothing polls.

use actix::SpawnHandle;
use tokio::sync::oneshot;

use super::messages::{Fetch, Fetched};
use crate::error::Result;

/// A parked poll.
pub(crate) struct ParkedPoll {
    pub(crate) id: u64,
    pub(crate) request: Fetch,
    pub(crate) reply: oneshot::Sender<Result<Fetched>>,
    /// Its timeout, cancelled when the poll is answered early (an actix context polls every pending timer on each
    /// wake-up, so leftover timers slow down every message the partition handles).
    pub(crate) timer: Option<SpawnHandle>,
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
        self.polls.push(ParkedPoll { id, request, reply, timer: None });
        id
    }

    /// Records the timeout of the poll `id`.
    pub(crate) fn set_timer(&mut self, id: u64, timer: SpawnHandle) {
        if let Some(poll) = self.polls.iter_mut().find(|p| p.id == id) {
            poll.timer = Some(timer);
        }
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
