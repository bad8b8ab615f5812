//! # callboard-storage
//!
//! Callboard's partition log: an append-only sequence of record batches (the format of `callboard-protocol`)
//! stored in segments on disk, with sparse offset and time indexes, group commit, retention and crash recovery.
//! It knows nothing about actors or networks and never starts a runtime.
//!
//! ## Directory layout (one partition)
//!
//! | file | content |
//! |------|---------|
//! | `<base_offset:020>.log` | record batches, back to back, exactly as producers built them (offsets assigned) |
//! | `<base_offset:020>.index` | sparse offset → file position, 8-byte entries, one every `index_interval_bytes` |
//! | `<base_offset:020>.timeindex` | sparse max-timestamp-so-far → offset, 12-byte entries |
//! | `log-start-offset` | the log start set by `delete_records_before` (`v1 <offset> <crc32c>`) |
//! | `.lock` | flock-ed while a [`PartitionLog`] has the directory open |
//! | `.clean-shutdown` | present only between a clean close and the next open |
//!
//! ## Crash safety
//!
//! * A segment is sealed by fsyncing it and its indexes before the next one is created, and the directory is
//!   fsynced after every creation or deletion, so only the active segment can have a torn tail.
//! * On open after an unclean shutdown, the active segment is re-validated batch by batch (CRC and framing) and a
//!   torn or corrupt tail is cut off and logged; sealed segments keep their indexes after a tail check, and a
//!   missing or invalid index is rebuilt from the log.
//! * Reads check the CRC of every batch they return: corrupt data is an error, never served.
//! * Under [`Durability::Always`] an append is acknowledged only after an fsync that covers it; many appends share
//!   one fsync (group commit, see [`Committer`]).

mod checkpoint;
mod commit;
mod config;
mod env;
mod error;
mod index;
mod log;
mod os_env;
mod segment;
mod segment_file;
mod sim_env;
mod walker;

pub use commit::{Committer, FSYNC_SECONDS};
pub use config::{Durability, LogConfig, millis_i64};
pub use env::{DirLock, Env, LogFile};
pub use error::{Result, StorageError};
pub use log::{APPEND_SECONDS, Appended, PartitionLog, RESERVED_FILES, ReadBatches, RetentionReport, SegmentInfo};
pub use os_env::{OsEnv, create_dir_all_synced, replace_file};
pub use segment::RecoveryReport;
pub use segment_file::MAX_COLD_FILES;
pub use sim_env::{CrashMode, SimEnv};
