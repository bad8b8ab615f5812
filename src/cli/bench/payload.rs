//! `callboard bench --payload`: what the messages hold. `fill` (the default) repeats one byte, which any codec
//! squeezes to nothing; `random` cannot be compressed; `json` and `text` compress about as real events and logs do.
//! Every message of a batch differs (seeded by its index), so a codec cannot just find one message repeated.

use bytes::Bytes;
use clap::ValueEnum;

/// Message payload shape.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadKind {
    /// One byte repeated (`x`).
    #[default]
    Fill,
    /// Pseudo-random bytes: incompressible.
    Random,
    /// JSON objects of an order-event shape, with varying ids, names, amounts and timestamps.
    Json,
    /// English-like words, as in log lines.
    Text,
}

impl PayloadKind {
    /// The payload of message `index`, exactly `size` bytes.
    pub fn make(self, index: u64, size: usize) -> Bytes {
        let mut rng = Rng::new(index);
        let mut out = Vec::with_capacity(size + 256);
        match self {
            PayloadKind::Fill => out.resize(size, b'x'),
            PayloadKind::Random => {
                while out.len() < size {
                    out.extend_from_slice(&rng.next().to_le_bytes());
                }
            }
            PayloadKind::Json => {
                out.push(b'[');
                while out.len() < size {
                    let n = rng.next();
                    let event = format!(
                        "{{\"order_id\":{},\"customer\":\"{}\",\"status\":\"{}\",\"amount_cents\":{},\"currency\":\"EUR\",\
                         \"created_at\":\"2026-12-07T{:02}:{:02}:{:02}Z\",\"items\":{}}},",
                        1_000_000 + n % 9_000_000,
                        NAMES[(n >> 24) as usize % NAMES.len()],
                        STATUSES[(n >> 32) as usize % STATUSES.len()],
                        (n >> 8) % 100_000,
                        (n >> 40) % 24,
                        (n >> 45) % 60,
                        (n >> 51) % 60,
                        1 + (n >> 57) % 9,
                    );
                    out.extend_from_slice(event.as_bytes());
                }
            }
            PayloadKind::Text => {
                while out.len() < size {
                    let n = rng.next();
                    out.extend_from_slice(WORDS[n as usize % WORDS.len()].as_bytes());
                    out.push(if n.is_multiple_of(13) { b'\n' } else { b' ' });
                }
            }
        }
        out.truncate(size);
        Bytes::from(out)
    }
}

const NAMES: [&str; 12] =
    ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"];
const STATUSES: [&str; 5] = ["created", "paid", "packed", "shipped", "delivered"];
const WORDS: [&str; 32] = [
    "the",
    "request",
    "from",
    "client",
    "was",
    "accepted",
    "and",
    "stored",
    "in",
    "partition",
    "after",
    "checking",
    "its",
    "batch",
    "header",
    "offset",
    "broker",
    "replied",
    "with",
    "an",
    "error",
    "because",
    "disk",
    "was",
    "full",
    "retrying",
    "connection",
    "closed",
    "by",
    "peer",
    "timeout",
    "ms",
];

/// xorshift64*: deterministic, dependency-free, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callboard::protocol::batch::{Compression, compression::compress};

    #[test]
    fn payloads_have_the_size_asked_and_compress_as_described() {
        for kind in [PayloadKind::Fill, PayloadKind::Random, PayloadKind::Json, PayloadKind::Text] {
            let batch: Vec<u8> = (0..100).flat_map(|i| kind.make(i, 1000).to_vec()).collect();
            assert_eq!(batch.len(), 100_000, "{kind:?}");
            let packed = compress(Compression::Zstd, &batch).expect("zstd").len();
            match kind {
                PayloadKind::Random => assert!(packed > 99_000, "random compressed to {packed}"),
                PayloadKind::Fill => assert!(packed < 1_000, "fill compressed to {packed}"),
                _ => assert!((5_000..60_000).contains(&packed), "{kind:?} compressed to {packed}"),
            }
        }
        assert_ne!(PayloadKind::Json.make(1, 500), PayloadKind::Json.make(2, 500));
    }
}
