//! TLS on the TCP, HTTP and AMQP listeners, in process and over real sockets: sessions over TLS (handshake, login,
//! requests), a plaintext client on a TLS port refused with a clear error, a stalled or trickled handshake closed at
//! the handshake timeout while it holds a connection place (a client past the limit is refused over TLS), the
//! certificate reloaded for new connections while an open one goes on, HTTPS with a real HTTP client (and its
//! handshake timeout), AMQPS with lapin next to a plain AMQP listener of the same gateway, and QUIC's certificate
//! reloaded the same way.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/quic.rs"]
mod quic_client;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callboard_gateways::{AmqpConfig, AmqpGateway, GatewayConfig, HttpConfig, HttpGateway, Node, ServerTls};
use callboard_gateways::{TcpGateway, TlsSource};
use callboard_protocol::ErrorCode;
use callboard_protocol::wire::{ApiKey, Hello, ListStreams, PROTOCOL_VERSION, encode_control};
use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A self-signed certificate for `localhost` and `127.0.0.1` with common name `cn`, written as `cn.pem` and
/// `cn.key` in `dir`.
fn certificate(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join(format!("{cn}.pem")), dir.join(format!("{cn}.key")));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// Two certificates and the files a server is configured with, holding the first until [`Rotation::rotate`].
struct Rotation {
    one: PathBuf,
    two: PathBuf,
    two_key: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Rotation {
    fn new(dir: &Path) -> Rotation {
        let (one, one_key) = certificate(dir, "one");
        let (two, two_key) = certificate(dir, "two");
        let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
        std::fs::copy(&one, &cert).unwrap();
        std::fs::copy(&one_key, &key).unwrap();
        Rotation { one, two, two_key, cert, key }
    }

    /// Puts the second certificate where the server reads its own.
    fn rotate(&self) {
        std::fs::copy(&self.two, &self.cert).unwrap();
        std::fs::copy(&self.two_key, &self.key).unwrap();
    }
}

fn server_tls(cert: &Path, key: &Path) -> ServerTls {
    ServerTls::load(TlsSource::Files { cert: cert.to_path_buf(), key: key.to_path_buf() }).unwrap()
}

/// A rustls client trusting only `ca`.
fn connector(ca: &Path) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type TlsRead = tokio::io::ReadHalf<tokio_rustls::client::TlsStream<TcpStream>>;
type TlsWrite = tokio::io::WriteHalf<tokio_rustls::client::TlsStream<TcpStream>>;

/// A TLS connection to `addr` trusting `ca`, as a raw-frame client.
async fn tls_client(addr: std::net::SocketAddr, ca: &Path) -> std::io::Result<RawClient<TlsRead, TlsWrite>> {
    let socket = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let stream = connector(ca).connect(name, socket).await?;
    let (r, w) = tokio::io::split(stream);
    Ok(RawClient::new(r, w))
}

/// Waits (bounded) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_sessions_over_tls_and_plaintext_refused_clearly() {
    let (broker, dir) = broker().await;
    let (cert, key) = certificate(dir.path(), "one");
    let addr = "127.0.0.1:0".parse().unwrap();
    let gateway =
        TcpGateway::bind_tls(addr, broker.clone(), GatewayConfig::default(), server_tls(&cert, &key)).await.unwrap();
    let addr = gateway.local_addr();

    let mut client = tls_client(addr, &cert).await.unwrap();
    client.hello().await;
    assert_eq!(code(&client.call_err(&ListStreams {}).await), ErrorCode::Unauthenticated, "TLS is not a login");
    client.login("admin", ADMIN_PASSWORD).await;
    let streams = client.call(&ListStreams {}).await;
    assert!(streams.iter().any(|s| s.name == "default"), "{streams:?}");

    // A plaintext client gets one plaintext error frame saying why, then the connection closes.
    let mut plain = RawClient::tcp(addr).await;
    let hello = Hello { protocol_version: PROTOCOL_VERSION, client_id: "plain".into() };
    let c = plain.correlation();
    plain.send(ApiKey::Hello.as_u16(), 1, c, encode_control(&hello).unwrap()).await;
    let refused = plain.recv().await.expect("an error frame");
    assert_eq!(code(&refused), ErrorCode::InvalidRequest);
    assert!(String::from_utf8_lossy(&refused.body).contains("speaks TLS"), "{refused:?}");
    plain.expect_closed().await;

    // A certificate the client does not trust fails the handshake on the client's side.
    let (other, _) = certificate(dir.path(), "stranger");
    let err = tls_client(addr, &other).await.err().expect("untrusted certificate");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    // The session that was open is unaffected by all of this.
    client.call(&ListStreams {}).await;
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_time_out_holding_a_connection_place() {
    let (broker, dir) = broker().await;
    let (cert, key) = certificate(dir.path(), "one");
    let timeout = Duration::from_millis(500);
    let config = GatewayConfig { max_connections: 1, handshake_timeout: timeout, ..GatewayConfig::default() };
    let addr = "127.0.0.1:0".parse().unwrap();
    let gateway = TcpGateway::bind_tls(addr, broker.clone(), config, server_tls(&cert, &key)).await.unwrap();
    let (addr, open) = (gateway.local_addr(), gateway.connections());

    for stall in [&b""[..], &[0x16, 0x03, 0x01][..]] {
        // Silent, or the first bytes of a TLS record and then nothing.
        let started = Instant::now();
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled.write_all(stall).await.unwrap();
        until("the stalled connection holds the place", || open.get() == 1).await;

        // The only place is taken: a TLS client completes its handshake and reads the refusal.
        let mut refused = tls_client(addr, &cert).await.unwrap();
        let frame = refused.recv().await.expect("a refusal");
        assert_eq!(code(&frame), ErrorCode::LimitExceeded);

        // The stalled handshake is closed at the timeout, and the place is free again.
        let mut scratch = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut scratch)).await.unwrap();
        let elapsed = started.elapsed();
        assert!(matches!(n, Ok(0) | Err(_)), "the server closed the stalled connection: {n:?}");
        assert!(elapsed >= timeout && elapsed < timeout * 10, "closed after {elapsed:?}");
        until("the place is free", || open.get() == 0).await;
        let mut client = tls_client(addr, &cert).await.unwrap();
        client.hello().await;
        drop(client);
        until("the client's place is free", || open.get() == 0).await;
    }
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_certificate_serves_new_connections_and_open_ones_go_on() {
    let (broker, dir) = broker().await;
    let files = Rotation::new(dir.path());
    let (one, two, cert, key) = (files.one.clone(), files.two.clone(), files.cert.clone(), files.key.clone());
    let tls = server_tls(&cert, &key);
    let addr = "127.0.0.1:0".parse().unwrap();
    let gateway = TcpGateway::bind_tls(addr, broker.clone(), GatewayConfig::default(), tls.clone()).await.unwrap();
    let addr = gateway.local_addr();

    let mut before = tls_client(addr, &one).await.unwrap();
    before.hello().await;
    before.login("admin", ADMIN_PASSWORD).await;
    assert!(tls_client(addr, &two).await.is_err(), "certificate two is not served yet");

    files.rotate();
    tls.reload().unwrap();
    let mut after = tls_client(addr, &two).await.unwrap();
    after.hello().await;
    assert!(tls_client(addr, &one).await.is_err(), "certificate one is no longer served");
    before.call(&ListStreams {}).await;

    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_serves_a_reloaded_certificate_to_new_connections_and_open_ones_go_on() {
    let (broker, dir) = broker().await;
    let files = Rotation::new(dir.path());
    let (one, two, cert, key) = (files.one.clone(), files.two.clone(), files.cert.clone(), files.key.clone());
    let source = TlsSource::Files { cert: cert.clone(), key: key.clone() };
    let addr = "127.0.0.1:0".parse().unwrap();
    let gateway =
        callboard_gateways::QuicGateway::bind(addr, broker.clone(), GatewayConfig::default(), source).await.unwrap();
    let addr = gateway.local_addr();
    let trusting = |ca: &Path| quic_client::client_endpoint(ca);

    let (trusts_one, trusts_two) = (trusting(&one), trusting(&two));
    let open = quic_client::connect(&trusts_one, addr).await;
    let mut before = quic_client::open(&open).await;
    before.hello().await;
    before.login("admin", ADMIN_PASSWORD).await;
    assert!(trusts_two.connect(addr, "localhost").unwrap().await.is_err(), "certificate two is not served yet");

    files.rotate();
    gateway.tls().reload().unwrap();
    let conn = quic_client::connect(&trusts_two, addr).await;
    let mut after = quic_client::open(&conn).await;
    after.hello().await;
    // A fresh endpoint: the first one holds a session ticket, and a resumed session shows no certificate.
    let fresh = trusting(&one);
    assert!(fresh.connect(addr, "localhost").unwrap().await.is_err(), "certificate one is no longer served");
    before.call(&ListStreams {}).await;

    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_a_real_http_client() {
    let (broker, dir) = broker().await;
    let (cert, key) = certificate(dir.path(), "one");
    let timeout = Duration::from_millis(500);
    let config =
        HttpConfig { tls: Some(server_tls(&cert, &key)), tls_handshake_timeout: timeout, ..HttpConfig::default() };
    let gateway =
        HttpGateway::bind("127.0.0.1:0".parse().unwrap(), broker.clone(), config, Node::new(), None).await.unwrap();
    let port = gateway.local_addr().port();
    let pem = std::fs::read(&cert).unwrap();
    let body = tokio::task::spawn_blocking(move || {
        let roots = vec![ureq::tls::Certificate::from_pem(&pem).unwrap().to_owned()];
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder().tls_config(tls).build().into();
        let body = agent.get(format!("https://localhost:{port}/health")).call().unwrap().into_body().read_to_string();
        // Plain HTTP to the HTTPS port does not get an answer.
        assert!(ureq::get(format!("http://localhost:{port}/health")).call().is_err());
        body.unwrap()
    })
    .await
    .unwrap();
    assert!(body.contains("up"), "{body}");

    // A handshake that stalls after its first bytes is closed at the handshake timeout.
    let started = Instant::now();
    let mut stalled = TcpStream::connect(gateway.local_addr()).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let mut scratch = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut scratch)).await.unwrap();
    let elapsed = started.elapsed();
    assert!(matches!(n, Ok(0) | Err(_)), "the server closed the stalled handshake: {n:?}");
    assert!(elapsed >= timeout && elapsed < timeout * 10, "closed after {elapsed:?}");
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_next_to_plain_amqp_with_lapin() {
    use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    let (broker, dir) = broker().await;
    let (cert, key) = certificate(dir.path(), "one");
    let any = "127.0.0.1:0".parse().unwrap();
    let config = AmqpConfig::default();
    let gateway = AmqpGateway::bind_listeners(Some(any), Some((any, server_tls(&cert, &key))), broker.clone(), config)
        .await
        .unwrap();
    let (tls_addr, tls_open) = gateway.tls_listener().expect("an AMQPS listener");
    let plain_uri = format!("amqp://admin:{ADMIN_PASSWORD}@{}/%2f", gateway.local_addr());
    let tls_uri = format!("amqps://admin:{ADMIN_PASSWORD}@localhost:{}/%2f", tls_addr.port());
    let trust =
        || lapin::tcp::OwnedTLSConfig { identity: None, cert_chain: Some(std::fs::read_to_string(&cert).unwrap()) };
    let runtime = || lapin::runtime::default_runtime().unwrap();

    let secure =
        Connection::connect_with_config(&tls_uri, ConnectionProperties::default(), trust(), runtime()).await.unwrap();
    assert_eq!(tls_open.get(), 1);
    let channel = secure.create_channel().await.unwrap();
    channel.queue_declare("secure".into(), QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    channel
        .basic_publish(
            "".into(),
            "secure".into(),
            BasicPublishOptions::default(),
            b"over tls",
            BasicProperties::default(),
        )
        .await
        .unwrap();

    // The plain listener of the same gateway sees the same queue.
    let plain = Connection::connect(&plain_uri, ConnectionProperties::default()).await.unwrap();
    let plain_channel = plain.create_channel().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        if let Some(m) = plain_channel.basic_get("secure".into(), BasicGetOptions { no_ack: true }).await.unwrap() {
            break m;
        }
        assert!(Instant::now() < deadline, "the message published over AMQPS never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(message.delivery.data, b"over tls");

    // A plaintext client on the AMQPS port, and a TLS client on the plain one, fail without hanging.
    let wrong_port = format!("amqp://admin:{ADMIN_PASSWORD}@{tls_addr}/%2f");
    let plain_on_tls = Connection::connect(&wrong_port, ConnectionProperties::default());
    assert!(tokio::time::timeout(Duration::from_secs(10), plain_on_tls).await.unwrap().is_err());
    let tls_on_plain = format!("amqps://admin:{ADMIN_PASSWORD}@localhost:{}/%2f", gateway.local_addr().port());
    let tls_on_plain =
        Connection::connect_with_config(&tls_on_plain, ConnectionProperties::default(), trust(), runtime());
    assert!(tokio::time::timeout(Duration::from_secs(10), tls_on_plain).await.unwrap().is_err());

    secure.close(200, "bye".into()).await.unwrap();
    plain.close(200, "bye".into()).await.unwrap();
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}
