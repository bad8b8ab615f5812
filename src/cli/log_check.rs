//! `callboard log check DIR`: opens a partition directory (running crash recovery if the last shutdown was unclean),
//! validates every stored batch and reports what it holds (an encrypted batch up to its CRC: its records need the
//! topic's key). Exit code 2 when a corrupt range is found.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use callboard::protocol::batch::{BatchHeader, MAX_DECOMPRESSED_BYTES, validate};
use callboard::storage::{LogConfig, PartitionLog, StorageError};

/// Runs the check.
pub fn check(dir: PathBuf) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    let log = PartitionLog::open(&dir, LogConfig::default())
        .with_context(|| format!("opening the log in {}", dir.display()))?;
    if let Some(report) = log.recovery_report() {
        println!(
            "recovered after an unclean shutdown: {} batches checked, {} bytes cut{}",
            report.batches,
            report.truncated_bytes,
            report.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        );
    }
    let segments = log.segments();
    println!(
        "log start offset {}  next offset {}  {} bytes in {} segments",
        log.log_start_offset(),
        log.next_offset(),
        log.size_bytes(),
        segments.len()
    );
    for s in &segments {
        println!(
            "  segment {:020}  offsets {}..{}  {} bytes",
            s.base_offset, s.base_offset, s.next_offset, s.size_bytes
        );
    }
    let (mut batches, mut records, mut errors, mut sealed) = (0u64, 0u64, 0u64, 0u64);
    let mut at = log.log_start_offset();
    while at < log.next_offset() {
        match log.read(at, 8 << 20) {
            Ok(read) => {
                let mut buf = &read.bytes[..];
                while !buf.is_empty() {
                    let header = BatchHeader::parse(buf)?;
                    let batch = validate(&buf[..header.total_len()])?;
                    if header.attributes.sealed() {
                        // Encrypted at rest: the header and CRC are checked; the records need the topic's key.
                        sealed += 1;
                    } else {
                        // A compressed batch's records are checked by decompressing them.
                        batch.decompress(MAX_DECOMPRESSED_BYTES)?;
                    }
                    batches += 1;
                    records += u64::from(batch.header().record_count);
                    buf = &buf[header.total_len()..];
                }
                at = read.next_offset;
            }
            Err(StorageError::Corrupt { segment, position, first_offset, reason }) => {
                errors += 1;
                println!("  CORRUPT segment {segment:020} byte {position} (offset {first_offset}): {reason}");
                // Skip to the next segment: the rest of this one cannot be trusted.
                match segments.iter().find(|s| s.base_offset > segment) {
                    Some(next) => at = next.base_offset,
                    None => break,
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    println!("{batches} batches, {records} records valid; {errors} corrupt ranges");
    if sealed > 0 {
        println!(
            "{sealed} batches are encrypted: their headers and CRCs are valid, their records cannot be checked \
             without the topic's key"
        );
    }
    log.close()?;
    Ok(if errors == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
