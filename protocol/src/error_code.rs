//! Wire error codes, defined once and shared by the broker, its gateways and the SDK.
//!
//! Codes are stable: a code is never renumbered or reused. Later protocol work adds codes at the end.

use crate::wire_enum::wire_enum;

wire_enum! {
    /// An error code as carried in responses (`u16` on the wire).
    #[non_exhaustive]
    pub enum ErrorCode {
        /// Success.
        None = 0,
        /// An unexpected server error.
        Unknown = 1,
        /// The request is malformed.
        InvalidRequest = 2,
        /// A record batch failed validation.
        InvalidRecordBatch = 3,
        /// Stored or sent data failed its CRC check.
        CorruptMessage = 4,
        /// A format or protocol version this build does not support.
        UnsupportedVersion = 5,
        /// The offset is below the log start or past the log end.
        OffsetOutOfRange = 6,
        /// A batch or message is larger than the configured limit.
        MessageTooLarge = 7,
        /// The disk is full; the partition accepts no writes until space is freed.
        StorageFull = 8,
        /// A storage I/O error; the request may be retried once the partition recovers.
        StorageError = 9,
        /// The partition (or its directory) is in use by another owner.
        Locked = 10,
        /// An invalid configuration value.
        InvalidConfig = 11,
        /// No stream has that name.
        StreamNotFound = 12,
        /// A stream with that name exists already.
        StreamExists = 13,
        /// No topic has that name in the stream.
        TopicNotFound = 14,
        /// A topic with that name exists already in the stream.
        TopicExists = 15,
        /// The topic has no such partition.
        PartitionNotFound = 16,
        /// A stream or topic name is not acceptable.
        InvalidName = 17,
        /// The partition is restarting or offline; retry later.
        PartitionUnavailable = 18,
        /// The partition is read-only (for example after its disk filled up).
        PartitionReadOnly = 19,
        /// Too many long polls are parked on the partition; retry later.
        TooManyParkedPolls = 20,
        /// The consumer has no stored offset and its reset policy is `error`.
        NoOffset = 21,
        /// An idempotent producer's sequence skips ahead: earlier batches are missing.
        OutOfOrderSequence = 22,
        /// An idempotent producer uses an epoch older than the partition has seen.
        ProducerFenced = 23,
        /// The producer id is unknown to the broker (never allocated, or expired).
        UnknownProducer = 24,
        /// The broker is shutting down.
        ShuttingDown = 25,
        /// A configured limit was reached.
        LimitExceeded = 26,
        /// The consumer group has no such member (it left or expired): join again.
        UnknownMember = 27,
        /// The request comes from an older generation of the consumer group: heartbeat to learn the current one.
        StaleGeneration = 28,
        /// The partition is not assigned to this group member in this generation.
        NotAssigned = 29,
        /// No consumer group has that name.
        GroupNotFound = 30,
        /// The consumer group still has members.
        GroupNotEmpty = 31,
        /// The request's API key is not one this server knows.
        UnknownApi = 32,
        /// The first request of a connection was not the handshake.
        HandshakeRequired = 33,
        /// A broker-wide resource budget (file descriptors, partitions, memory) would be exceeded.
        ResourceLimit = 34,
        /// The connection has not logged in, or its credentials are wrong, expired or revoked.
        Unauthenticated = 35,
        /// The user is logged in but lacks the permission the request needs.
        Forbidden = 36,
        /// No user has that name.
        UserNotFound = 37,
        /// A user with that name exists already.
        UserExists = 38,
        /// No access token has that id.
        TokenNotFound = 39,
    }
}

impl ErrorCode {
    /// Whether a client may retry the same request and expect it to succeed later.
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::StorageError
                | ErrorCode::CorruptMessage
                | ErrorCode::PartitionUnavailable
                | ErrorCode::PartitionReadOnly
                | ErrorCode::TooManyParkedPolls
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_dense() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(code.as_u16() as usize, i);
            assert_eq!(ErrorCode::from_u16(code.as_u16()), Some(*code));
        }
        assert_eq!(ErrorCode::from_u16(u16::MAX), None);
    }
}
