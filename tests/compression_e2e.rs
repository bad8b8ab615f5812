//! Compressed record batches through a real `callboard serve`: the SDK producer compresses with each codec, the
//! broker stores the batches as sent (a raw fetch over TCP or QUIC returns them still compressed, and they take
//! fewer bytes on disk), and the SDK consumer, polls over TCP and QUIC and the HTTP API read the records back; the CLI's `send --compression zstd`
//! round-trips through `consume`; a decompression bomb and corrupt compressed records are refused with their error
//! codes and store nothing; message-id deduplication works on compressed batches, also after a restart.

use std::path::Path;
use std::process::{Command, Stdio};

use bytes::Bytes;
use callboard::protocol::batch::{BatchBuilder, BatchHeader, Compression, RecordData, crc_of};
use callboard::protocol::model::encode_batch_compressed;
use callboard_client::{
    Client, ConsumerConfig, ErrorCode, Fetch, Message, PollingStrategy, ProduceTarget, Producer, ProducerConfig,
    TopicConfig,
};

#[path = "common/serve.rs"]
mod serve;
use serve::{BIN, Serve};

const STREAM: &str = "c";
const CODECS: [Compression; 4] = [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

fn payload(i: u64) -> String {
    format!("{{\"order\":{i},\"customer\":\"customer-{}\",\"status\":\"shipped\",\"amount\":{}}}", i % 17, i * 7 % 1000)
}

fn topic(max_message_bytes: u32) -> TopicConfig {
    TopicConfig { durability: callboard_client::DurabilityPolicy::Never, max_message_bytes, ..TopicConfig::default() }
}

/// The stored batches of partition 0 from offset 0, as a raw fetch returns them.
async fn raw(client: &Client, topic: &str) -> anyhow::Result<Bytes> {
    let fetch = Fetch {
        stream: STREAM.into(),
        topic: topic.into(),
        partition: 0,
        strategy: PollingStrategy::Offset(0),
        max_count: u32::MAX,
        max_bytes: 16 << 20,
        max_wait_ms: 0,
        consumer: None,
    };
    Ok(client.fetch(fetch).await?.1)
}

/// The codec of every batch in `bytes`.
fn codecs(mut bytes: &[u8]) -> Vec<Compression> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let header = BatchHeader::parse(bytes).expect("stored batch header");
        out.push(header.attributes.compression().expect("known codec"));
        bytes = &bytes[header.total_len()..];
    }
    out
}

async fn size_on_disk(client: &Client, topic: &str) -> anyhow::Result<u64> {
    Ok(client.topic(STREAM, topic).await?.partitions[0].size_bytes)
}

fn http_payloads(http: &str, topic: &str) -> Vec<String> {
    let url =
        format!("http://{http}/api/v1/streams/{STREAM}/topics/{topic}/partitions/0/messages?from=first&count=1000");
    let body: serde_json::Value = ureq::get(&url).call().expect("HTTP poll").body_mut().read_json().expect("JSON");
    body["messages"].as_array().expect("messages").iter().map(|m| m["payload"].as_str().expect("text").into()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_is_stored_as_sent_and_read_back_by_sdk_poll_and_http() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Serve::start(dir.path(), &["tcp", "quic", "http"]);
    let client = Client::connect(server.tcp_config()).await?;
    let ca = dir.path().join("tls").join("quic-cert.pem");
    let quic = Client::connect(
        callboard_client::ClientConfig::quic(server.addr("quic"), ca).with_password("admin", serve::ADMIN_PASSWORD),
    )
    .await?;
    client.create_stream(STREAM).await?;
    let n = 1000u64;
    let expected: Vec<String> = (0..n).map(payload).collect();
    let mut plain_size = 0;
    for codec in Compression::ALL {
        let name = codec.name();
        client.create_topic(STREAM, name, topic(1 << 20)).await?;
        let config =
            ProducerConfig { compression: codec, batch_max_messages: 250, ..ProducerConfig::new(STREAM, name) };
        let mut producer = Producer::new(client.clone(), config).await?;
        for i in 0..n {
            producer.send(Message::new(payload(i)).with_header("type", "order").with_id(u128::from(i) + 1)).await?;
        }
        producer.close().await?;

        // Stored as sent: a raw fetch returns the producer's batches, still compressed.
        let stored = codecs(&raw(&client, name).await?);
        assert!(stored.len() >= 4 && stored.iter().all(|c| *c == codec), "{name}: {stored:?}");
        let size = size_on_disk(&client, name).await?;
        if codec == Compression::None {
            plain_size = size;
        } else {
            assert!(size < plain_size / 2, "{name}: {size} bytes on disk, uncompressed {plain_size}");
        }

        // The SDK consumer decompresses.
        let mut consumer = callboard_client::Consumer::new(
            client.clone(),
            ConsumerConfig { batch_count: 300, ..ConsumerConfig::partition(STREAM, name, 0) },
        )
        .await?;
        let mut got = Vec::new();
        while got.len() < n as usize {
            let polled = consumer.poll().await?;
            assert!(!polled.is_empty(), "{name}: consumer stopped at {}", got.len());
            for c in polled {
                assert_eq!(c.message.id, Some(u128::from(c.message.offset) + 1));
                assert_eq!(c.message.headers, vec![("type".to_string(), Bytes::from("order"))]);
                got.push(String::from_utf8(c.message.payload.to_vec())?);
            }
        }
        assert_eq!(got, expected, "{name}: SDK consumer");
        consumer.close().await?;

        // Over QUIC too: fetched as stored, decoded by the SDK.
        assert_eq!(codecs(&raw(&quic, name).await?), stored, "{name} over QUIC");
        let polled = quic.poll(STREAM, name, 0, PollingStrategy::Offset(0), 1000, Default::default(), None).await?;
        let over_quic: Vec<String> =
            polled.messages.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect();
        assert_eq!(over_quic, expected, "{name}: QUIC poll");

        // A poll starting inside a compressed batch gets the records from there on.
        let polled = client.poll(STREAM, name, 0, PollingStrategy::Offset(333), 10, Default::default(), None).await?;
        assert_eq!(polled.messages.first().map(|m| m.offset), Some(333), "{name}");
        assert_eq!(polled.messages[0].payload, payload(333).as_bytes());

        // The HTTP API's poll reads records, so the broker decompresses for it.
        let http = server.addr("http").to_string();
        let name_owned = name.to_string();
        let over_http = tokio::task::spawn_blocking(move || http_payloads(&http, &name_owned)).await?;
        assert_eq!(over_http, expected, "{name}: HTTP poll");
    }
    server.stop();
    Ok(())
}

/// A batch of one record whose value is `zeros` zero bytes, compressed with `codec`.
fn bomb(codec: Compression, zeros: usize) -> Bytes {
    let value = vec![0u8; zeros];
    let mut builder = BatchBuilder::new();
    builder.push(&RecordData { timestamp: 1, value: Some(&value), ..Default::default() });
    Bytes::from(builder.finish_compressed(codec))
}

fn restamp_crc(batch: &mut [u8]) {
    let crc = crc_of(batch);
    batch[16..20].copy_from_slice(&crc.to_le_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_and_corrupt_compressed_batches_are_refused_over_the_wire() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Serve::start(dir.path(), &["tcp"]);
    let client = Client::connect(server.tcp_config()).await?;
    client.create_stream(STREAM).await?;
    client.create_topic(STREAM, "t", topic(1 << 20)).await?;
    let target = || ProduceTarget::Partition(0);
    for codec in CODECS {
        // 16 MiB of zeros in well under 1 MiB (snappy's best ratio is about 21:1, the others' far higher): past
        // the topic's 1 MiB limit once decompressed.
        let batch = bomb(codec, 16 << 20);
        assert!(batch.len() < 1 << 20, "{codec}: the bomb itself is small ({} bytes)", batch.len());
        let err = client.produce_batch(STREAM, "t", target(), batch).await.expect_err("bomb refused");
        assert_eq!(err.code(), Some(ErrorCode::MessageTooLarge), "{codec}: {err}");
        assert!(err.to_string().contains("decompresses to more than"), "{codec}: {err}");

        // Garbage where the compressed records should be, under a correct CRC.
        let mut corrupt =
            encode_batch_compressed(&[Message::new(payload(1)), Message::new(payload(2))], 5, None, codec);
        let mid = 57 + (corrupt.len() - 57) / 2;
        for b in &mut corrupt[57..=mid] {
            *b = 0xa5;
        }
        restamp_crc(&mut corrupt);
        let err = client.produce_batch(STREAM, "t", target(), Bytes::from(corrupt)).await.expect_err("corrupt");
        assert_eq!(err.code(), Some(ErrorCode::InvalidRecordBatch), "{codec}: {err}");

        // A record count that disagrees with the compressed records.
        let mut lying = encode_batch_compressed(&[Message::new(payload(1)), Message::new(payload(2))], 5, None, codec);
        lying[23..27].copy_from_slice(&3u32.to_le_bytes());
        restamp_crc(&mut lying);
        let err = client.produce_batch(STREAM, "t", target(), Bytes::from(lying)).await.expect_err("count");
        assert_eq!(err.code(), Some(ErrorCode::InvalidRecordBatch), "{codec}: {err}");
    }
    // An unknown codec (bits 5) is refused as an unsupported version.
    let mut unknown = encode_batch_compressed(&[Message::new("x")], 5, None, Compression::None);
    unknown[21] = 5;
    restamp_crc(&mut unknown);
    let err = client.produce_batch(STREAM, "t", target(), Bytes::from(unknown)).await.expect_err("codec 5");
    assert_eq!(err.code(), Some(ErrorCode::UnsupportedVersion), "{err}");

    // Nothing was stored; a batch just under the limit is.
    assert_eq!(client.topic(STREAM, "t").await?.partitions[0].log_end, 0);
    let sent = client.produce_batch(STREAM, "t", target(), bomb(Compression::Zstd, 1 << 19)).await?;
    assert_eq!(sent.stored, 1);
    server.stop();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_ids_are_deduplicated_in_compressed_batches_also_after_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Serve::start(dir.path(), &["tcp"]);
    let client = Client::connect(server.tcp_config()).await?;
    client.create_stream(STREAM).await?;
    let config = TopicConfig {
        dedup: Some(callboard_client::DedupWindow { max_ids: 1000, max_age_ms: 3_600_000 }),
        ..topic(1 << 20)
    };
    client.create_topic(STREAM, "d", config).await?;
    // Current timestamps: the window is rebuilt from records younger than its age.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    let batch = |ids: &[u128]| {
        let messages: Vec<Message> = ids.iter().map(|&id| Message::new(payload(id as u64)).with_id(id)).collect();
        Bytes::from(encode_batch_compressed(&messages, now, None, Compression::Lz4))
    };
    let target = || ProduceTarget::Partition(0);
    let first = client.produce_batch(STREAM, "d", target(), batch(&[1, 2, 3])).await?;
    assert_eq!((first.stored, first.duplicates), (3, 0));
    // 2 and 3 repeat, 4 repeats within the batch: two stored, three dropped.
    let second = client.produce_batch(STREAM, "d", target(), batch(&[2, 4, 3, 4, 5])).await?;
    assert_eq!((second.stored, second.duplicates), (2, 3));
    // The rebuilt batch is compressed with the producer's codec.
    assert_eq!(codecs(&raw(&client, "d").await?), vec![Compression::Lz4, Compression::Lz4]);
    let polled = client.poll(STREAM, "d", 0, PollingStrategy::Offset(0), 100, Default::default(), None).await?;
    let ids: Vec<Option<u128>> = polled.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![Some(1), Some(2), Some(3), Some(4), Some(5)]);
    assert_eq!(polled.messages[4].payload, payload(5).as_bytes());

    // After a restart the window is rebuilt from the compressed batches on disk.
    server.stop();
    let server = Serve::start(dir.path(), &["tcp"]);
    let client = Client::connect(server.tcp_config()).await?;
    let again = client.produce_batch(STREAM, "d", target(), batch(&[5, 1, 6])).await?;
    assert_eq!((again.stored, again.duplicates), (1, 2));
    assert_eq!(client.topic(STREAM, "d").await?.partitions[0].log_end, 6);
    server.stop();
    Ok(())
}

fn cli(tcp: &str, args: &[&str], input: Option<&[u8]>) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--server", tcp])
        .env("RUST_LOG", "warn")
        .env("CALLBOARD_USER", "admin")
        .env("CALLBOARD_PASSWORD", serve::ADMIN_PASSWORD)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input).expect("write stdin"));
    }
    let out = child.wait_with_output().expect("cli output");
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

fn cli_round_trip(dir: &Path) -> anyhow::Result<()> {
    let server = Serve::start(dir, &["tcp"]);
    let tcp = server.addr("tcp").to_string();
    let lines: Vec<String> = (0..5000).map(payload).collect();
    let mut input = lines.join("\n").into_bytes();
    input.push(b'\n');
    for (topic, codec) in [("plain", "none"), ("packed", "zstd")] {
        cli(&tcp, &["topic", "create", topic], None);
        cli(&tcp, &["send", topic, "--compression", codec], Some(&input));
        let consumed = cli(&tcp, &["consume", topic], None);
        assert_eq!(consumed.lines().collect::<Vec<_>>(), lines.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let size = |topic: &str| -> anyhow::Result<u64> {
        let described = cli(&tcp, &["topic", "describe", topic, "--output", "json"], None);
        let v: serde_json::Value = serde_json::from_str(&described)?;
        v["partitions"][0]["size_bytes"].as_u64().ok_or_else(|| anyhow::anyhow!("no size_bytes in {described}"))
    };
    let (plain, packed) = (size("plain")?, size("packed")?);
    assert!(packed * 3 < plain, "zstd topic {packed} bytes, plain {plain}");
    let bad = Command::new(BIN).args(["send", "plain", "--compression", "brotli", "--server", &tcp]).output()?;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("brotli"));
    server.stop();
    Ok(())
}

#[test]
fn cli_send_with_zstd_round_trips_through_consume() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    cli_round_trip(dir.path())
}
