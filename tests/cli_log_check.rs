//! End-to-end test of `callboard log check`: a healthy log is reported with its offsets and exit code 0; a corrupt
//! sealed segment is reported as such with exit code 2; a missing directory is a clear error with exit code 1.

use std::process::Command;

use callboard::protocol::batch::{BatchBuilder, RecordData};
use callboard::storage::{Durability, LogConfig, PartitionLog};

fn write_log(dir: &std::path::Path) {
    let config = LogConfig { segment_bytes: 4096, durability: Durability::Never, ..LogConfig::default() };
    let mut log = PartitionLog::open(dir, config).expect("open");
    for i in 0..50 {
        let mut b = BatchBuilder::new();
        b.push(&RecordData { timestamp: i, value: Some(&[b'v'; 200]), ..Default::default() });
        b.push(&RecordData { timestamp: i, value: Some(&[b'w'; 200]), ..Default::default() });
        log.append(&mut b.finish()).expect("append");
    }
    log.close().expect("close");
}

fn check(dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callboard")).args(["log", "check"]).arg(dir).output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn healthy_log_is_summarised() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path());
    let (code, stdout, stderr) = check(dir.path());
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("log start offset 0  next offset 100"), "{stdout}");
    assert!(stdout.contains("50 batches, 100 records valid; 0 corrupt ranges"), "{stdout}");
}

#[test]
fn corrupt_sealed_segment_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path());
    let first = dir.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(&first).expect("read segment");
    bytes[1000] ^= 0xff;
    std::fs::write(&first, bytes).expect("write segment");
    let (code, stdout, _) = check(dir.path());
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.contains("CORRUPT segment 00000000000000000000"), "{stdout}");
    assert!(stdout.contains("1 corrupt ranges"), "{stdout}");
}

#[test]
fn missing_directory_is_a_clear_error() {
    let (code, _, stderr) = check(std::path::Path::new("/nonexistent/callboard"));
    assert_eq!(code, 1);
    assert!(stderr.contains("is not a directory"), "{stderr}");
}
