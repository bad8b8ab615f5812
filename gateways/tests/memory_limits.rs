//! Memory bounds per connection (issue 11): a peer cannot make the broker buffer a large frame before the handshake,
//! and a session that never reads its answers is held to its byte budget.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod common;

use std::time::Duration;

use bytes::BytesMut;
use callboard_gateways::GatewayConfig;
use callboard_protocol::ErrorCode;
use callboard_protocol::wire::{ApiKey, FrameCodec};
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
