//! The options every client command shares (`--server`, `--quic`, `--ca`, `--stream`, `--output`, and the login:
//! `--token`, `--user`, `--password`, `--data-dir`) and the connection they describe.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use callboard::protocol::wire::DEFAULT_MAX_FRAME;
use callboard_client::{Client, ClientConfig, ErrorCode, Transport};
use clap::{Args, ValueEnum};

use super::credentials;

/// Where and how a client command connects.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// The broker's TCP address.
    #[arg(long, global = true, env = "CALLBOARD_SERVER", default_value = "127.0.0.1:7070")]
    pub server: String,
    /// Connect over QUIC to this address instead of TCP (needs --ca).
    #[arg(long, global = true, env = "CALLBOARD_QUIC_SERVER")]
    pub quic: Option<String>,
    /// PEM certificate to trust for QUIC or --tls (the server's, e.g. callboard-data/tls/quic-cert.pem).
    #[arg(long, global = true, env = "CALLBOARD_CA")]
    pub ca: Option<PathBuf>,
    /// Stream (namespace) the command works in.
    #[arg(long, global = true, env = "CALLBOARD_STREAM", default_value = "default")]
    pub stream: String,
    /// Output format of admin commands.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Log in with this personal access token (`cbt_…`).
    #[arg(long, global = true, env = "CALLBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Log in as this user (with --password; prompted on a terminal when omitted).
    #[arg(long, global = true, env = "CALLBOARD_USER")]
    pub user: Option<String>,
    /// The password of --user.
    #[arg(long, global = true, env = "CALLBOARD_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// The broker's data directory, whose admin-credentials file logs in to a broker on this machine when no other
    /// credentials are given.
    #[arg(long, global = true, env = "CALLBOARD_DATA_DIR", default_value = "callboard-data")]
    pub data_dir: PathBuf,
    /// Connect to --server with TLS (a broker started with --tcp-tls); trusts --ca, or the public roots without it.
    #[arg(long, global = true, env = "CALLBOARD_TLS")]
    pub tls: bool,
    /// Name the server's TLS certificate must carry [default: the host of --server].
    #[arg(long, global = true, env = "CALLBOARD_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
}

/// Output format of admin commands.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Human-readable tables.
    Table,
    /// JSON.
    Json,
}

impl ClientArgs {
    /// The SDK configuration these options describe.
    pub fn config(&self, client_id: &str) -> anyhow::Result<ClientConfig> {
        let credentials = credentials::resolve(&self.given())?;
        Ok(ClientConfig { credentials, ..self.anonymous_config(client_id)? })
    }

    /// The SDK configuration without credentials (for `callboard login`, which brings its own).
    pub fn anonymous_config(&self, client_id: &str) -> anyhow::Result<ClientConfig> {
        let transport = match &self.quic {
            Some(addr) => {
                let ca = self.ca.clone().context("--quic needs --ca FILE (the server's certificate, PEM)")?;
                Transport::Quic { addr: addr.clone(), ca_cert: ca, server_name: "localhost".into() }
            }
            None => self.tcp_transport(),
        };
        Ok(ClientConfig {
            client_id: client_id.into(),
            transport,
            request_timeout: Duration::from_secs(30),
            max_frame: DEFAULT_MAX_FRAME,
            max_decompressed_bytes: callboard_client::DEFAULT_MAX_DECOMPRESSED,
            credentials: None,
        })
    }

    /// Connects, handshakes and logs in.
    pub async fn connect(&self, client_id: &str) -> anyhow::Result<Client> {
        self.connect_with(self.config(client_id)?).await
    }

    /// Connects with `config` (this command's target), explaining a refused login.
    pub async fn connect_with(&self, config: ClientConfig) -> anyhow::Result<Client> {
        let target = self.quic.as_deref().map_or_else(|| self.server.clone(), |q| format!("{q} (QUIC)"));
        let anonymous = config.credentials.is_none();
        let client = Client::connect(config).await.with_context(|| format!("could not connect to {target}"))?;
        if anonymous {
            // Without credentials every request but the handshake is refused: say how to log in instead.
            match client.whoami().await {
                Err(e) if e.code() == Some(ErrorCode::Unauthenticated) => anyhow::bail!(
                    "{target} needs a login: give --token, or --user and --password (CALLBOARD_TOKEN, \
                     CALLBOARD_USER, CALLBOARD_PASSWORD), or run `callboard login`; on the broker's own machine the \
                     admin-credentials file in --data-dir (default ./callboard-data) is used when readable"
                ),
                _ => {}
            }
        }
        Ok(client)
    }

    /// The key of this server in `credentials.toml`.
    pub fn server_key(&self) -> String {
        self.quic.as_deref().map_or_else(|| self.server.clone(), |q| format!("quic://{q}"))
    }

    fn given(&self) -> credentials::Given<'_> {
        let addr = self.quic.as_deref().unwrap_or(&self.server);
        credentials::Given {
            token: self.token.as_deref(),
            user: self.user.as_deref(),
            password: self.password.as_deref(),
            data_dir: &self.data_dir,
            server: self.server_key(),
            host: credentials::host_of(addr),
        }
    }
}

impl ClientArgs {
    /// Plain TCP to --server, or TLS over it with --tls.
    fn tcp_transport(&self) -> Transport {
        if !self.tls {
            return Transport::Tcp { addr: self.server.clone() };
        }
        let mut transport = Transport::tls(self.server.clone(), self.ca.clone());
        if let (Transport::Tls { server_name, .. }, Some(name)) = (&mut transport, &self.tls_server_name) {
            server_name.clone_from(name);
        }
        transport
    }
}
