//! Stream and topic name rules: printable UTF-8, 1 to 255 bytes, no `/`. Directories use numeric ids, so names
//! such as AMQP's `amq.gen-…` fit unchanged.

use crate::error::{BrokerError, Result};

/// Longest name in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Checks a stream or topic name.
pub fn validate_name(name: &str) -> Result<()> {
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
        for bad in ["", "a/b", "tab\there", "nl\n", &"a".repeat(256)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
