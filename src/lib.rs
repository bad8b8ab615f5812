//! # callboard
//!
//! The facade of the Callboard broker: it re-exports the crates an embedding application needs. Later work adds the
//! embedded actor system here.

pub use callboard_protocol as protocol;
pub use callboard_storage as storage;
