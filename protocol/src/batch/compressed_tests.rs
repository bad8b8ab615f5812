//! Compressed batches: building, validating, decompressing, and refusing bombs and corrupt or inconsistent data.

use super::*;

fn json_records(n: u32) -> Vec<(i64, Option<u128>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let value = format!("{{\"order\":{i},\"customer\":\"c-{}\",\"status\":\"shipped\"}}", i % 13);
            (1_700_000_000_000 + i64::from(i % 5), (i % 2 == 0).then_some(u128::from(i)), value.into_bytes())
        })
        .collect()
}

fn build(records: &[(i64, Option<u128>, Vec<u8>)], codec: Compression) -> Vec<u8> {
    let mut b = BatchBuilder::new();
    let headers = [Header { key: "content-type", value: Some(b"json") }];
    for (timestamp, id, value) in records {
        b.push(&RecordData { timestamp: *timestamp, id: *id, key: None, value: Some(value), headers: &headers });
    }
    b.finish_compressed(codec)
}

fn restamp_crc(bytes: &mut [u8]) {
    let crc = crc_of(bytes);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn every_codec_stores_the_same_records_in_fewer_bytes() {
    let records = json_records(500);
    let plain = build(&records, Compression::None);
    for codec in Compression::ALL {
        let bytes = build(&records, codec);
        let batch = validate(&bytes).expect("valid");
        assert_eq!(batch.compression(), codec);
        assert_eq!(batch.header().attributes.compression(), Ok(codec));
        assert_eq!(batch.header().record_count, 500);
        if codec != Compression::None {
            assert!(bytes.len() < plain.len() / 3, "{codec}: {} of {}", bytes.len(), plain.len());
            assert_eq!(batch.records().next().map(|r| r.map(|_| ())), Some(Err(BatchError::Compressed(codec.name()))));
            assert_eq!(batch.records().count(), 1, "the error ends the iteration");
        }
        let decoded = batch.decompress(plain.len()).expect("decompress");
        assert_eq!(decoded.as_bytes(), &plain[HEADER_LEN..], "{codec}");
        let got: Vec<_> = decoded.iter().map(|r| r.expect("record")).map(|r| (r.timestamp, r.id, r.value)).collect();
        let want: Vec<_> = records.iter().map(|(t, id, v)| (*t, *id, Some(&v[..]))).collect();
        assert_eq!(got, want, "{codec}");
    }
}

#[test]
fn a_compressed_bomb_is_refused_with_message_too_large() {
    // One record whose 32 MiB value is zeros: a few KiB compressed.
    let zeros = vec![0u8; 32 << 20];
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let mut b = BatchBuilder::new();
        b.push(&RecordData { timestamp: 1, value: Some(&zeros), ..Default::default() });
        let bytes = b.finish_compressed(codec);
        assert!(bytes.len() < 2 << 20, "{codec}: {}", bytes.len());
        let batch = validate(&bytes).expect("header and CRC are fine");
        let err = batch.decompress(1 << 20).expect_err("bomb");
        assert_eq!(err, BatchError::DecompressedTooLarge { limit: 1 << 20 }, "{codec}");
        assert_eq!(err.code(), crate::ErrorCode::MessageTooLarge);
    }
}

#[test]
fn corrupt_compressed_records_fail_to_decompress_cleanly() {
    let records = json_records(200);
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let good = build(&records, codec);
        for at in [HEADER_LEN, HEADER_LEN + 3, (HEADER_LEN + good.len()) / 2, good.len() - 2] {
            let mut bytes = good.clone();
            bytes[at] ^= 0xff;
            assert!(matches!(validate(&bytes), Err(BatchError::CrcMismatch { .. })), "{codec} at {at}");
            restamp_crc(&mut bytes);
            // A producer that computed its CRC over garbage: the header checks pass, decoding must fail or
            // yield records that match the header, and never panic.
            let batch = validate(&bytes).expect("CRC restamped");
            if let Ok(decoded) = batch.decompress(1 << 20) {
                assert_eq!(decoded.iter().filter(|r| r.is_ok()).count(), 200, "{codec} at {at}");
            }
        }
    }
}

#[test]
fn a_record_count_that_disagrees_with_the_compressed_records_is_refused() {
    let records = json_records(10);
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        for count in [9u32, 11] {
            let mut bytes = build(&records, codec);
            bytes[23..27].copy_from_slice(&count.to_le_bytes());
            restamp_crc(&mut bytes);
            let err = validate(&bytes).expect("header fine").decompress(1 << 20).expect_err("count mismatch");
            assert!(
                matches!(err, BatchError::Inconsistent(_) | BatchError::Truncated | BatchError::TooManyRecords { .. }),
                "{codec}, count {count}: {err:?}"
            );
        }
    }
}

#[test]
fn compressed_batches_without_records_or_with_plain_records_are_refused() {
    let mut empty = build(&json_records(1), Compression::Zstd)[..HEADER_LEN].to_vec();
    empty[8..12].copy_from_slice(&((HEADER_LEN - LENGTH_PREFIX) as u32).to_le_bytes());
    restamp_crc(&mut empty);
    assert_eq!(validate(&empty).map(|_| ()), Err(BatchError::Truncated));

    // Plain records labelled gzip.
    let mut mislabelled = build(&json_records(3), Compression::None);
    mislabelled[21] = Compression::Gzip.bits() as u8;
    restamp_crc(&mut mislabelled);
    let err = validate(&mislabelled).expect("header fine").decompress(1 << 20).expect_err("not gzip");
    assert!(matches!(err, BatchError::Decompression { codec: "gzip", .. }), "{err:?}");
}

#[test]
fn trusted_views_of_compressed_batches_decompress_too() {
    let records = json_records(50);
    let bytes = build(&records, Compression::Lz4);
    let batch = BatchRef::trusted(&bytes).expect("trusted");
    assert_eq!(batch.decompress(1 << 20).expect("decompress").iter().count(), 50);
}
