//! Criterion benchmarks of the TCP produce path, frame in → stored: a raw-frame client on loopback writes produce
//! frames of one 1 MiB-ish batch (1000 messages of 1000 bytes, the issue-12 shape) to a [`TcpGateway`] in the same
//! process and reads the acknowledgements; what is measured is the gateway's session (frame cutting, budget,
//! dispatch), the partition actor's append and the page-cache write, with `in_flight` requests outstanding.
//!
//! - `tcp_produce_never/in_flight/N`: durability `never` (acknowledged once written), N = 1 and 4.
//! - `tcp_produce_always/in_flight/4`: durability `always` (acknowledged after the group-commit fsync).
//!
//! Frames are encoded once, outside the timing, and written with one `write_all` each (the client's cost is a
//! socket copy). Data lives in a temporary directory under `CALLBOARD_BENCH_DIR` (default: the system temp
//! directory); the topic is recreated outside the timed region before it passes 1 GiB, so disk use stays bounded
//! and no measured append includes a segment roll.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use callboard::protocol::wire::{
    ApiKey, FrameCodec, Hello, Login, PROTOCOL_VERSION, Produce, ProduceTarget, RequestFrame, encode_control,
    encode_with_payload,
};
use callboard::{Broker, BrokerConfig, DEFAULT_STREAM, DurabilityPolicy, Message, TopicConfig, encode_batch};
use callboard_gateways::{GatewayConfig, TcpGateway};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::runtime::Runtime;

const LOG_LIMIT: u64 = 1 << 30;
const SEGMENT_BYTES: u64 = 2 << 30;
const TIMESTAMP: i64 = 1_700_000_000_000;

fn bench_dir() -> TempDir {
    match std::env::var_os("CALLBOARD_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("bench dir"),
        None => tempfile::tempdir().expect("temp dir"),
    }
}

/// The issue-12 batch: 1000 messages of 1000 bytes.
fn batch() -> Vec<u8> {
    let messages: Vec<Message> = (0..1000).map(|i| Message::new(vec![(i % 251) as u8; 1000])).collect();
    encode_batch(&messages, TIMESTAMP, None)
}

/// One encoded request frame.
fn frame(api: ApiKey, correlation: u64, body: Bytes) -> Bytes {
    let mut out = BytesMut::new();
    FrameCodec::default()
        .encode_request(&RequestFrame { api: api.as_u16(), version: 1, correlation, body }, &mut out)
        .expect("encode");
    out.freeze()
}

/// A broker, its TCP gateway and one connection that said hello.
struct Rig {
    _dir: TempDir,
    broker: Broker,
    gateway: Option<TcpGateway>,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    buf: BytesMut,
    durability: DurabilityPolicy,
    written: u64,
}

const TOPIC: &str = "produce";
/// The bench broker's admin password (produce requests are authorized as on every connection).
const PASSWORD: &str = "bench-admin-password";

impl Rig {
    async fn start(durability: DurabilityPolicy) -> Rig {
        let dir = bench_dir();
        let config = BrokerConfig {
            admin_password: Some(callboard::actors::auth::Secret::new(PASSWORD)),
            ..BrokerConfig::with_data_dir(dir.path())
        };
        let broker = Broker::start(config).await.expect("start broker");
        let gateway = TcpGateway::bind(SocketAddr::from(([127, 0, 0, 1], 0)), broker.clone(), GatewayConfig::default())
            .await
            .expect("bind");
        let stream = TcpStream::connect(gateway.local_addr()).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (reader, writer) = stream.into_split();
        let mut rig = Rig {
            _dir: dir,
            broker,
            gateway: Some(gateway),
            reader,
            writer,
            buf: BytesMut::new(),
            durability,
            written: 0,
        };
        rig.create_topic().await;
        let hello = Hello { protocol_version: PROTOCOL_VERSION, client_id: "bench".into() };
        rig.writer.write_all(&frame(ApiKey::Hello, 0, encode_control(&hello).expect("hello"))).await.expect("send");
        rig.ack().await;
        let login = Login { user: "admin".into(), password: PASSWORD.into() };
        rig.writer.write_all(&frame(ApiKey::Login, 1, encode_control(&login).expect("login"))).await.expect("send");
        rig.ack().await;
        rig
    }

    async fn create_topic(&self) {
        let config = TopicConfig {
            partitions: 1,
            durability: self.durability,
            segment_bytes: SEGMENT_BYTES,
            ..TopicConfig::default()
        };
        self.broker.create_topic(DEFAULT_STREAM, TOPIC, config).await.expect("create topic");
    }

    /// Makes room for `bytes` more, recreating the topic (untimed) when it would pass the limit.
    async fn reserve(&mut self, bytes: u64) {
        if self.written + bytes > LOG_LIMIT {
            self.broker.delete_topic(DEFAULT_STREAM, TOPIC).await.expect("delete topic");
            self.create_topic().await;
            self.written = 0;
        }
        self.written += bytes;
    }

    /// Reads one response frame and checks it is a success.
    async fn ack(&mut self) {
        let codec = FrameCodec::default();
        loop {
            if let Some(response) = codec.decode_response(&mut self.buf).expect("valid response") {
                assert_eq!(response.error, 0, "request failed: {}", String::from_utf8_lossy(&response.body));
                return;
            }
            let n = self.reader.read_buf(&mut self.buf).await.expect("read");
            assert!(n > 0, "the server closed the connection");
        }
    }

    /// Sends `count` copies of `produce` with at most `in_flight` unanswered; the time it took.
    async fn produce(&mut self, produce: &Bytes, count: u64, in_flight: usize) -> Duration {
        let started = Instant::now();
        let mut outstanding = VecDeque::new();
        for i in 0..count {
            if outstanding.len() >= in_flight {
                self.ack().await;
                outstanding.pop_front();
            }
            self.writer.write_all(produce).await.expect("send");
            outstanding.push_back(i);
        }
        for _ in outstanding.drain(..) {
            self.ack().await;
        }
        started.elapsed()
    }

    async fn stop(mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown(Duration::from_secs(5)).await;
        }
        self.broker.shutdown().await.expect("shutdown");
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

fn produce_frame() -> Bytes {
    let header = Produce { stream: DEFAULT_STREAM.into(), topic: TOPIC.into(), target: ProduceTarget::Partition(0) };
    // Correlation ids need not be unique for this client: it reads answers in order.
    frame(ApiKey::Produce, 1, encode_with_payload(&header, &batch()).expect("produce body"))
}

fn bench_policy(c: &mut Criterion, name: &str, durability: DurabilityPolicy, in_flights: &[usize]) {
    let rt = runtime();
    let produce = produce_frame();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(produce.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let mut rig = rt.block_on(Rig::start(durability));
    for &in_flight in in_flights {
        group.bench_function(BenchmarkId::new("in_flight", in_flight), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    // Chunks of at most 256 frames, each with room made for it outside the timing.
                    let mut elapsed = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let chunk = left.min(256);
                        left -= chunk;
                        rig.reserve(chunk * produce.len() as u64).await;
                        elapsed += rig.produce(&produce, chunk, in_flight).await;
                    }
                    elapsed
                })
            })
        });
    }
    group.finish();
    rt.block_on(rig.stop());
}

fn tcp_produce(c: &mut Criterion) {
    bench_policy(c, "tcp_produce_never", DurabilityPolicy::Never, &[1, 4]);
    bench_policy(c, "tcp_produce_always", DurabilityPolicy::Always, &[4]);
}

criterion_group!(benches, tcp_produce);
criterion_main!(benches);
