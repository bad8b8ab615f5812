//! Callboard network gateways.
