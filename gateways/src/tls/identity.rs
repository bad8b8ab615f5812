//! Where a TLS certificate comes from: [`TlsSource`] (a self-signed one generated on first start and reused
//! afterwards, or PEM files the operator configures), loading it into an [`Identity`] (with clear errors for a missing
//! file, an empty one or a key that does not match the certificate), and the QUIC gateway's rustls/quinn server
//! configuration, always built with the ring provider (never a process-wide default).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::error::GatewayError;

/// The ALPN protocol id of Callboard's QUIC protocol (also offered by the TCP listener with `--tcp-tls`).
pub const ALPN: &[u8] = b"callboard/1";

/// File name of the generated certificate inside a [`TlsSource::SelfSigned`] directory.
pub(crate) const SELF_SIGNED_CERT: &str = "quic-cert.pem";
/// File name of the generated private key inside a [`TlsSource::SelfSigned`] directory.
pub(crate) const SELF_SIGNED_KEY: &str = "quic-key.pem";

/// Where a TLS listener's certificate and key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// A self-signed certificate for `localhost`, `127.0.0.1` and `::1`, generated into `dir/quic-cert.pem` and
    /// `dir/quic-key.pem` (mode 0600) on first start and reused on later starts.
    SelfSigned {
        /// Directory holding the certificate and key (created when missing).
        dir: PathBuf,
    },
    /// PEM files: the certificate chain (leaf first) and its private key.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
}

/// The ring provider every Callboard TLS configuration uses.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A loaded certificate chain and key.
pub(crate) struct Identity {
    /// Certificate chain, leaf first.
    pub certs: Vec<CertificateDer<'static>>,
    /// Private key.
    pub key: PrivateKeyDer<'static>,
    /// The PEM file clients should trust.
    pub cert_path: PathBuf,
}

impl Identity {
    /// Loads (generating first when needed) the identity `source` describes.
    pub fn load(source: &TlsSource) -> Result<Identity, GatewayError> {
        match source {
            TlsSource::SelfSigned { dir } => {
                let (cert, key) = (dir.join(SELF_SIGNED_CERT), dir.join(SELF_SIGNED_KEY));
                if !(cert.is_file() && key.is_file()) {
                    generate_self_signed(dir, &cert, &key)?;
                }
                Identity::from_files(&cert, &key)
            }
            TlsSource::Files { cert, key } => Identity::from_files(cert, key),
        }
    }

    fn from_files(cert: &Path, key: &Path) -> Result<Identity, GatewayError> {
        for (what, path) in [("certificate", cert), ("private key", key)] {
            if !path.is_file() {
                return Err(GatewayError::Tls(format!("the TLS {what} file {} does not exist", path.display())));
            }
        }
        let pem_error = |path: &Path, e: rustls::pki_types::pem::Error| {
            GatewayError::Tls(format!("reading PEM from {}: {e}", path.display()))
        };
        let certs = CertificateDer::pem_file_iter(cert)
            .map_err(|e| pem_error(cert, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(cert, e))?;
        if certs.is_empty() {
            return Err(GatewayError::Tls(format!("no certificate in {}", cert.display())));
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
        Ok(Identity { certs, key: key_der, cert_path: cert.to_path_buf() })
    }

    /// The chain and its parsed key, checked to belong together (the key's public half is the leaf's).
    pub fn certified_key(self, provider: &CryptoProvider) -> Result<CertifiedKey, GatewayError> {
        let (cert, key) = (self.cert_path.display().to_string(), "its private key");
        CertifiedKey::from_der(self.certs, self.key, provider).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                GatewayError::Tls(format!("{key} does not match the certificate in {cert}"))
            }
            other => GatewayError::Tls(format!("the certificate in {cert} or {key} is unusable: {other}")),
        })
    }
}

/// Generates a self-signed certificate and key and writes them (each through a temporary file, then renamed).
fn generate_self_signed(dir: &Path, cert: &Path, key: &Path) -> Result<(), GatewayError> {
    callboard_actors::create_dir_all_synced(dir).map_err(|e| GatewayError::file("creating", dir, e))?;
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let generated = rcgen::generate_simple_self_signed(names).map_err(|e| GatewayError::Certificate(e.to_string()))?;
    write_file(key, generated.signing_key.serialize_pem().as_bytes(), true)?;
    write_file(cert, generated.cert.pem().as_bytes(), false)?;
    tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate");
    Ok(())
}

fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), GatewayError> {
    callboard_actors::replace_file(path, contents, private).map_err(|e| GatewayError::file("writing", path, e))
}

/// Flow-control windows and MTU discovery sized for 1 MiB batches (the same values the SDK uses).
pub(super) fn tune_transport(transport: &mut quinn::TransportConfig) {
    use callboard_protocol::wire::{QUIC_CONNECTION_WINDOW, QUIC_MAX_UDP_PAYLOAD, QUIC_STREAM_WINDOW};
    transport
        .stream_receive_window(quinn::VarInt::from_u32(QUIC_STREAM_WINDOW))
        .receive_window(quinn::VarInt::from_u32(QUIC_CONNECTION_WINDOW))
        .send_window(u64::from(QUIC_CONNECTION_WINDOW));
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(QUIC_MAX_UDP_PAYLOAD);
    transport.mtu_discovery_config(Some(mtu));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_identity_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let source = TlsSource::SelfSigned { dir: dir.path().join("tls") };
        let first = Identity::load(&source).unwrap();
        let pem = std::fs::read(&first.cert_path).unwrap();
        let second = Identity::load(&source).unwrap();
        assert_eq!(second.certs, first.certs);
        assert_eq!(std::fs::read(&second.cert_path).unwrap(), pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("tls").join(SELF_SIGNED_KEY)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let tls = super::super::ServerTls::load(source).unwrap();
        assert!(tls.quic_server_config(&crate::config::GatewayConfig::default()).is_ok());
    }

    #[test]
    fn bad_files_are_tls_errors() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a pem").unwrap();
        let source = TlsSource::Files { cert: junk.clone(), key: junk };
        assert!(matches!(Identity::load(&source), Err(GatewayError::Tls(_))));
    }

    #[test]
    fn missing_files_and_foreign_keys_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsSource::Files { cert: dir.path().join("nope.pem"), key: dir.path().join("nope.key") };
        let err = Identity::load(&missing).err().unwrap().to_string();
        assert!(err.contains("does not exist") && err.contains("nope.pem"), "{err}");

        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        Identity::load(&TlsSource::SelfSigned { dir: a.clone() }).unwrap();
        Identity::load(&TlsSource::SelfSigned { dir: b.clone() }).unwrap();
        let mixed = TlsSource::Files { cert: a.join(SELF_SIGNED_CERT), key: b.join(SELF_SIGNED_KEY) };
        let err = Identity::load(&mixed).unwrap().certified_key(&provider()).err().unwrap().to_string();
        assert!(err.contains("does not match"), "{err}");
        let matching = TlsSource::Files { cert: a.join(SELF_SIGNED_CERT), key: a.join(SELF_SIGNED_KEY) };
        assert!(Identity::load(&matching).unwrap().certified_key(&provider()).is_ok());
    }
}
