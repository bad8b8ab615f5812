//! [`ServerTls`]: the certificate the TCP, HTTPS and AMQPS listeners serve, shared by all of them and re-read on
//! demand ([`ServerTls::reload`], which `callboard serve` calls on SIGHUP) without dropping a connection: every
//! rustls configuration built from it resolves the certificate per handshake through [`Resolver`], which holds the
//! current one behind a lock. A new file that cannot be loaded leaves the old certificate in service.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tracing::info;

use super::identity::{Identity, TlsSource, provider};
use crate::error::GatewayError;

/// A reloadable server certificate. Cheap to clone: clones share the certificate, so one reload reaches every
/// listener built from any of them.
#[derive(Debug, Clone)]
pub struct ServerTls {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source: TlsSource,
    cert_path: PathBuf,
    provider: Arc<CryptoProvider>,
    resolver: Arc<Resolver>,
}

/// Hands rustls the current certificate for every handshake.
#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner)))
    }
}

impl ServerTls {
    /// Loads the certificate and key `source` describes (generating the self-signed one on first start). Blocking
    /// file I/O: call it from a blocking context (`spawn_blocking`) inside a runtime.
    ///
    /// Fails with [`GatewayError::Tls`] when a file is missing or unreadable, holds no certificate or key, or the key
    /// does not match the certificate.
    pub fn load(source: TlsSource) -> Result<ServerTls, GatewayError> {
        let provider = provider();
        let identity = Identity::load(&source)?;
        let cert_path = identity.cert_path.clone();
        let key = identity.certified_key(&provider)?;
        let resolver = Arc::new(Resolver { current: RwLock::new(Arc::new(key)) });
        Ok(ServerTls { inner: Arc::new(Inner { source, cert_path, provider, resolver }) })
    }

    /// Re-reads the certificate and key from where they were loaded; new handshakes get the new certificate, open
    /// connections keep theirs. On error (the error says why) the certificate in service stays. Blocking file I/O.
    pub fn reload(&self) -> Result<(), GatewayError> {
        let key = Identity::load(&self.inner.source)?.certified_key(&self.inner.provider)?;
        *self.inner.resolver.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        info!(cert = %self.inner.cert_path.display(), "TLS certificate reloaded");
        Ok(())
    }

    /// The PEM certificate clients should trust (the generated or configured one).
    pub fn certificate_path(&self) -> &Path {
        &self.inner.cert_path
    }

    /// The DER leaf certificate in service now.
    pub fn current_certificate(&self) -> Vec<u8> {
        let current = self.inner.resolver.current.read().unwrap_or_else(PoisonError::into_inner);
        current.cert.first().map(|c| c.to_vec()).unwrap_or_default()
    }

    /// A rustls server configuration (TLS 1.2 and 1.3, ring, no client certificates) serving this certificate and
    /// offering the ALPN protocols `alpn` (none: no ALPN).
    pub(crate) fn server_config(&self, alpn: &[&[u8]]) -> Result<rustls::ServerConfig, GatewayError> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.inner.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| GatewayError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&self.inner.resolver) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    /// The quinn server configuration serving this certificate (so a reload reaches new QUIC connections too): TLS
    /// 1.3 only, ALPN [`super::ALPN`], and the connection idle timeout of `config`.
    pub(crate) fn quic_server_config(
        &self,
        config: &crate::config::GatewayConfig,
    ) -> Result<quinn::ServerConfig, GatewayError> {
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.inner.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| GatewayError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&self.inner.resolver) as Arc<dyn ResolvesServerCert>);
        tls.alpn_protocols = vec![super::ALPN.to_vec()];
        let crypto =
            quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| GatewayError::Tls(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.max_idle_timeout(quinn::IdleTimeout::try_from(config.idle_timeout).ok());
        super::identity::tune_transport(&mut transport);
        server.transport_config(Arc::new(transport));
        Ok(server)
    }

    /// A tokio acceptor over [`ServerTls::server_config`].
    pub(crate) fn acceptor(&self, alpn: &[&[u8]]) -> Result<tokio_rustls::TlsAcceptor, GatewayError> {
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(self.server_config(alpn)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::identity::{SELF_SIGNED_CERT, SELF_SIGNED_KEY};

    #[test]
    fn reload_swaps_the_certificate_and_a_bad_file_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        Identity::load(&TlsSource::SelfSigned { dir: one.clone() }).unwrap();
        Identity::load(&TlsSource::SelfSigned { dir: two.clone() }).unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::copy(one.join(SELF_SIGNED_CERT), &cert).unwrap();
        std::fs::copy(one.join(SELF_SIGNED_KEY), &key).unwrap();
        let tls = ServerTls::load(TlsSource::Files { cert: cert.clone(), key: key.clone() }).unwrap();
        let first = tls.current_certificate();
        assert!(tls.server_config(&[b"x"]).is_ok());

        // Only the certificate replaced: the old key no longer matches, so the old pair stays in service.
        std::fs::copy(two.join(SELF_SIGNED_CERT), &cert).unwrap();
        let err = tls.reload().unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");
        assert_eq!(tls.current_certificate(), first);

        std::fs::copy(two.join(SELF_SIGNED_KEY), &key).unwrap();
        tls.reload().unwrap();
        let second = tls.current_certificate();
        assert_ne!(second, first);
        assert_eq!(tls.clone().current_certificate(), second, "clones share the certificate");

        std::fs::write(&cert, "garbage").unwrap();
        assert!(tls.reload().is_err());
        assert_eq!(tls.current_certificate(), second);
    }
}
