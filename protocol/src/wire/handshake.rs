//! The connection handshake: the client says which protocol version it speaks, the server answers with every API it
//! supports and their versions.

use serde::{Deserialize, Serialize};

use super::api::ApiVersionRange;

/// The protocol version of this build.
pub const PROTOCOL_VERSION: u16 = 1;

/// The first request of every connection ([`super::ApiKey::Hello`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The client's protocol version.
    pub protocol_version: u16,
    /// Free-form client id (logged, and used in metrics).
    pub client_id: String,
}

/// The answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloResponse {
    /// The server's protocol version.
    pub protocol_version: u16,
    /// The server's build version.
    pub server_version: String,
    /// Every API the server speaks, with its version range.
    pub apis: Vec<ApiVersionRange>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ApiKey, decode_control, encode_control};

    #[test]
    fn handshake_bodies_round_trip() {
        let hello = Hello { protocol_version: PROTOCOL_VERSION, client_id: "cli".into() };
        assert_eq!(decode_control::<Hello>(&encode_control(&hello).expect("encode")).expect("decode"), hello);
        let resp = HelloResponse {
            protocol_version: PROTOCOL_VERSION,
            server_version: "0.1.0".into(),
            apis: ApiKey::all_versions(),
        };
        let back: HelloResponse = decode_control(&encode_control(&resp).expect("encode")).expect("decode");
        assert_eq!(back.apis.len(), ApiKey::ALL.len());
    }
}
