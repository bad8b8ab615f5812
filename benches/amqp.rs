//! Criterion benchmark of the AMQP gateway's publish path, frames in → stored and confirmed:
//!
//! - `amqp_publish_confirm`: a raw AMQP client (no client library in the measurement) on one loopback connection
//!   writes `basic.publish` + content header + one body frame per 1000-byte message (delivery mode 2) into a queue,
//!   with publisher confirms and at most [`IN_FLIGHT`] messages unconfirmed, and reads the confirms. One iteration
//!   is [`MESSAGES`] messages from the first byte written to the last confirm read. `durable` is a durable queue
//!   (its log syncs before every confirm, durability `always`); `transient` a non-durable one (no fsync: the CPU
//!   cost of the path alone).
//!
//! The gateway and broker run in-process on a data directory under `CALLBOARD_BENCH_DIR` (default: the system temp
//! directory); the queue is purged between samples (outside the timing) so the log stays small. The client logs in
//! as the broker's admin, so the measured path includes the per-message permission check.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use amq_protocol::frame::{AMQPFrame, WriteContext, gen_frame, parse_frame};
use amq_protocol::protocol::basic::{self as b, AMQPProperties};
use amq_protocol::protocol::{AMQPClass, channel as ch, confirm, connection as conn, queue as q};
use callboard::{Broker, BrokerConfig};
use callboard_gateways::{AmqpConfig, AmqpGateway};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// Messages per iteration.
const MESSAGES: u64 = 1000;
/// Unconfirmed messages at most (like `amqp-perf --confirm 100`).
const IN_FLIGHT: u64 = 100;
/// Message body size.
const SIZE: usize = 1000;
/// Messages written at a time while the window allows.
const WRITE_CHUNK: u64 = 10;

/// The bench broker's admin password (the client logs in as the admin, and every publish is authorized).
const PASSWORD: &str = "bench-admin-password";

fn bench_dir() -> TempDir {
    match std::env::var_os("CALLBOARD_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("bench dir"),
        None => tempfile::tempdir().expect("temp dir"),
    }
}

fn encode(frame: &AMQPFrame, out: &mut Vec<u8>) {
    let buf = std::mem::take(out);
    *out = gen_frame(frame)(WriteContext::from(buf)).expect("gen frame").into_inner().0;
}

/// A raw AMQP client on one socket.
struct Client {
    socket: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn send(&mut self, frame: AMQPFrame) {
        let mut out = Vec::new();
        encode(&frame, &mut out);
        self.socket.write_all(&out).await.expect("write");
    }

    async fn next(&mut self) -> AMQPFrame {
        loop {
            if !self.buf.is_empty() {
                match parse_frame(&self.buf[..]) {
                    Ok((rest, frame)) => {
                        let used = self.buf.len() - rest.len();
                        self.buf.drain(..used);
                        return frame;
                    }
                    Err(e) if e.is_incomplete() => {}
                    Err(e) => panic!("unparseable frame: {e:?}"),
                }
            }
            self.buf.reserve(64 * 1024);
            let n = self.socket.read_buf(&mut self.buf).await.expect("read");
            assert!(n > 0, "the server closed the connection");
        }
    }

    /// Handshake (PLAIN as the admin, no heartbeat), channel 1 open in confirm mode, `queue` declared.
    async fn open(addr: SocketAddr, queue: &str, durable: bool) -> Client {
        let socket = TcpStream::connect(addr).await.expect("connect");
        socket.set_nodelay(true).expect("nodelay");
        let mut c = Client { socket, buf: Vec::new() };
        c.socket.write_all(b"AMQP\x00\x00\x09\x01").await.expect("header");
        assert!(matches!(c.next().await, AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::Start(_)))));
        let start_ok = conn::StartOk {
            client_properties: Default::default(),
            mechanism: "PLAIN".into(),
            response: format!("\0admin\0{PASSWORD}").into(),
            locale: "en_US".into(),
        };
        c.send(AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::StartOk(start_ok)))).await;
        let AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::Tune(tune))) = c.next().await else {
            panic!("expected connection.tune");
        };
        let tune_ok = conn::TuneOk { channel_max: tune.channel_max, frame_max: tune.frame_max, heartbeat: 0 };
        c.send(AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::TuneOk(tune_ok)))).await;
        let open = conn::Open { virtual_host: "/".into() };
        c.send(AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::Open(open)))).await;
        assert!(matches!(c.next().await, AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::OpenOk(_)))));
        c.send(AMQPFrame::Method(1, AMQPClass::Channel(ch::AMQPMethod::Open(ch::Open {})))).await;
        assert!(matches!(c.next().await, AMQPFrame::Method(1, AMQPClass::Channel(ch::AMQPMethod::OpenOk(_)))));
        let select = confirm::Select { nowait: false };
        c.send(AMQPFrame::Method(1, AMQPClass::Confirm(confirm::AMQPMethod::Select(select)))).await;
        assert!(matches!(c.next().await, AMQPFrame::Method(1, AMQPClass::Confirm(_))));
        let declare = q::Declare { queue: queue.into(), durable, ..Default::default() };
        c.send(AMQPFrame::Method(1, AMQPClass::Queue(q::AMQPMethod::Declare(declare)))).await;
        assert!(matches!(c.next().await, AMQPFrame::Method(1, AMQPClass::Queue(q::AMQPMethod::DeclareOk(_)))));
        c
    }

    async fn purge(&mut self, queue: &str) {
        let purge = q::Purge { queue: queue.into(), nowait: false };
        self.send(AMQPFrame::Method(1, AMQPClass::Queue(q::AMQPMethod::Purge(purge)))).await;
        assert!(matches!(self.next().await, AMQPFrame::Method(1, AMQPClass::Queue(q::AMQPMethod::PurgeOk(_)))));
    }

    /// Publishes `count` messages (`one` holds one message's frames) with at most [`IN_FLIGHT`] unconfirmed; returns
    /// when the last is confirmed. `tag` is the last tag published before.
    async fn publish_confirmed(&mut self, one: &[u8], count: u64, tag: &mut u64) {
        let (first, end) = (*tag, *tag + count);
        let mut chunk = Vec::with_capacity(one.len() * WRITE_CHUNK as usize);
        for _ in 0..WRITE_CHUNK {
            chunk.extend_from_slice(one);
        }
        let (mut sent, mut confirmed) = (first, first);
        while confirmed < end {
            if sent < end && sent + WRITE_CHUNK - confirmed <= IN_FLIGHT {
                let n = WRITE_CHUNK.min(end - sent);
                self.socket.write_all(&chunk[..one.len() * n as usize]).await.expect("publish");
                sent += n;
                continue;
            }
            match self.next().await {
                AMQPFrame::Method(1, AMQPClass::Basic(b::AMQPMethod::Ack(a))) => confirmed = a.delivery_tag,
                other => panic!("expected a confirm, got {other:?}"),
            }
        }
        *tag = end;
    }
}

/// One persistent message's frames: method, content header and one body frame.
fn message_frames(queue: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let publish = b::Publish { exchange: "".into(), routing_key: queue.into(), mandatory: false, immediate: false };
    encode(&AMQPFrame::Method(1, AMQPClass::Basic(b::AMQPMethod::Publish(publish))), &mut out);
    let header = amq_protocol::frame::AMQPContentHeader {
        class_id: 60,
        body_size: SIZE as u64,
        properties: AMQPProperties::default().with_delivery_mode(2),
    };
    encode(&AMQPFrame::Header(1, header), &mut out);
    encode(&AMQPFrame::Body(1, vec![b'x'; SIZE]), &mut out);
    out
}

fn publish_confirm(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = bench_dir();
    let (broker, gateway) = rt.block_on(async {
        let config = BrokerConfig {
            admin_password: Some(callboard::actors::auth::Secret::new(PASSWORD)),
            ..BrokerConfig::with_data_dir(dir.path())
        };
        let broker = Broker::start(config).await.expect("broker");
        let addr = "127.0.0.1:0".parse().expect("addr");
        let gateway = AmqpGateway::bind(addr, broker.clone(), AmqpConfig::default()).await.expect("gateway");
        (broker, gateway)
    });
    let mut group = c.benchmark_group("amqp_publish_confirm");
    group.sample_size(20).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(MESSAGES));
    for durable in [true, false] {
        let name = if durable { "durable" } else { "transient" };
        let queue = format!("bench-{name}");
        let mut client = rt.block_on(Client::open(gateway.local_addr(), &queue, durable));
        let one = message_frames(&queue);
        let mut tag = 0;
        group.bench_function(BenchmarkId::new(name, format!("{SIZE}B_{IN_FLIGHT}_in_flight")), |bench| {
            bench.iter_custom(|iters| run(&rt, &mut client, &queue, &one, &mut tag, iters));
        });
    }
    group.finish();
    rt.block_on(async {
        gateway.shutdown(Duration::from_secs(5)).await;
        broker.shutdown().await.expect("broker shutdown");
    });
}

fn run(rt: &Runtime, client: &mut Client, queue: &str, one: &[u8], tag: &mut u64, iters: u64) -> Duration {
    rt.block_on(async {
        client.purge(queue).await;
        let started = Instant::now();
        for _ in 0..iters {
            client.publish_confirmed(one, MESSAGES, tag).await;
        }
        started.elapsed()
    })
}

criterion_group!(benches, publish_confirm);
criterion_main!(benches);
