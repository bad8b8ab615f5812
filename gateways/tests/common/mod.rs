//! Test helpers: a broker in a temporary directory, and a raw-frame client over any byte stream (TCP or a QUIC
//! stream) that writes requests with `FrameCodec` and reads responses.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use callboard_actors::{Broker, BrokerConfig, DurabilityPolicy, Message, ReceivedMessage, TopicConfig};
use callboard_gateways::{GatewayConfig, TcpGateway};
use callboard_protocol::ErrorCode;
use callboard_protocol::model::{PollingStrategy, decode_batches, encode_batch};
use callboard_protocol::wire::{
    ApiKey, Call, CreateTopic, Fetch, FetchResponse, FrameCodec, Hello, HelloResponse, Login, PROTOCOL_VERSION,
    Produce, ProduceTarget, RequestFrame, ResponseFrame, decode_control, encode_control, encode_with_payload,
    split_payload,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// How long a test waits for one response.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// The password of the `admin` user of every test broker.
pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// A broker configuration in `dir` whose admin has [`ADMIN_PASSWORD`].
pub fn broker_config(dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig {
        admin_password: Some(callboard_actors::auth::Secret::new(ADMIN_PASSWORD)),
        ..BrokerConfig::with_data_dir(dir)
    }
}

/// A broker in a temporary directory.
pub async fn broker() -> (Broker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(broker_config(&dir.path().join("data"))).await.unwrap();
    (broker, dir)
}

/// A broker and a TCP gateway on 127.0.0.1:0.
pub async fn tcp_gateway(config: GatewayConfig) -> (Broker, TcpGateway, tempfile::TempDir) {
    let (broker, dir) = broker().await;
    let gateway = TcpGateway::bind("127.0.0.1:0".parse().unwrap(), broker.clone(), config).await.unwrap();
    (broker, gateway, dir)
}

/// Waits until `n` long polls are parked on a partition of a default-stream topic: the request was read and is
/// waiting in the partition (observed through the topic's partition details, not guessed with a sleep).
pub async fn wait_parked(broker: &Broker, topic: &str, partition: u32, n: usize) {
    let deadline = std::time::Instant::now() + RECV_TIMEOUT;
    loop {
        let details = broker.topic("default", topic).await.unwrap();
        let parked = details.partitions[partition as usize].parked_polls;
        if parked >= n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{parked} of {n} polls parked on {topic}/{partition}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A topic in the default stream, fsync left to the OS (fast tests).
pub fn topic_request(name: &str, partitions: u32) -> CreateTopic {
    let config = TopicConfig { partitions, durability: DurabilityPolicy::Never, ..TopicConfig::default() };
    CreateTopic { stream: "default".into(), name: name.into(), config }
}

/// A produce body carrying one batch.
pub fn produce_body(topic: &str, target: ProduceTarget, batch: &[u8]) -> Bytes {
    let header = Produce { stream: "default".into(), topic: topic.into(), target };
    encode_with_payload(&header, batch).unwrap()
}

/// A produce body with one message.
pub fn produce_one(topic: &str, partition: u32, payload: impl Into<Bytes>) -> Bytes {
    let batch = encode_batch(&[Message::new(payload)], 1_700_000_000_000, None);
    produce_body(topic, ProduceTarget::Partition(partition), &batch)
}

/// A fetch request from `strategy`.
pub fn fetch_request(topic: &str, partition: u32, strategy: PollingStrategy, max_wait_ms: u64) -> Fetch {
    Fetch {
        stream: "default".into(),
        topic: topic.into(),
        partition,
        strategy,
        max_count: 100_000,
        max_bytes: 16 << 20,
        max_wait_ms,
        consumer: None,
    }
}

/// Decodes a fetch answer into its header and messages.
pub fn decode_fetch(frame: &ResponseFrame) -> (FetchResponse, Vec<ReceivedMessage>) {
    assert_eq!(frame.error, 0, "fetch failed: {}", String::from_utf8_lossy(&frame.body));
    let (header, payload): (FetchResponse, Bytes) = split_payload(&frame.body).unwrap();
    let messages = decode_batches(&payload, header.start_offset, usize::MAX).unwrap();
    (header, messages)
}

/// The error code of a response.
pub fn code(frame: &ResponseFrame) -> ErrorCode {
    ErrorCode::from_u16(frame.error).unwrap_or_else(|| panic!("unknown error code {}", frame.error))
}

/// A client speaking raw frames.
pub struct RawClient<R, W> {
    reader: R,
    writer: W,
    buf: BytesMut,
    codec: FrameCodec,
    next_correlation: u64,
}

impl RawClient<OwnedReadHalf, OwnedWriteHalf> {
    /// Connects over TCP.
    pub async fn tcp(addr: SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (r, w) = stream.into_split();
        RawClient::new(r, w)
    }

    /// Connects over TCP, completes the handshake and logs in as the admin.
    pub async fn tcp_ready(addr: SocketAddr) -> Self {
        let mut client = RawClient::tcp(addr).await;
        client.hello().await;
        client.login("admin", ADMIN_PASSWORD).await;
        client
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> RawClient<R, W> {
    /// A client over these halves.
    pub fn new(reader: R, writer: W) -> Self {
        RawClient { reader, writer, buf: BytesMut::new(), codec: FrameCodec::default(), next_correlation: 1 }
    }

    /// The next correlation id.
    pub fn correlation(&mut self) -> u64 {
        let c = self.next_correlation;
        self.next_correlation += 1;
        c
    }

    /// Writes raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
        self.writer.flush().await.unwrap();
    }

    /// Writes raw bytes, ignoring errors (the server may have closed already).
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await
    }

    /// Writes a request frame.
    pub async fn send(&mut self, api: u16, version: u16, correlation: u64, body: Bytes) {
        let mut out = BytesMut::new();
        self.codec.encode_request(&RequestFrame { api, version, correlation, body }, &mut out).unwrap();
        self.send_raw(&out).await;
    }

    /// Writes a control request, returning its correlation id, or the write error when the server already closed
    /// the connection.
    pub async fn try_send_call<T: Call>(&mut self, request: &T) -> (u64, std::io::Result<()>) {
        let c = self.correlation();
        let mut out = BytesMut::new();
        let body = encode_control(request).unwrap();
        self.codec
            .encode_request(&RequestFrame { api: T::API.as_u16(), version: 1, correlation: c, body }, &mut out)
            .unwrap();
        let written = self.writer.write_all(&out).await;
        (c, written)
    }

    /// Writes a control request, returning its correlation id.
    pub async fn send_call<T: Call>(&mut self, request: &T) -> u64 {
        let c = self.correlation();
        self.send(T::API.as_u16(), 1, c, encode_control(request).unwrap()).await;
        c
    }

    /// Writes a request of `api` (version 1) with this body, returning its correlation id.
    pub async fn send_body(&mut self, api: ApiKey, body: Bytes) -> u64 {
        let c = self.correlation();
        self.send(api.as_u16(), 1, c, body).await;
        c
    }

    /// Writes a fetch request, returning its correlation id.
    pub async fn send_fetch(&mut self, fetch: &Fetch) -> u64 {
        self.send_body(ApiKey::Fetch, encode_control(fetch).unwrap()).await
    }

    /// Reads the next response; `None` when the server closed the connection.
    pub async fn recv(&mut self) -> Option<ResponseFrame> {
        tokio::time::timeout(RECV_TIMEOUT, self.recv_inner()).await.expect("no response in time")
    }

    async fn recv_inner(&mut self) -> Option<ResponseFrame> {
        loop {
            if let Some(frame) = self.codec.decode_response(&mut self.buf).unwrap() {
                return Some(frame);
            }
            match self.reader.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Sends a request and waits for its answer (no other request may be outstanding).
    pub async fn request(&mut self, api: ApiKey, body: Bytes) -> ResponseFrame {
        let c = self.correlation();
        self.send(api.as_u16(), 1, c, body).await;
        let frame = self.recv().await.expect("connection closed");
        assert_eq!(frame.correlation, c);
        frame
    }

    /// Calls a control API and decodes its successful answer.
    pub async fn call<T: Call>(&mut self, request: &T) -> T::Response {
        let frame = self.request(T::API, encode_control(request).unwrap()).await;
        assert_eq!(frame.error, 0, "{:?} failed: {}", T::API, String::from_utf8_lossy(&frame.body));
        decode_control(&frame.body).unwrap()
    }

    /// Calls a control API expecting an error; returns the error frame.
    pub async fn call_err<T: Call>(&mut self, request: &T) -> ResponseFrame {
        let frame = self.request(T::API, encode_control(request).unwrap()).await;
        assert_ne!(frame.error, 0, "{:?} unexpectedly succeeded", T::API);
        frame
    }

    /// The handshake.
    pub async fn hello(&mut self) -> HelloResponse {
        let hello = Hello { protocol_version: PROTOCOL_VERSION, client_id: "test".into() };
        let frame = self.request(ApiKey::Hello, encode_control(&hello).unwrap()).await;
        assert_eq!(frame.error, 0, "hello failed: {}", String::from_utf8_lossy(&frame.body));
        decode_control(&frame.body).unwrap()
    }

    /// Logs in with a password (panics when refused).
    pub async fn login(&mut self, user: &str, password: &str) -> callboard_protocol::model::UserInfo {
        self.call(&Login { user: user.into(), password: password.into() }).await
    }

    /// Asserts the server closes the connection without sending anything more.
    pub async fn expect_closed(&mut self) {
        assert_eq!(self.recv().await, None, "expected the connection to be closed");
    }

    /// Shuts the write side down.
    pub async fn finish(&mut self) {
        let _ = self.writer.shutdown().await;
    }
}
