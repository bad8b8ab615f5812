//! Test fixture: a real broker in a temporary directory served by a TCP gateway (and optionally a QUIC one) on
//! 127.0.0.1 with an OS-chosen port.

#![allow(dead_code)]

pub mod proxy;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use callboard_actors::{Broker, BrokerConfig};
use callboard_client::{Client, ClientConfig, DurabilityPolicy, TopicConfig, Transport};
use callboard_gateways::{GatewayConfig, QuicGateway, TcpGateway, TlsSource};

/// The password of every fixture broker's `admin`.
pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// `config` logging in as the fixture's admin.
pub fn as_admin(config: ClientConfig) -> ClientConfig {
    config.with_password("admin", ADMIN_PASSWORD)
}

/// A running broker with its gateways.
pub struct Fixture {
    pub broker: Broker,
    pub tcp: Option<TcpGateway>,
    pub quic: Option<QuicGateway>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// A broker with a TCP gateway.
    pub async fn start() -> anyhow::Result<Fixture> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir()?;
        let config = BrokerConfig {
            arbiters: 2,
            admin_password: Some(callboard_actors::auth::Secret::new(ADMIN_PASSWORD)),
            ..BrokerConfig::with_data_dir(dir.path().join("data"))
        };
        let broker = Broker::start(config).await?;
        let tcp = TcpGateway::bind(([127, 0, 0, 1], 0).into(), broker.clone(), GatewayConfig::default()).await?;
        let addr = tcp.local_addr();
        Ok(Fixture { broker, tcp: Some(tcp), quic: None, addr, dir })
    }

    /// A broker with TCP and QUIC gateways.
    pub async fn start_with_quic() -> anyhow::Result<Fixture> {
        let mut f = Self::start().await?;
        let tls = TlsSource::SelfSigned { dir: f.dir.path().join("tls") };
        let quic =
            QuicGateway::bind(([127, 0, 0, 1], 0).into(), f.broker.clone(), GatewayConfig::default(), tls).await?;
        f.quic = Some(quic);
        Ok(f)
    }

    /// `host:port` of the TCP gateway.
    pub fn tcp_addr(&self) -> String {
        self.addr.to_string()
    }

    /// `host:port` of the QUIC gateway and the certificate to trust.
    pub fn quic_target(&self) -> (String, PathBuf) {
        let quic = self.quic.as_ref().expect("QUIC gateway");
        (quic.local_addr().to_string(), quic.certificate_path().to_path_buf())
    }

    /// A TCP client logged in as the admin.
    pub async fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::connect(as_admin(ClientConfig::tcp(self.tcp_addr()))).await?)
    }

    /// A QUIC client logged in as the admin.
    pub async fn quic_client(&self) -> anyhow::Result<Client> {
        let (addr, cert) = self.quic_target();
        Ok(Client::connect(as_admin(ClientConfig::new(Transport::quic(addr, cert)))).await?)
    }

    /// Stops the TCP gateway and binds a new one on the same port.
    pub async fn restart_tcp(&mut self) -> anyhow::Result<()> {
        if let Some(tcp) = self.tcp.take() {
            tcp.shutdown(Duration::from_secs(2)).await;
        }
        let tcp = TcpGateway::bind(self.addr, self.broker.clone(), GatewayConfig::default()).await?;
        self.tcp = Some(tcp);
        Ok(())
    }

    /// Stops the gateways and the broker.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(quic) = self.quic.take() {
            quic.shutdown(Duration::from_secs(2)).await;
        }
        if let Some(tcp) = self.tcp.take() {
            tcp.shutdown(Duration::from_secs(2)).await;
        }
        self.broker.shutdown().await?;
        Ok(())
    }
}

/// A topic configuration with `partitions` partitions that does not fsync (tests need no durability).
pub fn topic_config(partitions: u32) -> TopicConfig {
    TopicConfig { partitions, durability: DurabilityPolicy::Never, ..TopicConfig::default() }
}
