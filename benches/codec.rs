//! Criterion benchmarks of the record-batch codec: encoding a batch, validating it (CRC and record framing) and
//! iterating over its records.

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

criterion_group!(benches, codec);
criterion_main!(benches);
