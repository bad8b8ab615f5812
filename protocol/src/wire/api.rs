//! API keys and the versions of each that this build speaks.

use serde::{Deserialize, Serialize};

use crate::wire_enum::wire_enum;

wire_enum! {
    /// Every request type, by its wire number. Numbers are stable and never reused.
    #[non_exhaustive]
    pub enum ApiKey {
        /// Connection handshake: protocol version and supported APIs.
        Hello = 0,
        /// Liveness check.
        Ping = 1,
        /// Broker status.
        Status = 2,
        /// Create a stream.
        CreateStream = 10,
        /// Delete a stream.
        DeleteStream = 11,
        /// List streams.
        ListStreams = 12,
        /// Create a topic.
        CreateTopic = 20,
        /// Delete a topic.
        DeleteTopic = 21,
        /// List a stream's topics.
        ListTopics = 22,
        /// Describe a topic and its partitions.
        DescribeTopic = 23,
        /// Add partitions to a topic.
        AddPartitions = 24,
        /// Append a record batch to a partition.
        Produce = 30,
        /// Read record batches (poll, long poll).
        Fetch = 31,
        /// Allocate an idempotent producer id.
        InitProducer = 32,
        /// Store a consumer offset.
        StoreOffset = 40,
        /// Read a consumer offset.
        GetOffset = 41,
        /// Delete a consumer offset.
        DeleteOffset = 42,
        /// Join a consumer group.
        JoinGroup = 50,
        /// Heartbeat (and acknowledge the assignment).
        Heartbeat = 51,
        /// Leave a consumer group.
        LeaveGroup = 52,
        /// Fetch from a member's assigned partitions.
        GroupFetch = 53,
        /// Commit a group offset.
        CommitGroupOffset = 54,
        /// List consumer groups.
        ListGroups = 55,
        /// Describe a consumer group with lag.
        DescribeGroup = 56,
        /// Delete a consumer group.
        DeleteGroup = 57,
        /// Reset a group's offsets.
        ResetGroupOffsets = 58,
        /// Log in with a user name and password (right after `Hello`).
        Login = 60,
        /// Log in with a personal access token (right after `Hello`).
        LoginWithToken = 61,
        /// Who this connection is logged in as, and what it may do.
        WhoAmI = 62,
        /// Create a user.
        CreateUser = 63,
        /// List users.
        ListUsers = 64,
        /// Change a user's password or enable/disable them.
        UpdateUser = 65,
        /// Delete a user (and their tokens).
        DeleteUser = 66,
        /// Grant a permission.
        Grant = 67,
        /// Revoke a permission.
        Revoke = 68,
        /// Create a personal access token.
        CreateToken = 69,
        /// List access tokens.
        ListTokens = 70,
        /// Revoke (delete) an access token.
        RevokeToken = 71,
    }
}

/// The versions of one API a peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiVersionRange {
    /// API key.
    pub api: u16,
    /// Oldest version.
    pub min: u16,
    /// Newest version.
    pub max: u16,
}

impl ApiKey {
    /// The versions of this API that this build speaks (all start at 1).
    pub fn versions(self) -> ApiVersionRange {
        ApiVersionRange { api: self.as_u16(), min: 1, max: 1 }
    }

    /// Whether this build speaks `version` of this API.
    pub fn supports(self, version: u16) -> bool {
        let r = self.versions();
        (r.min..=r.max).contains(&version)
    }

    /// Whether this is one of the security APIs (logging in, users, grants, tokens: keys 60–79), whose answers carry
    /// no stream data.
    pub fn is_security(self) -> bool {
        (60..80).contains(&self.as_u16())
    }

    /// The version ranges of every API, as the handshake announces them.
    pub fn all_versions() -> Vec<ApiVersionRange> {
        Self::ALL.iter().map(|k| k.versions()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for key in ApiKey::ALL {
            assert!(seen.insert(key.as_u16()), "{key:?} reuses a number");
            assert_eq!(ApiKey::from_u16(key.as_u16()), Some(*key));
            assert!(key.supports(1) && !key.supports(0));
        }
        assert_eq!(ApiKey::from_u16(9999), None);
    }
}
