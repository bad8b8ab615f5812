//! Secrets: argon2id password hashes (PHC strings), random passwords, and personal access tokens
//! (`cbt_<id>_<secret>`, stored as the SHA-256 of the secret: a token is 256 random bits, so a fast hash is as
//! strong as a slow one). [`Secret`] keeps a value out of `Debug` output and logs.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::error::{BrokerError, Result};

/// Prefix of every personal access token.
pub const TOKEN_PREFIX: &str = "cbt_";

/// A secret value (a password) whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Argon2id with the OWASP-recommended parameters (19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (argon2id, random salt) into a PHC string. Slow on purpose (tens of ms): call it off async
/// workers.
pub fn hash_password(password: &str) -> Result<String> {
    let salt: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| BrokerError::InvalidConfig(format!("salt: {e}")))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| BrokerError::InvalidConfig(format!("hashing the password: {e}")))
}

/// Whether `password` matches the PHC string `hash` (a malformed hash never matches).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => hasher().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A random password of 24 letters and digits (about 143 bits).
pub fn random_password() -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(24).map(char::from).collect()
}

/// SHA-256 of `data`, hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A new token: (`id`, the whole token to hand out, the hash to store).
pub fn new_token() -> (String, String, String) {
    let id: [u8; 8] = rand::rng().random();
    let secret: [u8; 32] = rand::rng().random();
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let hash = sha256_hex(secret.as_bytes());
    (id.clone(), format!("{TOKEN_PREFIX}{id}_{secret}"), hash)
}

/// Splits a token into its id and secret (`None` when it is not shaped like one).
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && secret.len() == 64).then_some((id, secret))
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(hash_password("correct horse").expect("hash"), hash, "salted");
        let (id, token, stored) = new_token();
        let (pid, secret) = parse_token(&token).expect("shaped");
        assert_eq!(pid, id);
        assert!(constant_time_eq(&sha256_hex(secret.as_bytes()), &stored));
        assert!(parse_token("cbt_x_y").is_none() && parse_token("bearer").is_none());
        assert_eq!(random_password().len(), 24);
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
