//! How produced messages are spread over a topic's partitions.
//!
//! Keys are hashed with murmur2 (the 32-bit variant, seed `0x9747b28c`) and placed on
//! `(hash & 0x7fffffff) % partitions`: the same formula as Kafka's default partitioner, so a key lands on the same
//! partition number in Callboard and in Kafka clients. The hash is stable across versions and platforms.

use bytes::Bytes;

/// Where a produce request's messages go.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partitioning {
    /// Round-robin: each request goes to the next partition.
    Balanced,
    /// One given partition.
    Partition(u32),
    /// The partition a key hashes to; every message of the request goes there.
    Key(Bytes),
    /// Each message to the partition its own key hashes to (messages without a key: round-robin).
    MessageKey,
}

/// Partition for `key` among `partitions` (at least 1).
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Kafka's murmur2 hash.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kafka_murmur2() {
        // Values from Kafka's UtilsTest.testMurmur2 (as signed i32 there).
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32, -58897971);
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }

    #[test]
    fn keys_spread_and_stay_put() {
        let mut seen = [0u32; 4];
        for i in 0..1000 {
            let p = partition_for_key(format!("key-{i}").as_bytes(), 4);
            assert_eq!(p, partition_for_key(format!("key-{i}").as_bytes(), 4));
            seen[p as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 150), "{seen:?}");
    }
}
