//! Verification after a reopen: the recovered log must be a clean prefix of the [`Model`] (contiguous offsets,
//! valid CRCs, every batch byte for byte the one appended at its offset), and everything made durable must have
//! been read back.

use callboard_protocol::batch::{BatchHeader, validate};
use callboard_storage::PartitionLog;
use rand::Rng;
use rand::rngs::StdRng;

use crate::harness::Model;

/// Reads the whole log, from its start to its end, and checks it is a clean prefix of `model`: offsets contiguous,
/// every batch valid and equal byte for byte to the one appended at its offset. Also reads a few random offsets
/// one batch at a time (index lookups). Returns the base offsets read, in order.
pub(crate) fn check_clean_prefix(log: &PartitionLog, model: &Model, rng: &mut StdRng, ctx: &str) -> Vec<u64> {
    let start = log.log_start_offset();
    let end = log.next_offset();
    let mut bases = Vec::new();
    let mut at = start;
    let mut expected: Option<u64> = None;
    while at < end {
        let max_bytes = rng.random_range(1..=16 << 10);
        let read = log.read(at, max_bytes).unwrap_or_else(|e| panic!("{ctx}: read at {at} of [{start}, {end}): {e}"));
        assert!(!read.bytes.is_empty(), "{ctx}: read at {at} below the end {end} returned nothing");
        let mut buf = &read.bytes[..];
        while !buf.is_empty() {
            let header = BatchHeader::parse(buf).unwrap_or_else(|e| panic!("{ctx}: header near offset {at}: {e}"));
            let base = header.base_offset;
            match expected {
                Some(e) => assert_eq!(base, e, "{ctx}: offsets are not contiguous"),
                None => assert!(
                    base <= at && at < header.next_offset(),
                    "{ctx}: read at {at} returned a batch of [{base}, {})",
                    header.next_offset()
                ),
            }
            assert!(header.total_len() <= buf.len(), "{ctx}: read returned a partial batch at {base}");
            let (bytes, rest) = buf.split_at(header.total_len());
            validate(bytes).unwrap_or_else(|e| panic!("{ctx}: stored batch at {base} is invalid: {e}"));
            let want = model.get(&base).unwrap_or_else(|| panic!("{ctx}: batch at {base} was never appended there"));
            assert!(bytes == &want[..], "{ctx}: batch at {base} differs from the one appended there");
            bases.push(base);
            expected = Some(header.next_offset());
            buf = rest;
        }
        assert_eq!(Some(read.next_offset), expected, "{ctx}: read.next_offset disagrees with the batches");
        at = read.next_offset;
    }
    if start <= end {
        assert_eq!(at, end, "{ctx}: batches end at {at}, the log end is {end}");
    }
    for _ in 0..4 {
        if start >= end {
            break;
        }
        let offset = rng.random_range(start..end);
        let read = log.read(offset, 1).unwrap_or_else(|e| panic!("{ctx}: point read at {offset}: {e}"));
        let header = BatchHeader::parse(&read.bytes).unwrap_or_else(|e| panic!("{ctx}: point read at {offset}: {e}"));
        assert!(
            header.base_offset <= offset && offset < header.next_offset(),
            "{ctx}: point read at {offset} returned [{}, {})",
            header.base_offset,
            header.next_offset()
        );
        assert!(read.bytes.len() == header.total_len(), "{ctx}: point read at {offset} returned more than one batch");
        assert!(
            model.get(&header.base_offset).is_some_and(|want| want[..] == read.bytes[..]),
            "{ctx}: point read at {offset} differs from the batch appended there"
        );
    }
    bases
}

/// Checks that every batch of the model inside `[from, until)` was read back.
pub(crate) fn assert_survived(bases: &[u64], model: &Model, from: u64, until: u64, what: &str, ctx: &str) {
    for (&base, bytes) in model.range(from..) {
        let header = BatchHeader::parse(bytes).unwrap_or_else(|e| panic!("{ctx}: model batch at {base}: {e}"));
        if header.next_offset() > until {
            break;
        }
        assert!(bases.binary_search(&base).is_ok(), "{ctx}: batch at {base} ({what} up to {until}) was lost");
    }
}
