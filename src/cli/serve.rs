//! `callboard serve`: opens the data directory, starts the broker and its listeners, prints one `listening <name>
//! <addr>` line per bound listener and then `ready` on stdout, and shuts down gracefully on SIGINT or SIGTERM. On
//! SIGHUP it re-reads the TLS certificate and key of the TCP, HTTPS and AMQPS listeners (a bad file is logged and the
//! certificate in service kept).
//!
//! Settings come from built-in defaults, then a TOML file (`--config`), then `CALLBOARD_*` environment variables,
//! then flags: each overrides the one before.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use callboard::config::{FileConfig, parse_file_config};
use callboard::{Broker, BrokerConfig};
use callboard_gateways::http::LATENCY_BUCKETS;
use callboard_gateways::{
    AmqpConfig, AmqpGateway, GatewayConfig, HttpConfig, HttpGateway, Node, QuicGateway, ServerTls, TcpGateway,
    TlsSource,
};
use clap::Args;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing::{info, warn};

/// Options of `callboard serve`.
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML configuration file (keys: data_dir, tcp, quic, http, amqp, quic_cert, quic_key, max_connections,
    /// max_session_bytes, max_shared_bytes, max_partitions, tls_cert, tls_key, tcp_tls, http_tls, amqps,
    /// metrics_public, master_key_file).
    #[arg(long, env = "CALLBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [default: ./callboard-data].
    #[arg(long, env = "CALLBOARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TCP listener address, or `off` [default: 127.0.0.1:7070].
    #[arg(long, env = "CALLBOARD_TCP")]
    tcp: Option<String>,
    /// QUIC listener address, or `off` [default: 127.0.0.1:7071].
    #[arg(long, env = "CALLBOARD_QUIC")]
    quic: Option<String>,
    /// HTTP listener address (REST API, metrics, web console), or `off` [default: 127.0.0.1:7080].
    #[arg(long, env = "CALLBOARD_HTTP")]
    http: Option<String>,
    /// AMQP 0-9-1 listener address, or `off` [default: 127.0.0.1:5672] (not built yet).
    #[arg(long, env = "CALLBOARD_AMQP")]
    amqp: Option<String>,
    /// QUIC certificate (PEM); without it a self-signed one is made in DATA_DIR/tls on first start.
    #[arg(long, env = "CALLBOARD_QUIC_CERT", requires = "quic_key")]
    quic_cert: Option<PathBuf>,
    /// QUIC private key (PEM).
    #[arg(long, env = "CALLBOARD_QUIC_KEY", requires = "quic_cert")]
    quic_key: Option<PathBuf>,
    /// Most client connections per listener [default: 1024].
    #[arg(long, env = "CALLBOARD_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Bytes one TCP/QUIC session may hold in requests in flight and unwritten answers before it stops reading
    /// (64 KiB to 64 GiB) [default: 67108864 = 64 MiB].
    #[arg(long, env = "CALLBOARD_MAX_SESSION_BYTES")]
    max_session_bytes: Option<usize>,
    /// Bytes all TCP/QUIC sessions together may hold (at least --max-session-bytes, at most 64 GiB)
    /// [default: 536870912 = 512 MiB].
    #[arg(long, env = "CALLBOARD_MAX_SHARED_BYTES")]
    max_shared_bytes: Option<usize>,
    /// Most partitions in the broker (1 to 1 000 000) [default: (open-file hard limit − 2048) / 4].
    #[arg(long, env = "CALLBOARD_MAX_PARTITIONS")]
    max_partitions: Option<usize>,
    /// Master key of encryption at rest (32 raw bytes, 64 hex digits or base64; see `callboard key generate`);
    /// else the key itself from CALLBOARD_MASTER_KEY. Without one, encrypted topics stay offline.
    #[arg(long, env = "CALLBOARD_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Serve /metrics without credentials (otherwise it needs the read_metrics permission).
    #[arg(long, env = "CALLBOARD_METRICS_PUBLIC")]
    metrics_public: bool,
    /// TLS certificate chain (PEM, leaf first) of the TCP (--tcp-tls), HTTPS (--http-tls) and AMQPS (--amqps)
    /// listeners, and of QUIC unless --quic-cert is given; re-read on SIGHUP [default: the self-signed certificate
    /// in DATA_DIR/tls, made on first start].
    #[arg(long, env = "CALLBOARD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, env = "CALLBOARD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The TCP listener speaks TLS (clients: --tls, SDK Transport::Tls).
    #[arg(long, env = "CALLBOARD_TCP_TLS")]
    tcp_tls: bool,
    /// The HTTP listener speaks HTTPS (REST API, metrics, console).
    #[arg(long, env = "CALLBOARD_HTTP_TLS")]
    http_tls: bool,
    /// AMQPS listener address (AMQP 0-9-1 over TLS, next to or instead of --amqp; RabbitMQ uses port 5671), or
    /// `off` [default: off].
    #[arg(long, env = "CALLBOARD_AMQPS")]
    amqps: Option<String>,
}

/// Settings after merging defaults, file, environment and flags.
#[derive(Debug)]
struct Settings {
    data_dir: PathBuf,
    tcp: Option<SocketAddr>,
    quic: Option<SocketAddr>,
    http: Option<SocketAddr>,
    amqp: Option<SocketAddr>,
    amqps: Option<SocketAddr>,
    tls: Option<(PathBuf, PathBuf)>,
    listener_tls: ListenerTls,
    gateway: GatewayConfig,
    max_partitions: Option<usize>,
    master_key: Option<callboard::actors::encryption::MasterKey>,
    metrics_public: bool,
}

/// Where the TCP, HTTPS and AMQPS listeners' certificate comes from, and which listeners use it.
#[derive(Debug, Default)]
struct ListenerTls {
    files: Option<(PathBuf, PathBuf)>,
    tcp: bool,
    http: bool,
}

impl ListenerTls {
    /// The configured PEM files, or the self-signed certificate in `data_dir/tls`.
    fn source(&self, data_dir: &Path) -> TlsSource {
        match &self.files {
            Some((cert, key)) => TlsSource::Files { cert: cert.clone(), key: key.clone() },
            None => TlsSource::SelfSigned { dir: data_dir.join("tls") },
        }
    }
}

/// Largest `--max-partitions` accepted.
const MAX_PARTITIONS: usize = 1_000_000;

fn listener(name: &str, value: Option<String>, default: &str) -> anyhow::Result<Option<SocketAddr>> {
    let value = value.unwrap_or_else(|| default.to_string());
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let addr = value.parse().with_context(|| format!("--{name} {value:?} is not an address like 127.0.0.1:7070"))?;
    Ok(Some(addr))
}

impl Settings {
    fn merge(args: ServeArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let mut gateway = GatewayConfig::default();
        if let Some(n) = args.max_connections.or(file.max_connections) {
            gateway.max_connections = n;
        }
        if let Some(n) = args.max_session_bytes.or(file.max_session_bytes) {
            gateway.max_session_bytes = n;
        }
        if let Some(n) = args.max_shared_bytes.or(file.max_shared_bytes) {
            gateway.shared_budget = callboard_gateways::ByteBudget::new(n);
        }
        gateway.validate().context("the session byte budgets")?;
        let max_partitions = args.max_partitions.or(file.max_partitions);
        if let Some(n) = max_partitions
            && !(1..=MAX_PARTITIONS).contains(&n)
        {
            anyhow::bail!("max_partitions {n} is outside 1..={MAX_PARTITIONS}");
        }
        let tls_files = match (args.tls_cert.or(file.tls_cert), args.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together"),
        };
        let tls = match (args.quic_cert.or(file.quic_cert), args.quic_key.or(file.quic_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => tls_files.clone(),
            _ => anyhow::bail!("quic_cert and quic_key go together"),
        };
        let settings = Settings {
            data_dir: args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("callboard-data")),
            tcp: listener("tcp", args.tcp.or(file.tcp), "127.0.0.1:7070")?,
            quic: listener("quic", args.quic.or(file.quic), "127.0.0.1:7071")?,
            http: listener("http", args.http.or(file.http), "127.0.0.1:7080")?,
            amqp: listener("amqp", args.amqp.or(file.amqp), "127.0.0.1:5672")?,
            amqps: listener("amqps", args.amqps.or(file.amqps), "off")?,
            tls,
            listener_tls: ListenerTls {
                files: tls_files,
                tcp: args.tcp_tls || file.tcp_tls == Some(true),
                http: args.http_tls || file.http_tls == Some(true),
            },
            gateway,
            max_partitions,
            master_key: super::key::master_key(args.master_key_file.or(file.master_key_file).as_deref())?,
            metrics_public: args.metrics_public || file.metrics_public == Some(true),
        };
        if settings.listener_tls.tcp && settings.tcp.is_none() {
            anyhow::bail!("--tcp-tls needs a TCP listener (--tcp is off)");
        }
        if settings.listener_tls.http && settings.http.is_none() {
            anyhow::bail!("--http-tls needs an HTTP listener (--http is off)");
        }
        Ok(settings)
    }

    /// The HTTP gateway's limits: `max_connections` applies to it like to every listener.
    fn http_config(&self) -> HttpConfig {
        HttpConfig {
            max_connections: self.gateway.max_connections,
            metrics_public: self.metrics_public,
            ..HttpConfig::default()
        }
    }

    /// Whether any of the TCP, HTTPS and AMQPS listeners speaks TLS.
    fn needs_listener_tls(&self) -> bool {
        self.listener_tls.tcp || self.listener_tls.http || self.amqps.is_some()
    }
}

/// Loads the TCP/HTTPS/AMQPS certificate (checked: files present, key matching the certificate).
async fn load_listener_tls(source: TlsSource) -> anyhow::Result<ServerTls> {
    let shown = match &source {
        TlsSource::Files { cert, key } => format!("{} and {}", cert.display(), key.display()),
        TlsSource::SelfSigned { dir } => format!("the self-signed certificate in {}", dir.display()),
    };
    tokio::task::spawn_blocking(move || ServerTls::load(source))
        .await
        .context("loading the TLS certificate stopped")?
        .with_context(|| format!("loading the TLS certificate ({shown})"))
}

/// Warns about a listener that serves the network in plaintext.
fn warn_if_exposed(name: &str, addr: SocketAddr, tls: bool) {
    let loopback = match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    };
    if !tls && !loopback {
        warn!(listener = name, %addr, "listening beyond loopback without TLS: its traffic, passwords included, is readable");
    }
}

fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_file_config(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::merge(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("callboard-io").build()?;
    runtime.block_on(serve(settings))?;
    Ok(ExitCode::SUCCESS)
}

/// How often the Prometheus recorder's upkeep runs.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Installs the global Prometheus recorder (latencies as histograms) and runs its upkeep.
fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .context("configuring the Prometheus histogram buckets")?
        .install_recorder()
        .context("installing the Prometheus recorder")?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(METRICS_UPKEEP);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Metrics are recorded from the start (storage opening included) when something can scrape them.
    let prometheus = match settings.http {
        Some(_) => Some(install_metrics()?),
        None => None,
    };
    let config = BrokerConfig {
        max_partitions: settings.max_partitions,
        // Read from the environment only (never a flag: flags show in `ps`).
        admin_password: std::env::var("CALLBOARD_ADMIN_PASSWORD").ok().map(callboard::actors::auth::Secret::new),
        master_key: settings.master_key.clone(),
        ..BrokerConfig::with_data_dir(&settings.data_dir)
    };
    if let Some(key) = &settings.master_key {
        info!(fingerprint = key.fingerprint(), "master key loaded for encrypted topics");
    }
    let broker = Broker::start(config)
        .await
        .with_context(|| format!("starting the broker in {}", settings.data_dir.display()))?;
    let result = serve_with(&broker, &settings, prometheus).await;
    broker.shutdown().await.context("shutting the broker down")?;
    info!("stopped");
    result
}

async fn serve_with(broker: &Broker, settings: &Settings, prometheus: Option<PrometheusHandle>) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    let node = Node::new();
    let tls = match settings.needs_listener_tls() {
        true => Some(load_listener_tls(settings.listener_tls.source(&settings.data_dir)).await?),
        false => None,
    };
    if let Some(tls) = &tls {
        info!(certificate = %tls.certificate_path().display(), "TLS clients trust this certificate");
    }
    let tls_for = |on: bool| tls.clone().filter(|_| on);
    let tcp = match settings.tcp {
        Some(addr) => {
            warn_if_exposed("tcp", addr, settings.listener_tls.tcp);
            let gw = match tls_for(settings.listener_tls.tcp) {
                Some(tls) => TcpGateway::bind_tls(addr, broker.clone(), settings.gateway.clone(), tls).await,
                None => TcpGateway::bind(addr, broker.clone(), settings.gateway.clone()).await,
            }
            .with_context(|| format!("binding TCP on {addr}"))?;
            lines.push(format!("listening tcp {}", gw.local_addr()));
            node.add_listener("tcp", gw.local_addr(), Some(gw.connections()));
            Some(gw)
        }
        None => None,
    };
    let quic = match settings.quic {
        Some(addr) => {
            let tls = match &settings.tls {
                Some((cert, key)) => TlsSource::Files { cert: cert.clone(), key: key.clone() },
                None => TlsSource::SelfSigned { dir: settings.data_dir.join("tls") },
            };
            let gw = QuicGateway::bind(addr, broker.clone(), settings.gateway.clone(), tls)
                .await
                .with_context(|| format!("binding QUIC on {addr}"))?;
            info!(certificate = %gw.certificate_path().display(), "QUIC clients trust this certificate");
            lines.push(format!("listening quic {}", gw.local_addr()));
            node.add_listener("quic", gw.local_addr(), Some(gw.connections()));
            Some(gw)
        }
        None => None,
    };
    let amqps = settings.amqps.zip(tls.clone());
    let amqp = match (settings.amqp, amqps) {
        (None, None) => None,
        (plain, secure) => {
            if let Some(addr) = plain {
                warn_if_exposed("amqp", addr, false);
            }
            let shown = [plain, secure.as_ref().map(|s| s.0)].into_iter().flatten().map(|a| a.to_string());
            let shown = shown.collect::<Vec<_>>().join(" and ");
            let config = AmqpConfig { max_connections: settings.gateway.max_connections, ..AmqpConfig::default() };
            let gw = AmqpGateway::bind_listeners(plain, secure, broker.clone(), config)
                .await
                .with_context(|| format!("binding AMQP on {shown}"))?;
            if plain.is_some() {
                lines.push(format!("listening amqp {}", gw.local_addr()));
                node.add_listener("amqp", gw.local_addr(), Some(gw.connections()));
            }
            if let Some((addr, connections)) = gw.tls_listener() {
                lines.push(format!("listening amqps {addr}"));
                node.add_listener("amqps", addr, Some(connections));
            }
            Some(gw)
        }
    };
    let http = match settings.http {
        Some(addr) => {
            warn_if_exposed("http", addr, settings.listener_tls.http);
            let config = HttpConfig { tls: tls_for(settings.listener_tls.http), ..settings.http_config() };
            let gw = HttpGateway::bind(addr, broker.clone(), config, node.clone(), prometheus)
                .await
                .with_context(|| format!("binding HTTP on {addr}"))?;
            lines.push(format!("listening http {}", gw.local_addr()));
            node.add_listener("http", gw.local_addr(), Some(gw.connections()));
            Some(gw)
        }
        None => None,
    };
    // Storage is open and every listener is bound.
    node.set_ready(true);
    {
        let mut out = std::io::stdout().lock();
        for line in &lines {
            writeln!(out, "{line}")?;
        }
        writeln!(out, "ready")?;
        out.flush()?;
    }
    info!(data_dir = %settings.data_dir.display(), "ready");
    // Every certificate SIGHUP re-reads: the TCP/HTTPS/AMQPS listeners' and QUIC's (the same files when QUIC has no
    // --quic-cert of its own; re-reading them twice is harmless).
    let reloadable: Vec<ServerTls> = tls.iter().cloned().chain(quic.as_ref().map(|q| q.tls().clone())).collect();
    wait_for_signal(&reloadable).await?;
    info!("stopping: finishing in-flight requests");
    node.set_ready(false);
    let grace = Duration::from_secs(10);
    if let Some(gw) = http {
        gw.shutdown(grace).await;
    }
    if let Some(gw) = tcp {
        gw.shutdown(grace).await;
    }
    if let Some(gw) = quic {
        gw.shutdown(grace).await;
    }
    if let Some(gw) = amqp {
        gw.shutdown(grace).await;
    }
    Ok(())
}

/// Waits for SIGINT or SIGTERM; reloads the listeners' certificates on every SIGHUP meanwhile.
async fn wait_for_signal(tls: &[ServerTls]) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => return Ok(r?),
            _ = term.recv() => return Ok(()),
            _ = hup.recv() => reload(tls).await,
        }
    }
}

/// SIGHUP: re-reads each TLS certificate and key; a failure keeps that certificate in service.
async fn reload(tls: &[ServerTls]) {
    if tls.is_empty() {
        info!("SIGHUP: no listener uses TLS; nothing to reload");
    }
    for tls in tls {
        let tls = tls.clone();
        match tokio::task::spawn_blocking(move || tls.reload()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "SIGHUP: the new TLS certificate is unusable; keeping the one in service"),
            Err(e) => warn!(error = %e, "SIGHUP: reloading the TLS certificate stopped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_off_disables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "tcp = \"127.0.0.1:9000\"\nquic = \"off\"\ndata_dir = \"/tmp/x\"\n").unwrap();
        let args = ServeArgs { config: Some(path), tcp: Some("127.0.0.1:0".into()), ..ServeArgs::default() };
        let s = Settings::merge(args).unwrap();
        assert_eq!(s.tcp, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(s.quic, None);
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(s.amqp, Some("127.0.0.1:5672".parse().unwrap()));
        let bad = ServeArgs { tcp: Some("nowhere".into()), ..ServeArgs::default() };
        assert!(Settings::merge(bad).is_err());
    }

    #[test]
    fn max_connections_applies_to_http() {
        let args = ServeArgs { max_connections: Some(7), ..ServeArgs::default() };
        assert_eq!(Settings::merge(args).unwrap().http_config().max_connections, 7);
    }

    #[test]
    fn tls_flags() {
        let s = Settings::merge(ServeArgs::default()).unwrap();
        assert_eq!(s.amqps, None, "AMQPS is off by default");
        assert!(!s.needs_listener_tls());
        let files = (PathBuf::from("c.pem"), PathBuf::from("k.pem"));
        let args = ServeArgs {
            tls_cert: Some(files.0.clone()),
            tls_key: Some(files.1.clone()),
            amqps: Some("127.0.0.1:5671".into()),
            ..ServeArgs::default()
        };
        let s = Settings::merge(args).unwrap();
        assert_eq!(s.amqps, Some("127.0.0.1:5671".parse().unwrap()));
        assert!(s.needs_listener_tls());
        assert_eq!(s.tls, Some(files.clone()), "QUIC takes --tls-cert without --quic-cert");
        assert_eq!(s.listener_tls.source(Path::new("d")), TlsSource::Files { cert: files.0, key: files.1 });
        let off = ServeArgs { tcp: Some("off".into()), tcp_tls: true, ..ServeArgs::default() };
        assert!(Settings::merge(off).unwrap_err().to_string().contains("--tcp-tls needs a TCP listener"));
        let bad = ServeArgs { amqps: Some("5671".into()), ..ServeArgs::default() };
        assert!(Settings::merge(bad).is_err());
    }

    #[test]
    fn security_settings_come_from_the_file_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let text = "tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ntcp_tls = true\namqps = \"127.0.0.1:5671\"\n\
                    metrics_public = true\n";
        std::fs::write(&path, text).unwrap();
        let s = Settings::merge(ServeArgs { config: Some(path), ..ServeArgs::default() }).unwrap();
        assert!(s.listener_tls.tcp && !s.listener_tls.http && s.metrics_public);
        assert_eq!(s.amqps, Some("127.0.0.1:5671".parse().unwrap()));
        assert_eq!(s.listener_tls.files, Some((PathBuf::from("c.pem"), PathBuf::from("k.pem"))));
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "tpc = \"127.0.0.1:9000\"\n").unwrap();
        assert!(Settings::merge(ServeArgs { config: Some(path), ..ServeArgs::default() }).is_err());
    }
}
