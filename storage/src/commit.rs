//! [`Committer`]: group commit. Appends only write; whoever needs durability calls [`Committer::sync_to`], and one
//! fsync covers every append written before it started, however many callers are waiting.
//!
//! The first waiter to find no fsync in flight becomes the leader: it snapshots how far the log is written, syncs
//! without holding the lock (appends continue meanwhile), publishes the new durable offset and wakes the others. A
//! waiter whose data was written after the snapshot waits for the next round, which it may lead.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use tracing::error;

use crate::env::LogFile;
use crate::error::{Result, StorageError};

/// Histogram of fsync latency, in seconds.
pub const FSYNC_SECONDS: &str = "callboard_storage_fsync_seconds";

#[derive(Debug)]
struct State {
    file: Arc<dyn LogFile>,
    written: u64,
    durable: u64,
    syncing: bool,
    epoch: u64,
    failed: Option<String>,
    last_sync_ms: i64,
}

/// Shared durability state of one log. Cloned out of the log (`PartitionLog::committer`) so that waiting for an
/// fsync never holds the log itself.
#[derive(Debug)]
pub struct Committer {
    dir: PathBuf,
    state: Mutex<State>,
    synced: Condvar,
}

impl Committer {
    pub(crate) fn new(dir: PathBuf, file: Arc<dyn LogFile>, end: u64, now_ms: i64) -> Self {
        let state =
            State { file, written: end, durable: end, syncing: false, epoch: 0, failed: None, last_sync_ms: now_ms };
        Committer { dir, state: Mutex::new(state), synced: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Offset below which every record is durable.
    pub fn durable_offset(&self) -> u64 {
        self.lock().durable
    }

    /// Offset below which every record is written (visible to reads).
    pub fn written_offset(&self) -> u64 {
        self.lock().written
    }

    /// Whether an fsync failed; a failed log accepts no more writes until it is reopened.
    pub fn failure(&self) -> Option<String> {
        self.lock().failed.clone()
    }

    /// Blocks until every record below `offset` is durable (offsets past what is written count as written).
    /// Concurrent callers share fsyncs.
    pub fn sync_to(&self, offset: u64) -> Result<()> {
        let mut st = self.lock();
        loop {
            if let Some(cause) = &st.failed {
                return Err(StorageError::Failed { path: self.dir.clone(), cause: cause.clone() });
            }
            if st.durable >= offset.min(st.written) {
                return Ok(());
            }
            if st.syncing {
                st = self.synced.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.syncing = true;
            let (file, target, epoch) = (Arc::clone(&st.file), st.written, st.epoch);
            drop(st);
            let started = Instant::now();
            let result = file.sync_data();
            metrics::histogram!(FSYNC_SECONDS).record(started.elapsed().as_secs_f64());
            st = self.lock();
            st.syncing = false;
            match result {
                Ok(()) if st.epoch == epoch => st.durable = st.durable.max(target),
                Ok(()) => {}
                Err(e) => {
                    error!(dir = %self.dir.display(), error = %e, "fsync failed; the log stops accepting writes");
                    st.failed = Some(format!("fsync failed: {e}"));
                }
            }
            self.synced.notify_all();
        }
    }

    /// Syncs everything written if the last sync is at least `interval_ms` old.
    pub(crate) fn sync_if_older(&self, interval_ms: i64, now_ms: i64) -> Result<()> {
        let written = {
            let st = self.lock();
            if st.durable >= st.written || now_ms - st.last_sync_ms < interval_ms {
                return Ok(());
            }
            st.written
        };
        self.sync_to(written)?;
        self.lock().last_sync_ms = now_ms;
        Ok(())
    }

    /// Records that the log is written up to `written`.
    pub(crate) fn advance(&self, written: u64) {
        self.lock().written = written;
    }

    /// Switches to a new active file after a roll or truncation. Everything below `durable` is already synced.
    pub(crate) fn reset(&self, file: Arc<dyn LogFile>, written: u64, durable: u64) {
        let mut st = self.lock();
        st.file = file;
        st.written = written;
        st.durable = durable;
        st.epoch += 1;
        self.synced.notify_all();
    }

    /// Marks the log failed (an unrecoverable write error).
    pub(crate) fn fail(&self, cause: String) {
        let mut st = self.lock();
        st.failed.get_or_insert(cause);
        self.synced.notify_all();
    }
}
