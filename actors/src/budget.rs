//! The broker-wide partition budget: every open partition holds file descriptors (its directory lock, the active
//! segment's log, offset-index and time-index files, its consumer-offsets log, and the file of the sealed segment
//! read last — the others are closed, see `callboard_storage::MAX_COLD_FILES`), so the number
//! of partitions is bounded by the process's descriptor limit. At start the soft `RLIMIT_NOFILE` is raised to the
//! hard one; the budget is what is left after a reserve for connections and other files, divided by the
//! descriptors one partition needs. Creating a topic or adding partitions past it is refused with
//! `resource_limit` instead of leaving partitions that fail to open.

use rustix::process::{Resource, getrlimit, setrlimit};
use tracing::{info, warn};

/// Descriptors one partition holds at most: the directory lock, the active segment's three files, the consumer
/// offsets log and `MAX_COLD_FILES` sealed segment files.
pub const FDS_PER_PARTITION: u64 = 5 + callboard_storage::MAX_COLD_FILES as u64;
/// Descriptors kept out of the partition budget, for connections, metadata and everything else.
pub const RESERVED_FDS: u64 = 2048;

/// Raises the soft descriptor limit to the hard one; returns the soft limit now in force (`None`: unlimited or
/// unknown).
pub fn raise_nofile_limit() -> Option<u64> {
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let before = limit.current;
        limit.current = limit.maximum;
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => info!(before = ?before, now = ?limit.maximum, "raised the open-file limit to its hard limit"),
            Err(e) => {
                warn!(error = %e, "could not raise the open-file limit");
                limit = getrlimit(Resource::Nofile);
            }
        }
    }
    limit.current
}

/// The partitions a broker may hold with a descriptor limit of `nofile` (`None`: unlimited).
pub fn partition_budget(nofile: Option<u64>) -> usize {
    match nofile {
        Some(n) => (n.saturating_sub(RESERVED_FDS) / FDS_PER_PARTITION).max(1) as usize,
        None => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_leaves_a_reserve() {
        assert_eq!(partition_budget(Some(20_000)), (20_000 - 2048) / 6);
        assert_eq!(partition_budget(Some(100)), 1);
        assert_eq!(partition_budget(None), usize::MAX);
        let now = raise_nofile_limit();
        assert_eq!(now, getrlimit(Resource::Nofile).current);
    }
}
