//! Callboard Rust SDK.
