//! The `callboard serve` configuration file: [`FileConfig`], parsed from TOML by [`parse_file_config`].

use std::path::PathBuf;

use serde::Deserialize;

/// The configuration file of `callboard serve`: the same keys as its flags, every one optional; an unknown key is
/// an error.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// TCP listener address, or `off`.
    pub tcp: Option<String>,
    /// QUIC listener address, or `off`.
    pub quic: Option<String>,
    /// HTTP listener address, or `off`.
    pub http: Option<String>,
    /// AMQP listener address, or `off`.
    pub amqp: Option<String>,
    /// QUIC certificate (PEM).
    pub quic_cert: Option<PathBuf>,
    /// QUIC private key (PEM).
    pub quic_key: Option<PathBuf>,
    /// Most client connections per listener.
    pub max_connections: Option<usize>,
    /// Bytes one TCP/QUIC session may hold in requests and unwritten answers.
    pub max_session_bytes: Option<usize>,
    /// Bytes all TCP/QUIC sessions together may hold.
    pub max_shared_bytes: Option<usize>,
    /// Most partitions in the broker (default: derived from the open-file limit).
    pub max_partitions: Option<usize>,
    /// Certificate chain (PEM) of the TCP, HTTPS and AMQPS listeners (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The TCP listener speaks TLS.
    pub tcp_tls: Option<bool>,
    /// The HTTP listener speaks HTTPS.
    pub http_tls: Option<bool>,
    /// AMQPS listener address, or `off`.
    pub amqps: Option<String>,
    /// Serve `/metrics` without credentials.
    pub metrics_public: Option<bool>,
    /// Master key file of encryption at rest.
    pub master_key_file: Option<PathBuf>,
}

/// Parses the text of a configuration file.
pub fn parse_file_config(text: &str) -> Result<FileConfig, toml::de::Error> {
    toml::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_unknown_keys_are_errors() {
        let c = parse_file_config("tcp = \"off\"\nmax_connections = 5\n").expect("parse");
        assert_eq!(c, FileConfig { tcp: Some("off".into()), max_connections: Some(5), ..FileConfig::default() });
        assert!(parse_file_config("tpc = \"127.0.0.1:1\"").is_err());
        assert!(parse_file_config("max_connections = -1").is_err());
        let c = parse_file_config("tcp_tls = true\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\namqps = \"off\"\n")
            .expect("parse");
        assert_eq!((c.tcp_tls, c.tls_cert, c.amqps), (Some(true), Some("c.pem".into()), Some("off".into())));
        assert!(parse_file_config("tcp_tls = \"yes\"").is_err());
    }
}
