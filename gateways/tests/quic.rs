//! The QUIC gateway with a real quinn client: TLS with the generated certificate, the same frames as TCP on each
//! bidirectional stream, isolation of a failing stream, the connection limit, certificate reuse and shutdown.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod common;
#[path = "common/quic.rs"]
mod quic_client;

use std::time::Duration;

use callboard_gateways::{ALPN, GatewayConfig, QuicGateway, TlsSource};
use callboard_protocol::ErrorCode;
use callboard_protocol::model::PollingStrategy;
use callboard_protocol::wire::{ApiKey, Empty, Ping, ProduceResponse, decode_control, encode_control};
use common::*;
use quic_client::*;

async fn open_ready(conn: &quinn::Connection) -> QuicClient {
    let mut client = open(conn).await;
    client.hello().await;
    client.login("admin", ADMIN_PASSWORD).await;
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_produce_and_fetch_over_quic() {
    let (broker, dir) = broker().await;
    let gateway = quic_gateway(&broker, dir.path(), GatewayConfig::default()).await;
    let endpoint = client_endpoint(gateway.certificate_path());
    let conn = connect(&endpoint, gateway.local_addr()).await;
    assert_eq!(
        conn.handshake_data().unwrap().downcast::<quinn::crypto::rustls::HandshakeData>().unwrap().protocol,
        Some(ALPN.to_vec())
    );
    let mut admin = open_ready(&conn).await;
    admin.call(&topic_request("events", 2)).await;
    let mut producer = open_ready(&conn).await;
    for i in 0..10 {
        let frame = producer.request(ApiKey::Produce, produce_one("events", 1, format!("m{i}"))).await;
        assert_eq!(frame.error, 0, "{}", String::from_utf8_lossy(&frame.body));
        let sent: ProduceResponse = decode_control(&frame.body).unwrap();
        assert_eq!((sent.partition, sent.base_offset), (1, i));
    }
    // Another stream reads what the first wrote.
    let fetch = fetch_request("events", 1, PollingStrategy::First, 0);
    let frame = admin.request(ApiKey::Fetch, encode_control(&fetch).unwrap()).await;
    let (header, messages) = decode_fetch(&frame);
    assert_eq!((header.next_offset, messages.len()), (10, 10));
    assert_eq!(messages[3].payload, "m3".as_bytes());
    conn.close(0u32.into(), b"done");
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_one_stream_breaks_neither_other_streams_nor_connections() {
    let (broker, dir) = broker().await;
    let gateway = quic_gateway(&broker, dir.path(), GatewayConfig::default()).await;
    let endpoint = client_endpoint(gateway.certificate_path());
    let conn = connect(&endpoint, gateway.local_addr()).await;
    let mut good = open_ready(&conn).await;

    let mut oversized = open_ready(&conn).await;
    oversized.send_raw(&0xFFFF_FFF0u32.to_be_bytes()).await;
    let frame = oversized.recv().await.unwrap();
    assert_eq!((frame.correlation, code(&frame)), (0, ErrorCode::MessageTooLarge));
    oversized.expect_closed().await;

    let mut unsolicited = open(&conn).await;
    unsolicited.send_raw(b"\x00\x00\x00\x20 definitely not a callboard frame").await;
    assert_eq!(code(&unsolicited.recv().await.unwrap()), ErrorCode::HandshakeRequired);
    unsolicited.expect_closed().await;

    // A stream the client abandons midway.
    let (mut send, recv) = conn.open_bi().await.unwrap();
    send.write_all(&[0, 0, 0, 99, 1, 2]).await.unwrap();
    send.reset(7u32.into()).unwrap();
    drop(recv);

    assert_eq!(good.call(&Ping {}).await, Empty {});
    let mut fresh = open_ready(&conn).await;
    assert_eq!(fresh.call(&Ping {}).await, Empty {});
    // A connection that dies abruptly does not hurt a new one.
    let doomed = connect(&endpoint, gateway.local_addr()).await;
    let mut doomed_stream = open_ready(&doomed).await;
    doomed_stream.send_raw(&[0, 0]).await;
    doomed.close(1u32.into(), b"crash");
    let other = connect(&endpoint, gateway.local_addr()).await;
    assert_eq!(open_ready(&other).await.call(&Ping {}).await, Empty {});
    assert_eq!(good.call(&Ping {}).await, Empty {});
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_self_signed_certificate_is_reused_and_configured_files_work() {
    let (broker, dir) = broker().await;
    let first = quic_gateway(&broker, dir.path(), GatewayConfig::default()).await;
    let cert_path = first.certificate_path().to_path_buf();
    assert_eq!(cert_path, dir.path().join("tls").join("quic-cert.pem"));
    let pem = std::fs::read(&cert_path).unwrap();
    let key_pem = std::fs::read(dir.path().join("tls").join("quic-key.pem")).unwrap();
    first.shutdown(Duration::from_secs(1)).await;

    let second = quic_gateway(&broker, dir.path(), GatewayConfig::default()).await;
    assert_eq!(std::fs::read(second.certificate_path()).unwrap(), pem, "the certificate is reused");
    assert_eq!(std::fs::read(dir.path().join("tls").join("quic-key.pem")).unwrap(), key_pem);
    // A client trusting the first start's certificate still connects.
    let endpoint = client_endpoint(&cert_path);
    let conn = connect(&endpoint, second.local_addr()).await;
    assert_eq!(open_ready(&conn).await.call(&Ping {}).await, Empty {});
    second.shutdown(Duration::from_secs(1)).await;

    // The same files given explicitly.
    let tls = TlsSource::Files { cert: cert_path.clone(), key: dir.path().join("tls").join("quic-key.pem") };
    let third =
        QuicGateway::bind("127.0.0.1:0".parse().unwrap(), broker.clone(), GatewayConfig::default(), tls).await.unwrap();
    assert_eq!(third.certificate_path(), cert_path);
    let conn = connect(&endpoint, third.local_addr()).await;
    assert_eq!(open_ready(&conn).await.call(&Ping {}).await, Empty {});
    third.shutdown(Duration::from_secs(1)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_connection_limit_and_graceful_shutdown() {
    let (broker, dir) = broker().await;
    let config = GatewayConfig { max_connections: 1, ..GatewayConfig::default() };
    let gateway = quic_gateway(&broker, dir.path(), config).await;
    let endpoint = client_endpoint(gateway.certificate_path());
    let conn = connect(&endpoint, gateway.local_addr()).await;
    let mut client = open_ready(&conn).await;
    // Many streams on the one connection are fine.
    for _ in 0..3 {
        assert_eq!(open_ready(&conn).await.call(&Ping {}).await, Empty {});
    }
    let refused = connect(&endpoint, gateway.local_addr()).await;
    let mut stream = open(&refused).await;
    let hello = callboard_protocol::wire::Hello {
        protocol_version: callboard_protocol::wire::PROTOCOL_VERSION,
        client_id: "extra".into(),
    };
    stream.send_body(ApiKey::Hello, encode_control(&hello).unwrap()).await;
    let frame = stream.recv().await.expect("an error frame");
    assert_eq!((frame.correlation, code(&frame)), (0, ErrorCode::LimitExceeded));

    client.call(&topic_request("drain", 1)).await;
    let c = client.send_fetch(&fetch_request("drain", 0, PollingStrategy::First, 300)).await;
    wait_parked(&broker, "drain", 0, 1).await;
    let shutdown = tokio::spawn(gateway.shutdown(Duration::from_secs(5)));
    let frame = client.recv().await.expect("the long poll is answered");
    assert_eq!((frame.correlation, frame.error), (c, 0));
    client.expect_closed().await;
    shutdown.await.unwrap();
    broker.shutdown().await.unwrap();
}
