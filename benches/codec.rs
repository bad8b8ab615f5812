//! Criterion benchmarks of the codecs on the hot path: the record batch (encode, validate, iterate records) and the
//! wire frame carrying a 1 MiB produce request (encode, decode).

use std::hint::black_box;

use callboard_protocol::batch::{BatchBuilder, RecordData, validate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn build(count: usize, size: usize) -> Vec<u8> {
    let value = vec![42u8; size];
    let mut b = BatchBuilder::with_capacity(count * (size + 16) + 64);
    for i in 0..count {
        b.push(&RecordData { timestamp: 1_700_000_000_000 + i as i64, value: Some(&value), ..Default::default() });
    }
    b.finish()
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec_1000x1kb");
    let bytes = build(1000, 1000);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| black_box(build(1000, 1000))));
    group.bench_function("validate", |b| b.iter(|| black_box(validate(&bytes).expect("valid").header().record_count)));
    group.bench_function("iterate_records", |b| {
        let batch = validate(&bytes).expect("valid");
        b.iter(|| batch.records().map(|r| r.expect("record").value.map_or(0, <[u8]>::len)).sum::<usize>());
    });
    group.finish();
}

fn frames(c: &mut Criterion) {
    use bytes::{Bytes, BytesMut};
    use callboard_protocol::wire::{ApiKey, FrameCodec, RequestFrame, encode_with_payload, split_payload};

    let mut group = c.benchmark_group("wire_frame_1mib_produce");
    let batch = build(1000, 1000);
    let header = ("orders".to_string(), 3u32);
    let body = encode_with_payload(&header, &batch).expect("body");
    let frame = RequestFrame { api: ApiKey::Produce.as_u16(), version: 1, correlation: 1, body };
    let codec = FrameCodec::default();
    let mut encoded = BytesMut::new();
    codec.encode_request(&frame, &mut encoded).expect("encode");
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.bench_function("encode", |b| {
        let mut out = BytesMut::with_capacity(encoded.len());
        b.iter(|| {
            out.clear();
            codec.encode_request(&frame, &mut out).expect("encode");
            black_box(out.len())
        })
    });
    group.bench_function("decode_and_split", |b| {
        let bytes = encoded.clone().freeze();
        b.iter(|| {
            let mut buf = BytesMut::from(&bytes[..]);
            let frame = codec.decode_request(&mut buf).expect("decode").expect("complete");
            let (h, payload): ((String, u32), Bytes) = split_payload(&frame.body).expect("split");
            black_box((h, payload.len()))
        })
    });
    group.finish();
}

/// 1000 records of about 1000 bytes of JSON order events (what `callboard bench --payload json` sends).
fn json_records() -> BatchBuilder {
    let mut b = BatchBuilder::with_capacity(1 << 20);
    for i in 0..1000u64 {
        let mut value = String::with_capacity(1100);
        let mut n = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        while value.len() < 1000 {
            n = n.rotate_left(17).wrapping_mul(0x2545_F491_4F6C_DD1D);
            value.push_str(&format!(
                "{{\"order_id\":{},\"customer\":\"c-{}\",\"status\":\"shipped\",\"amount_cents\":{}}},",
                n % 9_000_000,
                n % 12,
                (n >> 8) % 100_000
            ));
        }
        value.truncate(1000);
        b.push(&RecordData { timestamp: 1_700_000_000_000, value: Some(value.as_bytes()), ..Default::default() });
    }
    b
}

/// Compressing a 1 MB batch's records (what a producer does per batch) and decompressing them (what the broker
/// does once on produce and a consumer on read), per codec; throughput in uncompressed bytes.
fn compression(c: &mut Criterion) {
    use callboard_protocol::batch::Compression;

    let mut group = c.benchmark_group("compression_1000x1kb_json");
    let plain = json_records().finish();
    group.throughput(Throughput::Bytes(plain.len() as u64));
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let records = json_records();
        group.bench_function(format!("compress_{codec}"), |b| {
            b.iter(|| black_box(records.clone().finish_compressed(codec)))
        });
        let packed = records.finish_compressed(codec);
        let batch = validate(&packed).expect("valid");
        group.bench_function(format!("decompress_{codec}"), |b| {
            b.iter(|| black_box(batch.decompress(2 << 20).expect("decompress").as_bytes().len()))
        });
    }
    group.finish();
}

criterion_group!(benches, codec, frames, compression);
criterion_main!(benches);
