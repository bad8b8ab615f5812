//! # callboard-protocol
//!
//! The bytes Callboard agrees on: the record-batch format that producers build, the broker stores and consumers
//! receive unchanged, the TCP/QUIC wire frames ([`wire`]), and the wire error codes. This crate is a pure codec: no
//! I/O, no runtime.
//!
//! ## Record batch, format version 1
//!
//! All integers are little-endian. A batch is a fixed 57-byte header followed by its records.
//!
//! | bytes   | field                   | type  | notes |
//! |---------|-------------------------|-------|-------|
//! | 0..8    | base offset             | u64   | offset of the first record; assigned by the broker on append |
//! | 8..12   | batch length            | u32   | bytes after this field: the whole batch is `12 + batch length` bytes |
//! | 12..16  | partition leader epoch  | u32   | assigned by the broker (replication) |
//! | 16..20  | CRC32C                  | u32   | Castagnoli CRC of bytes `20..end` |
//! | 20      | format version          | u8    | `1` |
//! | 21..23  | attributes              | u16   | bits 0-2 compression codec (Kafka's: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd; 5-7 refused); bits 3-15 reserved, must be 0 |
//! | 23..27  | record count            | u32   | at least 1 |
//! | 27..35  | first timestamp         | i64   | ms since the Unix epoch; the first record's timestamp |
//! | 35..43  | max timestamp           | i64   | the largest record timestamp |
//! | 43..51  | producer id             | i64   | `-1` when the producer is not idempotent |
//! | 51..53  | producer epoch          | i16   | `-1` when not idempotent |
//! | 53..57  | base sequence           | i32   | sequence of the first record; `-1` when not idempotent |
//! | 57..    | records                 |       | `record count` records, back to back; compressed as one block when bits 0-2 name a codec |
//!
//! The fields the broker assigns (base offset, leader epoch) sit before the CRC, so assigning them never recomputes
//! the CRC, and the CRC a producer computed is the one a consumer checks.
//!
//! A compressed batch (see [`batch::compression`]) compresses only the records; the header stays as above and the CRC
//! covers the compressed bytes as stored, so the broker checks and stores a compressed batch without touching its
//! records. The broker does decompress once on produce, bounded by the topic's `max_message_bytes`, to check the
//! records against the header (and to drop duplicate message ids); consumers decompress again to read them.
//!
//! ### Record
//!
//! `varint` is unsigned LEB128; `zigzag` is a zigzag-encoded signed LEB128; both at most 10 bytes, and minimally
//! encoded (no zero last group: `80 00` for 0 is malformed).
//!
//! | field            | type                     | notes |
//! |------------------|--------------------------|-------|
//! | length           | varint                   | bytes of the record after this field |
//! | attributes       | u8                       | bit 0: a message id follows; other bits reserved, 0 |
//! | timestamp delta  | zigzag                   | record timestamp minus the batch's first timestamp |
//! | offset delta     | varint                   | the record's index in the batch (0, 1, 2, …) |
//! | message id       | u128 (16 bytes)          | only when attribute bit 0 is set; used for deduplication |
//! | key              | zigzag length + bytes    | length `-1` means no key |
//! | value            | zigzag length + bytes    | length `-1` means no value |
//! | header count     | varint                   | |
//! | headers          | per header: zigzag length + UTF-8 key, zigzag length + value (`-1` = none) | |
//!
//! [`batch::validate`] checks all of it (lengths bounded by the buffer before use, CRC, version, reserved bits,
//! sequential offset deltas, timestamps consistent with the header) and never panics on any input; for a compressed
//! batch it checks up to the CRC, and [`batch::BatchRef::decompress`] checks the records.

pub mod batch;
mod error_code;
pub mod model;
pub mod varint;
pub mod wire;
mod wire_enum;

pub use error_code::ErrorCode;
