//! How bytes travel in JSON: as UTF-8 text or as base64 ([`Encoding`]), and message ids as UUID strings. The
//! patterns here are the ones the OpenAPI document states, so what the schema accepts is what the server accepts.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;

/// Standard base64 with padding; trailing bits of the last symbol are ignored (any string matching
/// [`BASE64_PATTERN`] decodes).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// What a base64 string looks like (standard alphabet, padded).
pub const BASE64_PATTERN: &str = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$";

/// What a message id looks like: a hyphenated UUID.
pub const UUID_PATTERN: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// How payloads, keys and header values are written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// UTF-8 text.
    #[default]
    Text,
    /// Base64 (standard alphabet, padded).
    Base64,
}

impl Encoding {
    /// The bytes a JSON string stands for; `what` names the field in errors.
    pub fn decode(self, value: String, what: &str) -> Result<Bytes, ApiError> {
        match self {
            Encoding::Text => Ok(Bytes::from(value)),
            Encoding::Base64 => BASE64
                .decode(value.as_bytes())
                .map(Bytes::from)
                .map_err(|e| ApiError::invalid(format!("{what} is not valid base64: {e}"))),
        }
    }
}

/// Bytes as base64.
pub fn to_base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Writes bytes in `encoding`. Under `Text` the bytes must be UTF-8 (check with `is_utf8` first); any that are
/// not would be replaced, so callers switch to `Base64` for them.
pub fn encode(bytes: &[u8], encoding: Encoding) -> String {
    match encoding {
        Encoding::Text => String::from_utf8_lossy(bytes).into_owned(),
        Encoding::Base64 => to_base64(bytes),
    }
}

/// Whether bytes can be written as text.
pub fn is_utf8(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok()
}

/// Parses a hyphenated UUID into the message id.
pub fn parse_uuid(value: &str) -> Result<u128, ApiError> {
    let bad =
        || ApiError::invalid(format!("message id {value:?} is not a UUID like 67e55044-10b1-426f-9247-bb680e5fe0c8"));
    let bytes = value.as_bytes();
    if bytes.len() != 36 {
        return Err(bad());
    }
    let mut id: u128 = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if *b != b'-' {
                return Err(bad());
            }
            continue;
        }
        let digit = (*b as char).to_digit(16).ok_or_else(bad)?;
        id = (id << 4) | u128::from(digit);
    }
    Ok(id)
}

/// Formats a message id as a lowercase hyphenated UUID.
pub fn format_uuid(id: u128) -> String {
    let hex = format!("{id:032x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_round_trip() {
        let s = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        assert_eq!(format_uuid(parse_uuid(s).expect("uuid")), s);
        assert_eq!(parse_uuid("67E55044-10B1-426F-9247-BB680E5FE0C8").ok(), parse_uuid(s).ok());
        for bad in [
            "",
            "67e55044x10b1-426f-9247-bb680e5fe0c8",
            "67e5504410b1426f9247bb680e5fe0c8",
            "g7e55044-10b1-426f-9247-bb680e5fe0c8",
        ] {
            assert!(parse_uuid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_and_text() {
        assert_eq!(encode(b"hi", Encoding::Text), "hi");
        assert_eq!(encode(b"hi", Encoding::Base64), "aGk=");
        assert!(is_utf8(b"hi") && !is_utf8(&[0xff, 0]));
        assert_eq!(encode(&[0xff, 0], Encoding::Base64), "/wA=");
        assert_eq!(Encoding::Base64.decode("/wA=".into(), "payload").expect("b64"), Bytes::from_static(&[0xff, 0]));
        assert!(Encoding::Base64.decode("/wA".into(), "payload").is_err());
        assert!(Encoding::Base64.decode("AB==".into(), "payload").is_ok());
    }
}
