//! Stream and topic name rules: printable UTF-8, 1 to 255 bytes, no `/`. Directories use numeric ids, so names
//! such as AMQP's `amq.gen-…` fit unchanged. Topic names starting with [`INTERNAL_PREFIX`] are reserved for topics
//! the broker's gateways own (the logs behind AMQP queues): users cannot create them, so they never clash.

use crate::error::{BrokerError, Result};

/// Longest name in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Topic names starting with this are reserved for gateway-owned topics (see [`validate_internal_name`]).
pub const INTERNAL_PREFIX: &str = "$";

/// Checks a stream or topic name a user chose: [`validate_internal_name`]'s rules, and no [`INTERNAL_PREFIX`].
pub fn validate_name(name: &str) -> Result<()> {
    if name.starts_with(INTERNAL_PREFIX) {
        return Err(BrokerError::InvalidName {
            name: name.to_string(),
            reason: "names starting with '$' are reserved for topics the broker owns",
        });
    }
    validate_internal_name(name)
}

/// Checks a name of a gateway-owned topic: the general rules (printable, 1 to 255 bytes, no `/`), prefix allowed.
pub fn validate_internal_name(name: &str) -> Result<()> {
    let bad = |reason| Err(BrokerError::InvalidName { name: name.to_string(), reason });
    if name.is_empty() {
        return bad("a name cannot be empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return bad("a name is at most 255 bytes");
    }
    if name.contains('/') {
        return bad("a name cannot contain '/'");
    }
    if name.chars().any(char::is_control) {
        return bad("a name must be printable (no control characters)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["orders", "amq.gen-JzTY20BRgKO-HjmUJj0wLg", "é💡 x", &"a".repeat(255)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "tab\there", "nl\n", &"a".repeat(256), "$amqp.q"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_internal_name("$amqp.q").is_ok());
        assert!(validate_internal_name("$a/b").is_err());
    }
}
