//! Memory bounds per connection (issue 11): a peer cannot make the broker buffer a large frame before the handshake,
//! and a session that never reads its answers is held to its byte budget.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod common;

use std::time::Duration;

use bytes::BytesMut;
use callboard_gateways::GatewayConfig;
use callboard_protocol::ErrorCode;
use callboard_protocol::model::PollingStrategy;
use callboard_protocol::wire::{ApiKey, FrameCodec, RequestFrame, encode_control};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_frame_before_hello_is_refused_without_buffering_it() {
    // A handshake timeout far longer than the wait below: only the size check can answer in time.
    let config = GatewayConfig { handshake_timeout: Duration::from_secs(600), ..GatewayConfig::default() };
    let (broker, gateway, _dir) = tcp_gateway(config).await;
    let stream = tokio::net::TcpStream::connect(gateway.local_addr()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // The start of a 63 MiB Produce frame, and 1 KiB of it: far from complete.
    let mut start = BytesMut::new();
    start.extend_from_slice(&(63u32 << 20).to_be_bytes());
    start.extend_from_slice(&ApiKey::Produce.as_u16().to_be_bytes());
    start.extend_from_slice(&1u16.to_be_bytes());
    start.extend_from_slice(&9u64.to_be_bytes());
    start.extend_from_slice(&[0u8; 1024]);
    writer.write_all(&start).await.unwrap();
    let codec = FrameCodec::default();
    let mut buf = BytesMut::new();
    let frame = tokio::time::timeout(RECV_TIMEOUT, async {
        loop {
            if let Some(frame) = codec.decode_response(&mut buf).unwrap() {
                return Some(frame);
            }
            if reader.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return None;
            }
        }
    })
    .await
    .expect("the server kept waiting for the rest of the frame")
    .expect("closed without an answer");
    assert_eq!((frame.correlation, code(&frame)), (0, ErrorCode::HandshakeRequired));
    let message = String::from_utf8_lossy(&frame.body);
    assert!(message.contains("Hello"), "{message}");
    // Then the connection is closed: reading ends (EOF or reset) with nothing more.
    let rest = tokio::time::timeout(RECV_TIMEOUT, reader.read_buf(&mut buf)).await.expect("not closed");
    assert!(matches!(rest, Ok(0) | Err(_)), "unexpected bytes after the refusal");
    // The server goes on: a well-behaved client is served.
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    client.call(&topic_request("after", 1)).await;
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

/// Waits until `cond` holds, polling observable state, for at most `RECV_TIMEOUT`.
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const SESSION_CAP: usize = 4 << 20;

fn budgeted() -> GatewayConfig {
    GatewayConfig { max_session_bytes: SESSION_CAP, ..GatewayConfig::default() }
}

/// Stores about 900 KiB in a new one-partition `topic`, then sends `fetches` pipelined fetches of all of it
/// (about 90 MiB of answers for 100) without reading any answer.
async fn flood_with_fetches<R, W>(client: &mut RawClient<R, W>, topic: &str, fetches: usize)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    client.call(&topic_request(topic, 1)).await;
    for i in 0..15u8 {
        let frame = client.request(ApiKey::Produce, produce_one(topic, 0, vec![i; 60 << 10])).await;
        assert_eq!(frame.error, 0, "{}", String::from_utf8_lossy(&frame.body));
    }
    let mut fetch = fetch_request(topic, 0, PollingStrategy::First, 0);
    fetch.max_bytes = 1 << 20;
    let body = encode_control(&fetch).unwrap();
    let codec = FrameCodec::default();
    let mut all = BytesMut::new();
    for _ in 0..fetches {
        let correlation = client.correlation();
        let frame = RequestFrame { api: ApiKey::Fetch.as_u16(), version: 1, correlation, body: body.clone() };
        codec.encode_request(&frame, &mut all).unwrap();
    }
    client.send_raw(&all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_fetch_answers_is_held_to_the_session_byte_cap() {
    const FETCHES: usize = 100;
    let config = budgeted();
    let shared = config.shared_budget.clone();
    let (broker, gateway, _dir) = tcp_gateway(config).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    // ~90 MiB of answers asked for; none read until the session is saturated.
    flood_with_fetches(&mut client, "big", FETCHES).await;
    wait_for("the session to fill its budget", || shared.used() > SESSION_CAP / 2).await;
    assert!(shared.peak() <= SESSION_CAP, "the session held {} bytes (cap {SESSION_CAP})", shared.peak());
    for _ in 0..FETCHES {
        let frame = client.recv().await.expect("connection closed");
        let (header, messages) = decode_fetch(&frame);
        assert_eq!((header.next_offset, messages.len()), (15, 15));
    }
    assert!(shared.peak() <= SESSION_CAP, "the session held {} bytes (cap {SESSION_CAP})", shared.peak());
    wait_for("every charge to be released", || shared.used() == 0).await;
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_large_produces_stay_under_the_shared_cap_and_are_all_stored() {
    const PRODUCES: usize = 64;
    // Two sessions of 4 MiB each under a shared cap of 4 MiB.
    let config = GatewayConfig { shared_budget: callboard_gateways::ByteBudget::new(SESSION_CAP), ..budgeted() };
    let shared = config.shared_budget.clone();
    let (broker, gateway, _dir) = tcp_gateway(config).await;
    let mut setup = RawClient::tcp_ready(gateway.local_addr()).await;
    setup.call(&topic_request("load", 2)).await;
    let mut clients = Vec::new();
    for partition in 0..2u32 {
        let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
        let codec = FrameCodec::default();
        let mut all = BytesMut::new();
        for i in 0..PRODUCES {
            let correlation = client.correlation();
            let body = produce_one("load", partition, vec![i as u8; 512 << 10]);
            let frame = RequestFrame { api: ApiKey::Produce.as_u16(), version: 1, correlation, body };
            codec.encode_request(&frame, &mut all).unwrap();
        }
        clients.push(tokio::spawn(async move {
            client.send_raw(&all).await;
            for _ in 0..PRODUCES {
                let frame = client.recv().await.expect("connection closed");
                assert_eq!(frame.error, 0, "{}", String::from_utf8_lossy(&frame.body));
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    assert!(shared.peak() > 0, "requests were charged");
    assert!(shared.peak() <= SESSION_CAP, "the sessions held {} bytes (cap {SESSION_CAP})", shared.peak());
    for partition in 0..2 {
        let fetch = fetch_request("load", partition, PollingStrategy::First, 0);
        let frame = setup.request(ApiKey::Fetch, encode_control(&fetch).unwrap()).await;
        assert_eq!(decode_fetch(&frame).0.log_end, PRODUCES as u64);
    }
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn byte_caps_out_of_range_are_refused() {
    let (broker, _dir) = broker().await;
    let addr = "127.0.0.1:0".parse().unwrap();
    let tiny = GatewayConfig { max_session_bytes: 1024, ..GatewayConfig::default() };
    let err = callboard_gateways::TcpGateway::bind(addr, broker.clone(), tiny).await.unwrap_err();
    assert!(err.to_string().contains("max_session_bytes"), "{err}");
    let shared_below_session =
        GatewayConfig { shared_budget: callboard_gateways::ByteBudget::new(1 << 20), ..GatewayConfig::default() };
    assert!(callboard_gateways::TcpGateway::bind(addr, broker.clone(), shared_below_session).await.is_err());
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_after_the_write_stall_timeout() {
    let config = GatewayConfig { write_stall_timeout: Duration::from_millis(500), ..budgeted() };
    let shared = config.shared_budget.clone();
    let (broker, gateway, _dir) = tcp_gateway(config).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    flood_with_fetches(&mut client, "stalled", 100).await;
    wait_for("the session to fill its budget", || shared.used() > SESSION_CAP / 2).await;
    // Never reading, the session is closed once its writer made no progress for 500 ms, and its bytes are freed.
    wait_for("the stalled session's charges to be released", || shared.used() == 0).await;
    // Whatever the kernel buffered is still there; then the stream ends before the 100 answers.
    let mut answers = 0;
    while client.recv().await.is_some() {
        answers += 1;
    }
    assert!(answers < 100, "all {answers} answers arrived: the session was not closed");
    // The gateway serves new connections as before.
    let mut again = RawClient::tcp_ready(gateway.local_addr()).await;
    again.call(&topic_request("after-stall", 1)).await;
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}
