//! [`StorageError`]: every way a log operation can fail, each mapped to one wire [`ErrorCode`].

use std::io;
use std::path::PathBuf;

use callboard_protocol::ErrorCode;
use callboard_protocol::batch::BatchError;

/// Errors returned by [`crate::PartitionLog`].
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The requested offset was removed by retention or `delete_records_before`.
    #[error("offset {requested} is below the log start offset {log_start}")]
    BelowLogStart {
        /// Offset asked for.
        requested: u64,
        /// First offset still held.
        log_start: u64,
    },
    /// The requested offset has not been written yet.
    #[error("offset {requested} is past the log end offset {log_end}")]
    BeyondLogEnd {
        /// Offset asked for.
        requested: u64,
        /// Offset the next append will get.
        log_end: u64,
    },
    /// A batch handed to `append` is invalid.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// A batch is larger than the log's `max_batch_bytes`.
    #[error("record batch of {size} bytes exceeds the limit of {max} bytes")]
    BatchTooLarge {
        /// Size of the batch.
        size: usize,
        /// Configured limit.
        max: u32,
    },
    /// Stored data failed validation (CRC or framing); the range is not served.
    #[error("corrupt data in segment {segment} at byte {position} (offsets from {first_offset}): {reason}")]
    Corrupt {
        /// Base offset of the segment.
        segment: u64,
        /// Byte position inside the segment file.
        position: u64,
        /// First offset the corrupt range would hold.
        first_offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A sealed (encrypted) batch did not decrypt: altered on disk, moved, or sealed under another key. It is not
    /// served.
    #[error("corrupt data at offset {first_offset}: {reason}")]
    Unauthentic {
        /// First offset of the batch.
        first_offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The disk is full. The failed append was rolled back; the log is consistent and still readable.
    #[error("disk full while writing {path}; the write was rolled back")]
    DiskFull {
        /// File being written.
        path: PathBuf,
    },
    /// Another process (or another log in this process) holds the partition directory.
    #[error("partition directory {path} is locked by another owner")]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// An earlier fsync or rollback failed, so what is on disk is uncertain; the log refuses further writes.
    /// Reopening the log runs recovery.
    #[error("the log at {path} stopped after an I/O failure ({cause}); reopen it to recover")]
    Failed {
        /// The partition directory.
        path: PathBuf,
        /// The original failure.
        cause: String,
    },
    /// Any other I/O error.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A configuration value is out of range.
    #[error("invalid log configuration: {0}")]
    Config(String),
    /// `truncate_to` below the log start offset.
    #[error("cannot truncate to {requested}: below the log start offset {log_start}")]
    TruncateBelowStart {
        /// Offset asked for.
        requested: u64,
        /// Log start offset.
        log_start: u64,
    },
}

impl StorageError {
    /// Wraps an I/O error, turning ENOSPC into [`StorageError::DiskFull`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::StorageFull {
            StorageError::DiskFull { path }
        } else {
            StorageError::Io { path, source }
        }
    }

    /// The wire error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            StorageError::BelowLogStart { .. } | StorageError::BeyondLogEnd { .. } => ErrorCode::OffsetOutOfRange,
            StorageError::InvalidBatch(e) => e.code(),
            StorageError::BatchTooLarge { .. } => ErrorCode::MessageTooLarge,
            StorageError::Corrupt { .. } | StorageError::Unauthentic { .. } => ErrorCode::CorruptMessage,
            StorageError::DiskFull { .. } => ErrorCode::StorageFull,
            StorageError::Locked { .. } => ErrorCode::Locked,
            StorageError::Failed { .. } | StorageError::Io { .. } => ErrorCode::StorageError,
            StorageError::Config(_) => ErrorCode::InvalidConfig,
            StorageError::TruncateBelowStart { .. } => ErrorCode::OffsetOutOfRange,
        }
    }
}

/// Shorthand for results of log operations.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
