//! Session and gateway lifecycle over TCP: the connection limit, idle and handshake timeouts, back-pressure at the
//! in-flight cap, and graceful shutdown answering requests already read.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod common;

use std::time::{Duration, Instant};

use callboard_gateways::GatewayConfig;
use callboard_protocol::ErrorCode;
use callboard_protocol::model::PollingStrategy;
use callboard_protocol::wire::{ApiKey, Empty, Ping, encode_control};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_get_limit_exceeded() {
    let config = GatewayConfig { max_connections: 2, ..GatewayConfig::default() };
    let (broker, gateway, _dir) = tcp_gateway(config).await;
    let addr = gateway.local_addr();
    let mut first = RawClient::tcp_ready(addr).await;
    let second = RawClient::tcp_ready(addr).await;
    let mut third = RawClient::tcp(addr).await;
    let frame = third.recv().await.expect("an error frame");
    assert_eq!((frame.correlation, code(&frame)), (0, ErrorCode::LimitExceeded));
    third.expect_closed().await;
    assert_eq!(first.call(&Ping {}).await, Empty {});
    // A place frees up when a connection closes.
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = RawClient::tcp(addr).await;
        let hello = callboard_protocol::wire::Hello {
            protocol_version: callboard_protocol::wire::PROTOCOL_VERSION,
            client_id: "again".into(),
        };
        let c = again.send_body(ApiKey::Hello, encode_control(&hello).unwrap()).await;
        let frame = again.recv().await.unwrap();
        if frame.error == 0 {
            assert_eq!(frame.correlation, c);
            break;
        }
        assert_eq!(code(&frame), ErrorCode::LimitExceeded);
        assert!(Instant::now() < deadline, "the closed connection's place was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_handshake_timeouts_close_connections() {
    let config = GatewayConfig {
        idle_timeout: Duration::from_millis(200),
        handshake_timeout: Duration::from_millis(200),
        ..GatewayConfig::default()
    };
    let (broker, gateway, _dir) = tcp_gateway(config).await;
    let started = Instant::now();
    let mut idle = RawClient::tcp_ready(gateway.local_addr()).await;
    // Activity keeps it open past the timeout.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(idle.call(&Ping {}).await, Empty {});
    }
    idle.expect_closed().await;
    assert!(started.elapsed() >= Duration::from_millis(550), "closed too early: {:?}", started.elapsed());

    // A request in flight longer than the idle timeout is still answered.
    let mut busy = RawClient::tcp_ready(gateway.local_addr()).await;
    busy.call(&topic_request("quiet", 1)).await;
    let fetch = fetch_request("quiet", 0, PollingStrategy::First, 400);
    let frame = busy.request(ApiKey::Fetch, encode_control(&fetch).unwrap()).await;
    let (header, messages) = decode_fetch(&frame);
    assert_eq!((header.next_offset, messages.len()), (0, 0));
    busy.expect_closed().await;

    // No handshake in time: one HandshakeRequired frame, then closed.
    let mut silent = RawClient::tcp(gateway.local_addr()).await;
    let frame = silent.recv().await.expect("an error frame");
    assert_eq!((frame.correlation, code(&frame)), (0, ErrorCode::HandshakeRequired));
    silent.expect_closed().await;
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_pauses_while_max_in_flight_requests_are_outstanding() {
    let config = GatewayConfig { max_in_flight: 2, ..GatewayConfig::default() };
    let (broker, gateway, _dir) = tcp_gateway(config).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    client.call(&topic_request("slow", 1)).await;
    let started = Instant::now();
    let fetch = fetch_request("slow", 0, PollingStrategy::First, 300);
    let f1 = client.send_fetch(&fetch).await;
    let f2 = client.send_fetch(&fetch).await;
    let ping = client.send_call(&Ping {}).await;
    // Both long polls hold the two places: the ping is read only once one of them answers.
    let mut order = Vec::new();
    for _ in 0..3 {
        let frame = client.recv().await.unwrap();
        assert_eq!(frame.error, 0);
        order.push((frame.correlation, started.elapsed()));
    }
    let (ping_at, _) = order.iter().position(|(c, _)| *c == ping).map(|i| (i, order[i].1)).unwrap();
    assert_ne!(ping_at, 0, "the ping overtook the long polls: {order:?}");
    assert!(order.iter().any(|(c, _)| *c == f1) && order.iter().any(|(c, _)| *c == f2));
    assert!(order[ping_at].1 >= Duration::from_millis(250), "{order:?}");
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_answers_requests_already_read() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let addr = gateway.local_addr();
    let mut client = RawClient::tcp_ready(addr).await;
    client.call(&topic_request("drain", 1)).await;
    let fetch = fetch_request("drain", 0, PollingStrategy::First, 1000);
    let sent = Instant::now();
    let c = client.send_fetch(&fetch).await;
    // The session has read the request once the poll is parked.
    wait_parked(&broker, "drain", 0, 1).await;
    let shutdown = tokio::spawn(gateway.shutdown(Duration::from_secs(5)));
    let frame = client.recv().await.expect("the long poll is answered");
    assert_eq!((frame.correlation, frame.error), (c, 0));
    client.expect_closed().await;
    shutdown.await.unwrap();
    // Shutdown waited for the poll's whole wait, and no longer than needed.
    let took = sent.elapsed();
    assert!(took >= Duration::from_millis(1000) && took < Duration::from_secs(4), "{took:?}");
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_after_the_grace_period() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    client.call(&topic_request("long", 1)).await;
    client.send_fetch(&fetch_request("long", 0, PollingStrategy::First, 30_000)).await;
    wait_parked(&broker, "long", 0, 1).await;
    let started = Instant::now();
    gateway.shutdown(Duration::from_millis(200)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    client.expect_closed().await;
    broker.shutdown().await.unwrap();
}
