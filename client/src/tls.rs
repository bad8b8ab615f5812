//! The rustls client configurations for QUIC and for TLS over TCP: the ring provider only, roots from a PEM file
//! (or, for TCP, Mozilla's public roots when none is given), ALPN `callboard/1`.

use std::path::Path;
use std::sync::Arc;

use callboard_protocol::wire;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::{ClientError, Result};

/// ALPN protocol the Callboard QUIC gateway speaks.
pub const ALPN: &[u8] = b"callboard/1";

/// A rustls client configuration trusting the certificates in the PEM file `ca_cert`.
pub fn rustls_config(ca_cert: &Path) -> Result<rustls::ClientConfig> {
    with_roots(file_roots(ca_cert)?)
}

/// The rustls client configuration of [`crate::Transport::Tls`]: trusting the certificates in `ca_cert`, or
/// Mozilla's set of public roots without one.
pub fn tcp_tls_config(ca_cert: Option<&Path>) -> Result<rustls::ClientConfig> {
    let roots = match ca_cert {
        Some(path) => file_roots(path)?,
        None => rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
    };
    with_roots(roots)
}

fn file_roots(ca_cert: &Path) -> Result<rustls::RootCertStore> {
    let tls = |what: &str, e: &dyn std::fmt::Display| ClientError::Tls(format!("{what} {}: {e}", ca_cert.display()));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_cert).map_err(|e| tls("cannot read", &e))?;
    for cert in certs {
        let cert = cert.map_err(|e| tls("bad certificate in", &e))?;
        roots.add(cert).map_err(|e| tls("unusable certificate in", &e))?;
    }
    if roots.is_empty() {
        return Err(ClientError::Tls(format!("no certificate in {}", ca_cert.display())));
    }
    Ok(roots)
}

fn with_roots(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// A quinn client configuration trusting the certificates in `ca_cert`.
pub fn quic_config(ca_cert: &Path) -> Result<quinn::ClientConfig> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(rustls_config(ca_cert)?)
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    // Flow-control windows and MTU discovery sized for 1 MiB batches (the same values the gateway uses).
    transport
        .stream_receive_window(quinn::VarInt::from_u32(wire::QUIC_STREAM_WINDOW))
        .receive_window(quinn::VarInt::from_u32(wire::QUIC_CONNECTION_WINDOW))
        .send_window(u64::from(wire::QUIC_CONNECTION_WINDOW));
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(wire::QUIC_MAX_UDP_PAYLOAD);
    transport.mtu_discovery_config(Some(mtu));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_empty_pem_is_a_tls_error() {
        assert!(matches!(rustls_config(Path::new("/nonexistent/ca.pem")), Err(ClientError::Tls(_))));
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        assert!(matches!(rustls_config(&empty), Err(ClientError::Tls(_))));
        assert!(matches!(tcp_tls_config(Some(&empty)), Err(ClientError::Tls(_))));
        assert!(tcp_tls_config(None).is_ok(), "the public roots need no file");
    }
}
