//! QUIC test helpers: a gateway with a self-signed certificate, a quinn client endpoint trusting it, and raw-frame
//! clients on bidirectional streams. Used through `#[path = "common/quic.rs"] mod quic_client;` next to `mod common;`.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use callboard_actors::Broker;
use callboard_gateways::{ALPN, GatewayConfig, QuicGateway, TlsSource};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::common::RawClient;

/// A raw-frame client on one QUIC stream.
pub type QuicClient = RawClient<quinn::RecvStream, quinn::SendStream>;

/// A QUIC gateway on 127.0.0.1:0 with a self-signed certificate in `dir/tls`.
pub async fn quic_gateway(broker: &Broker, dir: &Path, config: GatewayConfig) -> QuicGateway {
    let tls = TlsSource::SelfSigned { dir: dir.join("tls") };
    QuicGateway::bind("127.0.0.1:0".parse().unwrap(), broker.clone(), config, tls).await.unwrap()
}

/// A client endpoint trusting the PEM certificate at `cert`.
pub fn client_endpoint(cert: &Path) -> quinn::Endpoint {
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(der.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    endpoint
}

/// A QUIC connection to `addr` (server name `localhost`).
pub async fn connect(endpoint: &quinn::Endpoint, addr: SocketAddr) -> quinn::Connection {
    endpoint.connect(addr, "localhost").unwrap().await.unwrap()
}

/// A raw client on a new stream of `conn` (nothing sent yet).
pub async fn open(conn: &quinn::Connection) -> QuicClient {
    let (send, recv) = conn.open_bi().await.unwrap();
    RawClient::new(recv, send)
}
