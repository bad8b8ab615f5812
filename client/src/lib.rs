//! # callboard-client
//!
//! The async Rust SDK of Callboard, over TCP or QUIC.
//!
//! - [`ClientConfig`]: where to connect and how to log in ([`Credentials`]: a user and password, or a personal access
//!   token); the broker serves nothing before the login.
//! - [`Client`]: one multiplexed connection (requests are pipelined by correlation id and answered in any order)
//!   with every admin, data and group call, and the generic [`Client::call`]. A failed connection fails its waiting
//!   requests with a retriable error; the next call reconnects and repeats the handshake.
//! - [`Producer`]: batches messages per partition, sends up to `max_in_flight` batches at once, retries retriable
//!   failures with byte-identical batches (idempotent by default, so retries are stored once), and counts
//!   acknowledged messages.
//! - [`Consumer`]: polls one partition (optionally as a named consumer whose offset the broker keeps) or a consumer
//!   group's assignment (with a heartbeat task), and commits explicitly.
//!
//! ```no_run
//! # async fn demo() -> Result<(), callboard_client::ClientError> {
//! use callboard_client::*;
//! let config = ClientConfig::tcp("127.0.0.1:7070").with_password("admin", "the admin password");
//! let client = Client::connect(config).await?;
//! client.create_topic("default", "orders", TopicConfig { partitions: 3, ..Default::default() }).await?;
//! let mut producer = Producer::new(client.clone(), ProducerConfig::new("default", "orders")).await?;
//! producer.send(Message::new("hello")).await?;
//! producer.close().await?;
//! # Ok(()) }
//! ```

mod admin;
mod client;
mod config;
mod connection;
mod consumer;
mod data;
mod error;
mod group;
mod producer;
mod split;
mod tls;
mod transport;
mod users;

pub use client::Client;
pub use config::{ClientConfig, Credentials, DEFAULT_MAX_DECOMPRESSED, DEFAULT_REQUEST_TIMEOUT, Transport};

pub use consumer::{Consumed, Consumer, ConsumerConfig, ConsumerKind, DEFAULT_SESSION_TIMEOUT};
pub use data::Polled;
pub use error::{ClientError, ProducerError, Result};
pub use producer::{Producer, ProducerConfig};

pub use tls::{ALPN, quic_config, rustls_config, tcp_tls_config};

pub use callboard_protocol as protocol;
pub use callboard_protocol::ErrorCode;
pub use callboard_protocol::batch::{Compression, ProducerInfo};
pub use callboard_protocol::model::*;
pub use callboard_protocol::wire::{
    Call, ConsumerSpec, Fetch, FetchResponse, GroupFetch, GroupFetchResponse, ProduceTarget,
};
