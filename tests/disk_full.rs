//! A real full disk: `callboard serve` on a small tmpfs. Producers get a clear read-only / storage-full error, the
//! broker stays up and serves every acknowledged message, and writes resume once space is freed. Needs root (to
//! mount the tmpfs), as CI and this project's machines have; elsewhere the test says so and passes without running.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use callboard_client::{Client, ClientError, ErrorCode, Message, Partitioning, PollingStrategy, TopicConfig};

#[path = "common/serve.rs"]
mod serve;
use serve::Serve;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                eprintln!("skipping: cannot mount a tmpfs: {}", String::from_utf8_lossy(&o.stderr));
                None
            }
            Err(e) => {
                eprintln!("skipping: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_clearly_keeps_serving_and_recovers() {
    if !is_root() {
        eprintln!("skipping: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(_tmpfs) = Tmpfs::mount(dir.path(), "24m") else { return };
    // A filler file takes most of the space, so the log fills the rest quickly; deleting it frees space later.
    let filler = dir.path().join("filler");
    std::fs::write(&filler, vec![7u8; 16 << 20]).unwrap();
    let data = dir.path().join("data");
    let server = Serve::start(&data, &["tcp"]);
    let client = Client::connect(server.tcp_config()).await.unwrap();
    client.create_topic("default", "full", TopicConfig::default()).await.unwrap();

    let payload = vec![b'x'; 64 << 10];
    let mut acknowledged = 0u64;
    let full = loop {
        let messages: Vec<Message> = (0..4).map(|_| Message::new(payload.clone())).collect();
        match client.send("default", "full", Partitioning::Partition(0), &messages).await {
            Ok(_) => acknowledged += 4,
            Err(e) => break e,
        }
        assert!(acknowledged < 10_000, "the disk never filled up");
    };
    let code = full.code();
    assert!(
        matches!(code, Some(ErrorCode::PartitionReadOnly | ErrorCode::StorageFull)),
        "a full disk is reported as such: {full}"
    );
    assert!(full.to_string().contains("disk full"), "{full}");
    assert!(acknowledged > 0);

    // Still up, and everything acknowledged is readable.
    let mut read = 0u64;
    let mut at = PollingStrategy::First;
    loop {
        let polled = client.poll("default", "full", 0, at, 1000, Duration::ZERO, None).await.unwrap();
        read += polled.messages.len() as u64;
        if polled.next_offset >= polled.log_end {
            break;
        }
        at = PollingStrategy::Offset(polled.next_offset);
    }
    assert_eq!(read, acknowledged, "every acknowledged message is there, nothing of the failed appends");

    // Space returns: writes resume (the partition retries after its read-only pause).
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.send("default", "full", Partitioning::Partition(0), &[Message::new("after")]).await {
            Ok(_) => break,
            Err(ClientError::Server { code: ErrorCode::PartitionReadOnly, .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("writes did not resume: {e}"),
        }
    }
    drop(client);
    server.stop();
}
