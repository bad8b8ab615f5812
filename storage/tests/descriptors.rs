//! Descriptors a partition log holds on the real file system: the directory lock, the active segment's three
//! files, and at most `MAX_COLD_FILES` sealed segment files, however many segments the log has. (Alone in its test
//! binary: it counts this process's descriptors in /proc/self/fd.)

use callboard_protocol::batch::{BatchBuilder, RecordData};
use callboard_storage::{Durability, LogConfig, MAX_COLD_FILES, PartitionLog};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_log_with_many_segments_holds_a_fixed_number_of_descriptors() {
    if !std::path::Path::new("/proc/self/fd").is_dir() {
        eprintln!("skipped: no /proc/self/fd");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { segment_bytes: 4096, durability: Durability::Never, ..LogConfig::default() };
    let value = vec![b'v'; 1000];
    {
        let mut log = PartitionLog::open(dir.path(), config.clone()).expect("open");
        for i in 0..200 {
            let mut b = BatchBuilder::new();
            b.push(&RecordData { timestamp: i, value: Some(&value), ..Default::default() });
            log.append(&mut b.finish()).expect("append");
        }
        assert!(log.segments().len() > 50, "{} segments", log.segments().len());
        log.close().expect("close");
    }
    let before = open_fds();
    let log = PartitionLog::open(dir.path(), config).expect("reopen");
    let held = open_fds() - before;
    assert!(held <= 4, "an idle log with {} segments holds {held} descriptors", log.segments().len());
    // Read everything: sealed files open and close as the reader moves on.
    let mut at = 0;
    while at < log.next_offset() {
        at = log.read(at, 64 << 10).expect("read").next_offset;
        let held = open_fds() - before;
        assert!(held <= 4 + MAX_COLD_FILES, "reading at {at}: {held} descriptors");
    }
    assert_eq!(at, 200);
}
