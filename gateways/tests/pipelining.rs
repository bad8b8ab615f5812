//! Pipelining over TCP: many produce requests in flight on one connection are stored in arrival order, answers come
//! back matched by correlation id, and back-pressure holds with a small in-flight cap.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod common;

use std::collections::HashMap;
use std::time::Duration;

use callboard_gateways::GatewayConfig;
use callboard_protocol::model::PollingStrategy;
use callboard_protocol::wire::{ApiKey, ProduceResponse, decode_control, encode_control};
use common::*;

async fn pipelined_produce_keeps_order(config: GatewayConfig) {
    const N: usize = 500;
    let (broker, gateway, _dir) = tcp_gateway(config).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    client.call(&topic_request("seq", 1)).await;
    let mut expected = HashMap::new();
    // Write every request before reading any answer (one big write, like a pipelining producer).
    let mut all = bytes::BytesMut::new();
    let codec = callboard_protocol::wire::FrameCodec::default();
    for i in 0..N {
        let c = client.correlation();
        expected.insert(c, i);
        let frame = callboard_protocol::wire::RequestFrame {
            api: ApiKey::Produce.as_u16(),
            version: 1,
            correlation: c,
            body: produce_one("seq", 0, i.to_string()),
        };
        codec.encode_request(&frame, &mut all).unwrap();
    }
    client.send_raw(&all).await;
    let mut offsets = vec![None; N];
    for _ in 0..N {
        let frame = client.recv().await.expect("connection closed");
        assert_eq!(frame.error, 0, "{}", String::from_utf8_lossy(&frame.body));
        let index = expected.remove(&frame.correlation).expect("unknown or repeated correlation");
        let sent: ProduceResponse = decode_control(&frame.body).unwrap();
        assert_eq!((sent.partition, sent.stored), (0, 1));
        offsets[index] = Some(sent.base_offset);
    }
    assert!(expected.is_empty());
    let offsets: Vec<u64> = offsets.into_iter().map(Option::unwrap).collect();
    assert_eq!(offsets, (0..N as u64).collect::<Vec<_>>(), "offsets follow arrival order");

    let fetch = fetch_request("seq", 0, PollingStrategy::First, 0);
    let frame = client.request(ApiKey::Fetch, encode_control(&fetch).unwrap()).await;
    let (header, messages) = decode_fetch(&frame);
    assert_eq!((header.start_offset, header.next_offset, header.log_end), (0, N as u64, N as u64));
    assert_eq!(messages.len(), N);
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m.offset, i as u64);
        assert_eq!(m.payload, i.to_string().as_bytes());
    }
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_pipelined_produces_are_stored_in_arrival_order() {
    pipelined_produce_keeps_order(GatewayConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_in_flight_cap_applies_back_pressure_without_losing_requests() {
    pipelined_produce_keeps_order(GatewayConfig { max_in_flight: 4, ..GatewayConfig::default() }).await;
}
