//! Round-trip, corruption and fuzz-style tests for the batch codec.

use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct OwnedRecord {
    timestamp: i64,
    id: Option<u128>,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn record_strategy() -> impl Strategy<Value = OwnedRecord> {
    (
        -1_000_000i64..4_000_000_000_000,
        proptest::option::of(any::<u128>()),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        proptest::collection::vec(
            ("[a-z\u{e9}]{0,8}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10))),
            0..4,
        ),
    )
        .prop_map(|(timestamp, id, key, value, headers)| OwnedRecord { timestamp, id, key, value, headers })
}

fn encode(records: &[OwnedRecord], producer: ProducerInfo) -> Vec<u8> {
    let mut b = BatchBuilder::new().producer(producer);
    for r in records {
        let headers: Vec<Header<'_>> = r.headers.iter().map(|(k, v)| Header { key: k, value: v.as_deref() }).collect();
        let data = RecordData {
            timestamp: r.timestamp,
            id: r.id,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: &headers,
        };
        let before = b.size_bytes();
        let predicted = b.record_size(&data);
        b.push(&data);
        assert_eq!(b.size_bytes() - before, predicted);
    }
    b.finish()
}

fn sample() -> Vec<u8> {
    let records = vec![
        OwnedRecord {
            timestamp: 1000,
            id: Some(7),
            key: Some(b"k".to_vec()),
            value: Some(b"v1".to_vec()),
            headers: vec![("h".into(), Some(b"x".to_vec()))],
        },
        OwnedRecord { timestamp: 900, id: None, key: None, value: Some(b"v2".to_vec()), headers: vec![] },
    ];
    encode(&records, ProducerInfo { producer_id: 42, producer_epoch: 3, base_sequence: 10 })
}

#[test]
fn header_fields_round_trip() {
    let mut bytes = sample();
    set_base_offset(&mut bytes, 1234);
    set_leader_epoch(&mut bytes, 9);
    let batch = validate(&bytes).expect("valid");
    let h = batch.header();
    assert_eq!(h.base_offset, 1234);
    assert_eq!(h.leader_epoch, 9);
    assert_eq!(h.record_count, 2);
    assert_eq!(h.first_timestamp, 1000);
    assert_eq!(h.max_timestamp, 1000);
    assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (42, 3, 10));
    assert_eq!(h.last_offset(), 1235);
    assert_eq!(h.next_offset(), 1236);
    let recs: Vec<_> = batch.records().map(|r| r.expect("record")).collect();
    assert_eq!(recs[0].offset, 1234);
    assert_eq!(recs[1].offset, 1235);
    assert_eq!(recs[1].timestamp, 900);
    assert_eq!(recs[0].id, Some(7));
    let headers: Vec<_> = recs[0].headers().map(|h| h.expect("header")).collect();
    assert_eq!(headers, vec![HeaderRef { key: "h", value: Some(&b"x"[..]) }]);
}

#[test]
fn every_flipped_byte_after_the_crc_is_detected() {
    let bytes = sample();
    for i in 20..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x40;
        assert!(validate(&bad).is_err(), "flip at {i} not detected");
    }
}

#[test]
fn truncation_and_extension_are_rejected() {
    let bytes = sample();
    for len in 0..bytes.len() {
        assert!(validate(&bytes[..len]).is_err(), "prefix of {len} accepted");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(validate(&longer), Err(BatchError::LengthMismatch { .. })));
}

#[test]
fn unknown_version_and_attributes_are_rejected() {
    let mut bytes = sample();
    bytes[20] = 2;
    let crc = crc_of(&bytes);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(validate(&bytes).unwrap_err(), BatchError::UnsupportedVersion(2));

    let mut bytes = sample();
    bytes[21] = 0b101;
    let crc = crc_of(&bytes);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(validate(&bytes).unwrap_err(), BatchError::UnsupportedCompression(5));

    let mut bytes = sample();
    bytes[22] = 0x80;
    let crc = crc_of(&bytes);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(validate(&bytes).unwrap_err(), BatchError::ReservedAttributes(_)));
}

#[test]
fn huge_record_count_does_not_allocate_or_panic() {
    let mut bytes = sample();
    bytes[23..27].copy_from_slice(&u32::MAX.to_le_bytes());
    let crc = crc_of(&bytes);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(validate(&bytes).unwrap_err(), BatchError::TooManyRecords { .. }));
}

proptest! {
    #[test]
    fn batches_round_trip(records in proptest::collection::vec(record_strategy(), 1..20), base in any::<u32>()) {
        let mut bytes = encode(&records, ProducerInfo::default());
        set_base_offset(&mut bytes, u64::from(base));
        let batch = validate(&bytes).expect("valid batch");
        prop_assert_eq!(batch.header().record_count as usize, records.len());
        prop_assert_eq!(batch.header().max_timestamp, records.iter().map(|r| r.timestamp).max().unwrap_or_default());
        for (i, (got, want)) in batch.records().zip(&records).enumerate() {
            let got = got.expect("record");
            prop_assert_eq!(got.offset, u64::from(base) + i as u64);
            prop_assert_eq!(got.timestamp, want.timestamp);
            prop_assert_eq!(got.id, want.id);
            prop_assert_eq!(got.key, want.key.as_deref());
            prop_assert_eq!(got.value, want.value.as_deref());
            let headers: Vec<(String, Option<Vec<u8>>)> = got
                .headers()
                .map(|h| h.map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec))))
                .collect::<Result<_, _>>()
                .expect("headers");
            prop_assert_eq!(&headers, &want.headers);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = validate(&bytes);
        if let Ok(batch) = BatchRef::trusted(&bytes) {
            for r in batch.records().flatten() {
                for h in r.headers() { let _ = h; }
            }
        }
    }

    #[test]
    fn mutated_batches_never_panic(pos in 0usize..400, byte in any::<u8>(), fix_crc in any::<bool>()) {
        let mut bytes = sample();
        let pos = pos % bytes.len();
        bytes[pos] = byte;
        if fix_crc {
            let crc = crc_of(&bytes);
            bytes[16..20].copy_from_slice(&crc.to_le_bytes());
        }
        let _ = validate(&bytes);
        if let Ok(batch) = BatchRef::trusted(&bytes) {
            for r in batch.records().flatten() {
                for h in r.headers() { let _ = h; }
            }
        }
    }
}

#[test]
fn extreme_timestamps_round_trip() {
    let records = vec![
        OwnedRecord { timestamp: i64::MIN, id: None, key: None, value: None, headers: vec![] },
        OwnedRecord { timestamp: i64::MAX, id: None, key: None, value: None, headers: vec![] },
    ];
    let bytes = encode(&records, ProducerInfo::default());
    let batch = validate(&bytes).expect("valid");
    let ts: Vec<i64> = batch.records().map(|r| r.expect("record").timestamp).collect();
    assert_eq!(ts, vec![i64::MIN, i64::MAX]);
}

#[test]
fn a_base_offset_that_would_overflow_is_refused_not_panicked_on() {
    // A client chooses the base offset of the batch it sends; offsets of its records were computed with unchecked
    // `base_offset + delta` before the broker stamped its own (a panic in debug builds, a wrap in release).
    let mut bytes = sample();
    for base in [u64::MAX, u64::MAX - 1] {
        set_base_offset(&mut bytes, base);
        assert!(matches!(validate(&bytes), Err(BatchError::Inconsistent(_))), "base {base}");
        assert!(BatchHeader::parse(&bytes).is_err());
    }
    set_base_offset(&mut bytes, u64::MAX - 2);
    let batch = validate(&bytes).expect("the last offsets that fit");
    assert_eq!(batch.header().next_offset(), u64::MAX);
    assert_eq!(batch.records().map(|r| r.expect("record").offset).last(), Some(u64::MAX - 1));
}

/// Found by the record_batch fuzz target: a one-record batch whose timestamp delta is written `80 00` (zero, in two
/// bytes) instead of `00`, with its record length and CRC to match. It validated, yet re-encoding its records gave
/// other bytes; a validated batch must be the one canonical encoding of its records.
#[test]
fn overlong_varints_are_rejected() {
    let mut b = BatchBuilder::new();
    b.push(&RecordData { timestamp: 1_700_000_000_000, value: Some(b"hello"), ..Default::default() });
    let canonical = b.finish();
    let record = &canonical[HEADER_LEN..];
    assert_eq!(record, b"\x0b\x00\x00\x00\x01\x0ahello\x00", "length, attributes, ts delta, offset delta, ...");
    let mut overlong = canonical[..HEADER_LEN].to_vec();
    overlong.extend_from_slice(b"\x0c\x00\x80\x00\x00\x01\x0ahello\x00");
    let len = (overlong.len() - LENGTH_PREFIX) as u32;
    overlong[8..12].copy_from_slice(&len.to_le_bytes());
    let crc = crc_of(&overlong);
    overlong[16..20].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(validate(&overlong), Err(BatchError::MalformedRecord(_))), "{:?}", validate(&overlong).err());
}
