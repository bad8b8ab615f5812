//! Encryption at rest through a real `callboard serve`: a topic created with `encryption: aes-256-gcm` (SDK and
//! REST) stores no produced plaintext on disk (the segment files are grepped), reads back through the SDK, and
//! after a restart with the right master key; with a wrong or no key its partitions are offline with the reason
//! while other topics work and nothing is lost; `callboard key rotate` re-wraps the data keys (refused while the
//! broker runs) and the data reads back under the new key only; a byte changed in a sealed batch (CRC fixed up) is
//! refused with `corrupt_message`, never served; `callboard log check` validates sealed batches up to their CRC.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use callboard::protocol::batch::{BatchHeader, HEADER_LEN, crc_of};
use callboard_client::{Client, ClientConfig, ErrorCode, Health, Message, Partitioning, PollingStrategy, TopicConfig};

#[path = "common/serve.rs"]
mod serve;
use serve::{ADMIN_PASSWORD, BIN, Serve};

const STREAM: &str = "default";
const SECRET: &str = "secret";
const PLAIN: &str = "plain";
const N: usize = 300;

fn secret_payload(i: usize) -> String {
    format!("TOP-SECRET-PAYLOAD-{i:05}")
}

fn encrypted() -> TopicConfig {
    TopicConfig { encryption: callboard_client::Encryption::Aes256Gcm, ..TopicConfig::default() }
}

async fn connect(server: &Serve) -> anyhow::Result<Client> {
    Ok(Client::connect(ClientConfig::tcp(server.addr("tcp")).with_password("admin", ADMIN_PASSWORD)).await?)
}

fn start(dir: &Path, key: Option<&Path>) -> Serve {
    match key {
        Some(key) => Serve::start_with(dir, &["tcp", "http"], &["--master-key-file", key.to_str().expect("utf-8")]),
        None => Serve::start(dir, &["tcp", "http"]),
    }
}

fn generate_key(path: &Path) {
    let out = Command::new(BIN).args(["key", "generate"]).arg(path).output().expect("key generate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("fingerprint"));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).expect("key file").permissions());
    assert_eq!(mode & 0o777, 0o600, "a key file is readable by its owner only");
    let again = Command::new(BIN).args(["key", "generate"]).arg(path).output().expect("key generate");
    assert!(!again.status.success(), "an existing key file is never overwritten");
}

async fn send(client: &Client, topic: &str, payloads: &[String]) -> anyhow::Result<()> {
    for chunk in payloads.chunks(50) {
        // Headers are inside the sealed record region too.
        let messages: Vec<Message> =
            chunk.iter().map(|p| Message::new(p.clone()).with_header("h", format!("header-of-{p}"))).collect();
        client.send(STREAM, topic, Partitioning::Partition(0), &messages).await?;
    }
    Ok(())
}

/// Every payload of partition 0, polled from the first offset.
async fn read_all(client: &Client, topic: &str) -> Result<Vec<String>, callboard_client::ClientError> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let polled = client.poll(STREAM, topic, 0, PollingStrategy::Offset(at), 100, Duration::ZERO, None).await?;
        if polled.messages.is_empty() {
            return Ok(out);
        }
        for m in &polled.messages {
            out.push(String::from_utf8(m.payload.to_vec()).expect("utf-8"));
        }
        at = polled.next_offset;
    }
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn partition_dir(data: &Path, topic_id: u32) -> PathBuf {
    data.join("streams").join("1").join(topic_id.to_string()).join("0")
}

async fn health(client: &Client, topic: &str) -> anyhow::Result<Health> {
    Ok(client.topic(STREAM, topic).await?.partitions[0].health.clone())
}

fn rotate(data: &Path, old: &Path, new: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(["key", "rotate", "--data-dir"])
        .arg(data)
        .arg("--master-key-file")
        .arg(old)
        .arg("--new-master-key-file")
        .arg(new)
        .env_remove("CALLBOARD_MASTER_KEY")
        .output()
        .expect("key rotate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_topics_at_rest_restart_wrong_key_rotation_and_tampering() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let (key_a, key_b) = (tmp.path().join("a.key"), tmp.path().join("b.key"));
    generate_key(&key_a);
    generate_key(&key_b);
    let secrets: Vec<String> = (0..N).map(secret_payload).collect();
    let plains: Vec<String> = (0..N).map(|i| format!("PLAIN-PAYLOAD-{i:05}")).collect();

    // The CLI's `topic create --encryption` takes exactly the two names (checked before connecting).
    let out = Command::new(BIN).args(["topic", "create", "t", "--encryption", "rot13"]).output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected none or aes-256-gcm"), "{out:?}");

    // Without a master key, an encrypted topic cannot be created (a clear error); plain topics can.
    let server = start(&data, None);
    let client = connect(&server).await?;
    let err = client.create_topic(STREAM, SECRET, encrypted()).await.expect_err("no master key");
    assert_eq!(err.code(), Some(ErrorCode::InvalidConfig), "{err}");
    assert!(err.to_string().contains("master key"), "{err}");
    let plain = client.create_topic(STREAM, PLAIN, TopicConfig::default()).await?;
    drop(client);
    server.stop();

    // With key A: create (SDK and REST), produce, read back, and nothing readable on disk.
    let server = start(&data, Some(&key_a));
    let client = connect(&server).await?;
    let secret = client.create_topic(STREAM, SECRET, encrypted()).await?;
    assert_eq!(secret.config.encryption, callboard_client::Encryption::Aes256Gcm);
    let http = server.addr("http").to_string();
    let url = format!("http://{http}/api/v1/streams/{STREAM}/topics");
    let basic = format!("Basic {}", base64_admin());
    let made: serde_json::Value = ureq::post(&url)
        .header("Authorization", &basic)
        .send_json(serde_json::json!({ "name": "rest-secret", "encryption": "aes-256-gcm" }))?
        .body_mut()
        .read_json()?;
    assert_eq!(made["topic"]["config"]["encryption"], "aes-256-gcm", "{made}");
    let bad = ureq::post(&url)
        .header("Authorization", &basic)
        .send_json(serde_json::json!({ "name": "bad", "encryption": "rot13" }));
    assert!(matches!(bad, Err(ureq::Error::StatusCode(400))), "{bad:?}");

    // The CLI creates one too, and `topic describe` names its encryption.
    let tcp = server.addr("tcp").to_string();
    let cli = |args: &[&str]| {
        let out = server.cli().args(args).args(["--server", &tcp]).output().expect("cli");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cli(&["topic", "create", "cli-secret", "--encryption", "aes-256-gcm"]);
    assert!(cli(&["topic", "describe", "cli-secret"]).contains("encryption aes-256-gcm"));

    send(&client, SECRET, &secrets).await?;
    send(&client, PLAIN, &plains).await?;
    assert_eq!(read_all(&client, SECRET).await?, secrets);
    assert_eq!(read_all(&client, PLAIN).await?, plains);
    // Lookups by timestamp work on sealed batches (their headers are plaintext).
    let polled = client.poll(STREAM, SECRET, 0, PollingStrategy::Timestamp(0), 1, Duration::ZERO, None).await?;
    assert_eq!(polled.messages[0].offset, 0);
    let running = rotate(&data, &key_a, &key_b);
    assert!(!running.status.success(), "rotation must refuse a running broker");
    assert!(
        String::from_utf8_lossy(&running.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&running.stderr)
    );
    drop(client);
    server.stop();

    let secret_dir = partition_dir(&data, secret.id);
    let plain_dir = partition_dir(&data, plain.id);
    let on_disk = |dir: &Path| -> Vec<u8> { files(dir).iter().flat_map(|f| std::fs::read(f).expect("read")).collect() };
    let stored = on_disk(&secret_dir);
    assert!(stored.len() > N * 20, "the encrypted partition holds its data ({} bytes)", stored.len());
    assert!(!contains(&stored, b"TOP-SECRET"), "plaintext found in an encrypted topic's files");
    assert!(!contains(&stored, b"header-of-"), "a header found in an encrypted topic's files");
    assert!(contains(&on_disk(&plain_dir), b"PLAIN-PAYLOAD-00042"), "the grep finds plaintext where it is");
    let everything: Vec<u8> = files(&data).iter().flat_map(|f| std::fs::read(f).expect("read")).collect();
    assert!(!contains(&everything, b"TOP-SECRET"), "plaintext found somewhere in the data directory");
    let key_text = std::fs::read_to_string(&key_a)?;
    assert!(!contains(&everything, key_text.trim().as_bytes()), "the master key is stored in the data directory");

    // `log check` validates the sealed batches up to their CRC and says why it cannot check their records.
    let check = Command::new(BIN).args(["log", "check"]).arg(&secret_dir).output()?;
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}{}", String::from_utf8_lossy(&check.stderr));
    assert!(report.contains("0 corrupt ranges") && report.contains("encrypted"), "{report}");

    // Restart with the right key: everything reads back.
    let server = start(&data, Some(&key_a));
    let client = connect(&server).await?;
    assert_eq!(read_all(&client, SECRET).await?, secrets);
    drop(client);
    server.stop();

    // A wrong key, then none: the encrypted topic is offline with the reason; the plain one works.
    for (key, reason) in [(Some(&key_b), "wrapped by master key"), (None, "no master key")] {
        let server = start(&data, key.map(PathBuf::as_path));
        let client = connect(&server).await?;
        match health(&client, SECRET).await? {
            Health::Offline(why) => assert!(why.contains(reason), "{why}"),
            other => panic!("encrypted topic with the wrong key is {other:?}"),
        }
        let err = read_all(&client, SECRET).await.expect_err("offline");
        assert!(err.to_string().contains(reason), "{err}");
        assert!(client.send(STREAM, SECRET, Partitioning::Partition(0), &[Message::new("x")]).await.is_err());
        assert_eq!(health(&client, PLAIN).await?, Health::Online);
        assert_eq!(read_all(&client, PLAIN).await?, plains);
        drop(client);
        server.stop();
    }

    // Rotation A -> B (broker stopped): the data reads back under B, and no longer under A.
    let out = rotate(&data, &key_a, &key_b);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    for topic in ["default/secret", "default/rest-secret", "default/cli-secret"] {
        assert!(said.contains(topic), "{said}");
    }
    let again = rotate(&data, &key_a, &key_b);
    assert!(again.status.success(), "a repeated rotation is harmless: {}", String::from_utf8_lossy(&again.stderr));
    // With a wrong current key nothing changes (all or nothing).
    let key_c = tmp.path().join("c.key");
    generate_key(&key_c);
    let wrong = rotate(&data, &key_c, &key_a);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrapped by master key"), "{wrong:?}");
    let server = start(&data, Some(&key_b));
    let client = connect(&server).await?;
    assert_eq!(read_all(&client, SECRET).await?, secrets);
    send(&client, SECRET, &secrets[..10]).await?;
    drop(client);
    server.stop();
    let server = start(&data, Some(&key_a));
    let client = connect(&server).await?;
    assert!(matches!(health(&client, SECRET).await?, Health::Offline(_)));
    drop(client);
    server.stop();

    // One byte changed inside a sealed batch, its CRC fixed up: refused as corrupt, never served; others work.
    let segment = secret_dir.join("00000000000000000000.log");
    let mut bytes = std::fs::read(&segment)?;
    let header = BatchHeader::parse(&bytes)?;
    assert!(header.attributes.sealed(), "stored batches are marked sealed");
    bytes[HEADER_LEN + 30] ^= 0x20;
    let crc = crc_of(&bytes[..header.total_len()]);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&segment, &bytes)?;
    let server = start(&data, Some(&key_b));
    let client = connect(&server).await?;
    let err = read_all(&client, SECRET).await.expect_err("a tampered batch is not served");
    assert_eq!(err.code(), Some(ErrorCode::CorruptMessage), "{err}");
    assert!(err.to_string().contains("authentication"), "{err}");
    // The batches after it are intact and still served.
    let later = header.next_offset();
    let polled = client.poll(STREAM, SECRET, 0, PollingStrategy::Offset(later), 10, Duration::ZERO, None).await?;
    assert_eq!(String::from_utf8(polled.messages[0].payload.to_vec())?, secrets[later as usize]);
    assert_eq!(read_all(&client, PLAIN).await?, plains);
    drop(client);
    server.stop();
    Ok(())
}

fn base64_admin() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"))
}
