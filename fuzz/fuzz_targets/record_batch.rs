//! Record batches, as a produce body carries them and storage reads them back.
//!
//! Byte 0 is a mode: bit 0 sets the batch length field, bit 1 the CRC, to match the rest of the input (so the
//! fuzzer gets past both checks and into the records); the rest is the batch. Properties: `validate`,
//! `BatchRef::trusted` and iterating records and headers never panic; iteration of a validated batch never fails
//! (of a compressed one, once `BatchRef::decompress` succeeded; a sealed one, encrypted at rest, is checked up to its
//! CRC and its records refuse to iterate with `Sealed`: only the broker, with the topic's key, opens it);
//! and what `validate` accepts re-encodes (BatchBuilder with the same producer fields, then the broker's base offset
//! and leader epoch) to exactly the same bytes, as the broker's dedup path relies on when it rebuilds a batch.
#![no_main]

use callboard_protocol::batch::{
    self, BatchBuilder, BatchRef, Compression, HEADER_LEN, Header, LENGTH_PREFIX, ProducerInfo, RecordData, crc_of,
};
use libfuzzer_sys::fuzz_target;

/// Offset of the batch length field and of the CRC in the header.
const OFF_LENGTH: usize = 8;
const OFF_CRC: usize = 16;

fn walk(batch: &BatchRef<'_>) -> Result<usize, batch::BatchError> {
    let mut n = 0;
    for record in batch.records() {
        for header in record?.headers() {
            header?;
        }
        n += 1;
    }
    Ok(n)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut buf = rest.to_vec();
    if buf.len() >= HEADER_LEN {
        if mode & 1 != 0 {
            let len = u32::try_from(buf.len() - LENGTH_PREFIX).unwrap_or(u32::MAX);
            buf[OFF_LENGTH..OFF_LENGTH + 4].copy_from_slice(&len.to_le_bytes());
        }
        if mode & 2 != 0 {
            let crc = crc_of(&buf);
            buf[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_le_bytes());
        }
    }
    if let Ok(trusted) = BatchRef::trusted(&buf) {
        let _ = walk(&trusted);
    }
    let Ok(valid) = batch::validate(&buf) else { return };
    if valid.header().attributes.sealed() {
        assert!(matches!(walk(&valid), Err(batch::BatchError::Sealed)), "a sealed batch's records are ciphertext");
        return;
    }
    if valid.compression() != Compression::None {
        // A compressed batch is checked up to its CRC; decompressing it is bounded and checks its records, so it
        // fails cleanly or yields records that iterate without error.
        let Ok(records) = valid.decompress(1 << 20) else { return };
        let mut count = 0;
        for record in records.iter() {
            for header in record.expect("decompressed records are checked").headers() {
                header.expect("decompressed records are checked");
            }
            count += 1;
        }
        assert_eq!(count, valid.header().record_count as usize);
        return;
    }
    let count = walk(&valid).expect("a validated batch iterates without error");
    let h = *valid.header();
    assert_eq!(count, h.record_count as usize);

    let producer =
        ProducerInfo { producer_id: h.producer_id, producer_epoch: h.producer_epoch, base_sequence: h.base_sequence };
    let mut builder = BatchBuilder::new().producer(producer);
    for record in valid.records() {
        let record = record.expect("validated");
        let headers: Vec<Header<'_>> = record
            .headers()
            .map(|x| x.map(|x| Header { key: x.key, value: x.value }))
            .collect::<Result<_, _>>()
            .expect("validated");
        builder.push(&RecordData {
            timestamp: record.timestamp,
            id: record.id,
            key: record.key,
            value: record.value,
            headers: &headers,
        });
    }
    let mut again = builder.finish();
    batch::set_base_offset(&mut again, h.base_offset);
    batch::set_leader_epoch(&mut again, h.leader_epoch);
    assert_eq!(again, buf, "a valid batch re-encodes to the same bytes");
});
