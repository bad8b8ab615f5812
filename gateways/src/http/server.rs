//! [`HttpGateway`]: binds the HTTP listener and runs the actix-web server (its own worker threads; the handlers call
//! the embedded [`Broker`]), counts its connections, and stops gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{HttpServer, web};
use callboard_actors::Broker;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::guard::allowed_hosts;
use super::node::Node;
use super::responses::AppState;
use super::routes::app;
use crate::error::GatewayError;
use crate::limit::{ConnectionCount, ConnectionSlot, register_gauge};
use crate::tls::ServerTls;

const GATEWAY: &str = "http";

/// Limits of the HTTP gateway.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body, in bytes (413 `payload_too_large` past it). Default 8 MiB.
    pub max_body_bytes: usize,
    /// Worker threads. Default 1.
    pub workers: usize,
    /// Most connections served at once (per worker). Default 1024.
    pub max_connections: usize,
    /// Longest long poll (`wait_ms` is capped at it). Default 30 s.
    pub max_wait: Duration,
    /// How long a graceful stop waits for requests in flight. Default 10 s.
    pub shutdown_timeout: Duration,
    /// Serve `/metrics` without credentials (`callboard serve --metrics-public`). Default off: it needs
    /// `read_metrics`.
    pub metrics_public: bool,
    /// Serve HTTPS with this certificate (reloadable) instead of plain HTTP. Default none.
    pub tls: Option<ServerTls>,
    /// With `tls`, a connection's TLS handshake must complete within this; it holds a connection place meanwhile.
    /// Default 10 s.
    pub tls_handshake_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 8 << 20,
            workers: 1,
            max_connections: 1024,
            max_wait: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            metrics_public: false,
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Keeps a connection's place while actix-web serves it (dropped with the connection's data).
struct Held(#[allow(dead_code)] ConnectionSlot);

/// A running HTTP listener: the REST API under `/api/v1`, `/metrics`, `/health`, `/ready` and the console.
#[derive(Debug)]
pub struct HttpGateway {
    local_addr: SocketAddr,
    handle: ServerHandle,
    server: Option<JoinHandle<std::io::Result<()>>>,
    connections: ConnectionCount,
}

impl HttpGateway {
    /// Binds `addr` and starts serving `broker`. `node` answers `/ready` and the status's listeners;
    /// `prometheus` renders `/metrics` (without it, only the series computed at scrape time are shown).
    pub async fn bind(
        addr: SocketAddr,
        broker: Broker,
        config: HttpConfig,
        node: Node,
        prometheus: Option<PrometheusHandle>,
    ) -> Result<HttpGateway, GatewayError> {
        let listener =
            std::net::TcpListener::bind(addr).map_err(|e| GatewayError::io(format!("binding HTTP {addr}"), e))?;
        let local_addr =
            listener.local_addr().map_err(|e| GatewayError::io(format!("reading the address bound for {addr}"), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| GatewayError::io(format!("configuring the HTTP listener {local_addr}"), e))?;
        let state = web::Data::new(AppState {
            broker,
            node,
            prometheus,
            max_wait: config.max_wait,
            allowed_hosts: allowed_hosts(local_addr),
            metrics_public: config.metrics_public,
            credentials: Arc::default(),
        });
        let connections = ConnectionCount::new();
        register_gauge(GATEWAY);
        let open = Arc::clone(connections.shared());
        let max_body = config.max_body_bytes;
        let server = HttpServer::new(move || app(state.clone(), max_body))
            .workers(config.workers.max(1))
            .max_connections(config.max_connections.max(1))
            .disable_signals()
            .shutdown_timeout(config.shutdown_timeout.as_secs())
            .on_connect(move |_, data| {
                if let Some(slot) = ConnectionSlot::acquire(&open, usize::MAX, GATEWAY) {
                    data.insert(Arc::new(Held(slot)));
                }
            })
            .tls_handshake_timeout(config.tls_handshake_timeout);
        let server = match &config.tls {
            // actix adds the ALPN protocol `http/1.1`.
            Some(tls) => server.listen_rustls_0_23(listener, tls.server_config(&[])?),
            None => server.listen(listener),
        }
        .map_err(|e| GatewayError::io(format!("serving HTTP on {local_addr}"), e))?
        .run();
        let handle = server.handle();
        let server = tokio::spawn(server);
        info!(addr = %local_addr, tls = config.tls.is_some(), "HTTP gateway listening");
        Ok(HttpGateway { local_addr, handle, server: Some(server), connections })
    }

    /// The address the listener is bound to (with the actual port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The count of open connections.
    pub fn connections(&self) -> ConnectionCount {
        self.connections.clone()
    }

    /// Stops accepting, lets requests in flight finish (at most the configured shutdown timeout), then stops the
    /// workers; waits at most `grace`.
    pub async fn shutdown(mut self, grace: Duration) {
        let stop = self.handle.stop(true);
        if tokio::time::timeout(grace, stop).await.is_err() {
            warn!(addr = %self.local_addr, "HTTP requests still running after the grace period; stopping");
            self.handle.stop(false).await;
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(grace, server).await;
        }
        info!(addr = %self.local_addr, "HTTP gateway stopped");
    }
}

impl Drop for HttpGateway {
    fn drop(&mut self) {
        if self.server.is_some() {
            // Not shut down: stop without waiting (the future does the work when polled by the server task).
            drop(self.handle.stop(false));
        }
    }
}
