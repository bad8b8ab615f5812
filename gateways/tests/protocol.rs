//! The TCP session's protocol handling with raw frames: handshake rules, error answers that keep or close the
//! connection, hostile input (oversized lengths, truncated frames, random garbage) and storage errors.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod common;

use bytes::Bytes;
use callboard_actors::Message;
use callboard_gateways::GatewayConfig;
use callboard_protocol::ErrorCode;
use callboard_protocol::model::{PollingStrategy, encode_batch};
use callboard_protocol::wire::{
    ApiKey, Empty, Hello, ListStreams, PROTOCOL_VERSION, Ping, ProduceResponse as Sent, ProduceTarget, StatusRequest,
    encode_control,
};
use common::*;
use rand::{Rng, SeedableRng};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_announces_every_api() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp(gateway.local_addr()).await;
    let hello = client.hello().await;
    assert_eq!(hello.protocol_version, PROTOCOL_VERSION);
    assert_eq!(hello.server_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(hello.apis, ApiKey::all_versions());
    // Nothing but a login is served before logging in.
    assert_eq!(code(&client.call_err(&Ping {}).await), ErrorCode::Unauthenticated);
    client.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(client.call(&Ping {}).await, Empty {});
    assert_eq!(client.call(&StatusRequest {}).await.streams, 1);
    gateway.shutdown(std::time::Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_before_hello_is_refused_and_closed() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp(gateway.local_addr()).await;
    client.send(ApiKey::Ping.as_u16(), 1, 7, encode_control(&Ping {}).unwrap()).await;
    let frame = client.recv().await.unwrap();
    assert_eq!((frame.correlation, code(&frame)), (7, ErrorCode::HandshakeRequired));
    client.expect_closed().await;
    // An unknown api before the handshake is refused the same way.
    let mut client = RawClient::tcp(gateway.local_addr()).await;
    client.send(999, 1, 8, Bytes::new()).await;
    assert_eq!(code(&client.recv().await.unwrap()), ErrorCode::HandshakeRequired);
    client.expect_closed().await;
    gateway.shutdown(std::time::Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_protocol_version_is_refused_and_closed() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp(gateway.local_addr()).await;
    let hello = Hello { protocol_version: PROTOCOL_VERSION + 1, client_id: "future".into() };
    let frame = client.request(ApiKey::Hello, encode_control(&hello).unwrap()).await;
    assert_eq!(code(&frame), ErrorCode::UnsupportedVersion);
    client.expect_closed().await;
    // So is an unsupported version of the Hello API itself.
    let mut client = RawClient::tcp(gateway.local_addr()).await;
    let hello = Hello { protocol_version: PROTOCOL_VERSION, client_id: "v2".into() };
    client.send(ApiKey::Hello.as_u16(), 2, 1, encode_control(&hello).unwrap()).await;
    assert_eq!(code(&client.recv().await.unwrap()), ErrorCode::UnsupportedVersion);
    client.expect_closed().await;
    gateway.shutdown(std::time::Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_apis_versions_and_bodies_are_answered_and_the_connection_stays() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    client.send(999, 1, 50, Bytes::from_static(b"whatever")).await;
    let frame = client.recv().await.unwrap();
    assert_eq!((frame.correlation, code(&frame)), (50, ErrorCode::UnknownApi));
    assert_eq!(client.call(&Ping {}).await, Empty {});

    client.send(ApiKey::Ping.as_u16(), 9, 51, encode_control(&Ping {}).unwrap()).await;
    let frame = client.recv().await.unwrap();
    assert_eq!((frame.correlation, code(&frame)), (51, ErrorCode::UnsupportedVersion));
    assert_eq!(client.call(&Ping {}).await, Empty {});

    // A body that is not the request's shape: the decode message comes back.
    let frame = client.request(ApiKey::CreateStream, Bytes::from_static(b"\xff\x00garbage")).await;
    assert_eq!(code(&frame), ErrorCode::InvalidRequest);
    assert!(String::from_utf8_lossy(&frame.body).contains("malformed"), "{:?}", frame.body);
    let frame = client.request(ApiKey::Produce, Bytes::from_static(b"\x00\x00\x10\x00abc")).await;
    assert_eq!(code(&frame), ErrorCode::InvalidRequest);
    let frame = client.request(ApiKey::Fetch, encode_control(&Ping {}).unwrap()).await;
    assert_eq!(code(&frame), ErrorCode::InvalidRequest);
    assert_eq!(client.call(&ListStreams {}).await.len(), 1);
    gateway.shutdown(std::time::Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_length_is_answered_and_closed_and_the_server_goes_on() {
    let config = GatewayConfig { max_frame: 1 << 20, ..GatewayConfig::default() };
    let (broker, gateway, _dir) = tcp_gateway(config).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    client.send_raw(&0xFFFF_FFF0u32.to_be_bytes()).await;
    let frame = client.recv().await.unwrap();
    assert_eq!((frame.correlation, code(&frame)), (0, ErrorCode::MessageTooLarge));
    client.expect_closed().await;
    // A length shorter than the request header.
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    client.send_raw(&[0, 0, 0, 3, 1, 2, 3]).await;
    assert_eq!(code(&client.recv().await.unwrap()), ErrorCode::InvalidRequest);
    client.expect_closed().await;

    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    assert_eq!(client.call(&Ping {}).await, Empty {});
    gateway.shutdown(std::time::Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_hello_a_large_frame_is_refused_at_once_not_buffered() {
    // 16 connections that each sent 62 MiB of a 63 MiB frame before Hello took the broker to 1 GiB: before the
    // handshake only handshake-sized frames are taken, so the length alone gets the error and the close.
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp(gateway.local_addr()).await;
    client.send_raw(&(63u32 << 20).to_be_bytes()).await;
    client.send_raw(&[0u8; 4096]).await;
    let frame = client.recv().await.expect("an answer, not a wait for 63 MiB");
    assert_eq!((frame.correlation, code(&frame)), (0, ErrorCode::HandshakeRequired));
    client.expect_closed().await;
    // After Hello the configured 64 MiB limit applies again.
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    assert_eq!(client.call(&Ping {}).await, Empty {});
    gateway.shutdown(std::time::Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_frame_then_eof_leaves_the_server_fine() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    // Claims 100 bytes, sends 20, then closes its side.
    let mut partial = 100u32.to_be_bytes().to_vec();
    partial.extend_from_slice(&[1u8; 20]);
    client.send_raw(&partial).await;
    client.finish().await;
    client.expect_closed().await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    assert_eq!(client.call(&Ping {}).await, Empty {});
    gateway.shutdown(std::time::Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_sent_before_a_half_close_are_all_answered() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    for _ in 0..10 {
        client.send_call(&Ping {}).await;
    }
    client.finish().await;
    for _ in 0..10 {
        assert_eq!(client.recv().await.unwrap().error, 0);
    }
    client.expect_closed().await;
    gateway.shutdown(std::time::Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_garbage_connections_do_not_hurt_the_server() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let addr = gateway.local_addr();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xCA11_B0A2D);
    let inputs: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            let len = rng.random_range(0..512);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Every other input starts with a valid handshake so garbage reaches the dispatcher too.
            if i % 2 == 0 {
                let hello = Hello { protocol_version: PROTOCOL_VERSION, client_id: "fuzz".into() };
                let mut out = bytes::BytesMut::new();
                let frame = callboard_protocol::wire::RequestFrame {
                    api: 0,
                    version: 1,
                    correlation: 1,
                    body: encode_control(&hello).unwrap(),
                };
                callboard_protocol::wire::FrameCodec::default().encode_request(&frame, &mut out).unwrap();
                out.extend_from_slice(&bytes);
                bytes = out.to_vec();
            }
            bytes
        })
        .collect();
    let mut tasks = Vec::new();
    for chunk in inputs.chunks(20) {
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            for bytes in chunk {
                let mut client = RawClient::tcp(addr).await;
                let _ = client.try_send_raw(&bytes).await;
                client.finish().await;
                // Read whatever comes until the server closes.
                while client.recv().await.is_some() {}
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut client = RawClient::tcp_ready(addr).await;
    assert_eq!(client.call(&Ping {}).await, Empty {});
    client.call(&topic_request("after-fuzz", 1)).await;
    let frame = client.request(ApiKey::Produce, produce_one("after-fuzz", 0, "ok")).await;
    assert_eq!(frame.error, 0);
    gateway.shutdown(std::time::Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_routes_by_target_and_refuses_corrupt_batches() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    client.call(&topic_request("orders", 3)).await;
    let batch = encode_batch(&[Message::new("a")], 1_700_000_000_000, None);

    let frame = client.request(ApiKey::Produce, produce_body("orders", ProduceTarget::Partition(2), &batch)).await;
    let sent: Sent = callboard_protocol::wire::decode_control(&frame.body).unwrap();
    assert_eq!((sent.partition, sent.base_offset, sent.stored, sent.duplicates), (2, 0, 1, 0));
    let key = Bytes::from_static(b"customer-42");
    let expected = callboard_protocol::model::partition_for_key(&key, 3);
    for _ in 0..2 {
        let frame =
            client.request(ApiKey::Produce, produce_body("orders", ProduceTarget::Key(key.clone()), &batch)).await;
        let sent: Sent = callboard_protocol::wire::decode_control(&frame.body).unwrap();
        assert_eq!(sent.partition, expected);
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        let frame = client.request(ApiKey::Produce, produce_body("orders", ProduceTarget::Balanced, &batch)).await;
        let sent: Sent = callboard_protocol::wire::decode_control(&frame.body).unwrap();
        seen.insert(sent.partition);
    }
    assert_eq!(seen.len(), 3, "balanced produce visits every partition");

    let frame = client.request(ApiKey::Produce, produce_body("orders", ProduceTarget::Partition(7), &batch)).await;
    assert_eq!(code(&frame), ErrorCode::PartitionNotFound);
    let frame = client.request(ApiKey::Produce, produce_body("nope", ProduceTarget::Balanced, &batch)).await;
    assert_eq!(code(&frame), ErrorCode::TopicNotFound);
    assert!(String::from_utf8_lossy(&frame.body).contains("nope"));

    let mut corrupt = batch.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xFF;
    let frame = client.request(ApiKey::Produce, produce_body("orders", ProduceTarget::Partition(0), &corrupt)).await;
    assert!(
        matches!(code(&frame), ErrorCode::InvalidRecordBatch | ErrorCode::CorruptMessage),
        "got {:?}",
        code(&frame)
    );
    let frame = client.request(ApiKey::Produce, produce_body("orders", ProduceTarget::Partition(0), b"tiny")).await;
    assert!(matches!(code(&frame), ErrorCode::InvalidRecordBatch | ErrorCode::CorruptMessage));
    // Nothing corrupt was stored: partition 0 has only what the balanced produce put there.
    let fetch = fetch_request("orders", 0, PollingStrategy::First, 0);
    let frame = client.request(ApiKey::Fetch, encode_control(&fetch).unwrap()).await;
    let (_, messages) = decode_fetch(&frame);
    assert!(messages.len() <= 1 + usize::from(expected == 0) * 2);
    gateway.shutdown(std::time::Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_answers_stay_within_the_frame_limit() {
    let config = GatewayConfig { max_frame: 8192, ..GatewayConfig::default() };
    let (broker, gateway, _dir) = tcp_gateway(config).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    client.call(&topic_request("big", 1)).await;
    for i in 0..3u8 {
        let frame = client.request(ApiKey::Produce, produce_one("big", 0, vec![i; 3000])).await;
        assert_eq!(frame.error, 0, "{}", String::from_utf8_lossy(&frame.body));
    }
    // The request asks for 16 MiB; the answer is cut to what fits in 8 KiB.
    let fetch = fetch_request("big", 0, PollingStrategy::First, 0);
    let frame = client.request(ApiKey::Fetch, encode_control(&fetch).unwrap()).await;
    let (header, messages) = decode_fetch(&frame);
    assert!((1..3).contains(&messages.len()), "{} messages", messages.len());
    assert_eq!(header.next_offset, messages.len() as u64);
    gateway.shutdown(std::time::Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}
