//! # callboard-gateways
//!
//! Callboard's network gateways: they only translate. [`HttpGateway`] serves the REST API, metrics and the web
//! console (see [`http`]). [`TcpGateway`] and [`QuicGateway`] accept connections and run
//! one session per TCP connection or QUIC bidirectional stream. A session cuts request frames out of the byte stream
//! (`callboard_protocol::wire::FrameCodec`), requires the `Hello` handshake first, dispatches every API to the
//! embedded [`callboard_actors::Broker`] with many requests in flight (pipelining, bounded per session), and writes
//! the answers back tagged with their correlation ids as they complete. The TCP, HTTP and AMQP listeners can speak
//! TLS with one reloadable certificate ([`ServerTls`]; QUIC always does).
//!
//! ```no_run
//! # async fn demo(broker: callboard_actors::Broker) -> Result<(), callboard_gateways::GatewayError> {
//! use callboard_gateways::{GatewayConfig, TcpGateway};
//! let tcp = TcpGateway::bind("127.0.0.1:7070".parse().expect("address"), broker, GatewayConfig::default()).await?;
//! // ... serve until asked to stop ...
//! tcp.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

pub mod amqp;
mod answer;
mod budget;
mod config;
mod dispatch;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
mod limit;
mod quic;
mod session;
mod tcp;
mod tls;

pub use amqp::{AmqpConfig, AmqpGateway};
pub use budget::ByteBudget;
pub use config::{DEFAULT_SESSION_BYTES, DEFAULT_SHARED_BYTES, GatewayConfig, MAX_BUDGET_BYTES, MIN_BUDGET_BYTES};
pub use error::GatewayError;
pub use http::{HttpConfig, HttpGateway, Node};
pub use limit::ConnectionCount;
pub use quic::QuicGateway;
pub use tcp::TcpGateway;
pub use tls::{ALPN, ServerTls, TlsSource};
