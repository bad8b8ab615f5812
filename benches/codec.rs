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

criterion_group!(benches, codec, frames);
criterion_main!(benches);
