//! # callboard
//!
//! The facade of the Callboard broker: the embedded broker ([`Broker`] and everything its API uses) at the top
//! level, and the crates underneath as modules.
//!
//! ```no_run
//! # async fn demo() -> Result<(), callboard::BrokerError> {
//! let broker = callboard::Broker::start(callboard::BrokerConfig::with_data_dir("data")).await?;
//! broker.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod config;

pub use callboard_actors::*;
pub use callboard_protocol as protocol;
pub use callboard_storage as storage;

/// The actor system and embedded API (also re-exported at the top level).
pub use callboard_actors as actors;
