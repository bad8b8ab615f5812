//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/` from the real encoders (the wire codec,
//! the batch builder, amq-protocol's frame generator), in each target's input layout. Run from `fuzz/`:
//! `cargo run --example gen_corpus`. Files are named by content, so running it again changes nothing.
#![allow(clippy::print_stdout)]

use std::path::Path;

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame, WriteContext, gen_frame};
use amq_protocol::protocol::{AMQPClass, basic, channel, connection, exchange, queue};
use amq_protocol::types::{AMQPValue, FieldTable, LongString};
use bytes::{Bytes, BytesMut};
use callboard_protocol::batch::{BatchBuilder, Header, ProducerInfo, RecordData};
use callboard_protocol::model::{OffsetReset, PollingStrategy, ResetPolicy, TopicConfig};
use callboard_protocol::wire::{
    ApiKey, Call, ConsumerSpec, CreateTopic, Fetch, FetchResponse, FrameCodec, GroupFetch, Hello, JoinGroup, Ping,
    Produce, ProduceTarget, ReadPosition, RequestFrame, ResetGroupOffsets, ResponseFrame, StoreOffset, encode_control,
    encode_with_payload,
};

fn write(target: &str, data: &[u8]) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let name = format!("seed-{:08x}", crc32(data));
    std::fs::write(dir.join(name), data).expect("write seed");
}

/// A small content hash for file names (CRC-32/ISO-HDLC, bitwise).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn batches() -> Vec<Vec<u8>> {
    let mut one = BatchBuilder::new();
    one.push(&RecordData { timestamp: 1_700_000_000_000, value: Some(b"hello"), ..Default::default() });
    let headers = [Header { key: "trace", value: Some(b"abc") }, Header { key: "none", value: None }];
    let mut many = BatchBuilder::new().producer(ProducerInfo { producer_id: 7, producer_epoch: 0, base_sequence: 3 });
    for i in 0..4u8 {
        many.push(&RecordData {
            timestamp: 1_700_000_000_000 + i64::from(i) * 5 - 7,
            id: (i % 2 == 0).then_some(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8 + u128::from(i)),
            key: Some(&[b'k', i]),
            value: (i != 2).then_some(&b"payload"[..]),
            headers: &headers[..usize::from(i % 3)],
        });
    }
    vec![one.finish(), many.finish()]
}

fn request(api: ApiKey, body: Bytes) -> RequestFrame {
    RequestFrame { api: api.as_u16(), version: 1, correlation: 42, body }
}

fn control<T: Call>(value: &T) -> (ApiKey, Bytes) {
    (T::API, encode_control(value).expect("encode"))
}

fn wire_bodies(batch: &[u8]) -> Vec<(ApiKey, Bytes)> {
    let hello = Hello { protocol_version: 1, client_id: "callboard-cli".into() };
    let fetch = Fetch {
        stream: "default".into(),
        topic: "orders".into(),
        partition: 0,
        strategy: PollingStrategy::Offset(10),
        max_count: 100,
        max_bytes: 1 << 20,
        max_wait_ms: 500,
        consumer: Some(ConsumerSpec { name: "c".into(), auto_commit: true, reset: ResetPolicy::Earliest }),
    };
    let group_fetch = GroupFetch {
        stream: "default".into(),
        group: "g".into(),
        member_id: "m-1".into(),
        generation: 3,
        assignment: Vec::new(),
        max_count: 10,
        max_bytes: 1 << 16,
        max_wait_ms: 0,
        auto_commit: false,
        reset: ResetPolicy::Latest,
        positions: vec![ReadPosition { topic: "orders".into(), partition: 1, offset: 9 }],
    };
    let join = JoinGroup {
        stream: "default".into(),
        group: "g".into(),
        client_id: "c".into(),
        topics: vec!["orders".into(), "audit".into()],
        session_timeout_ms: 10_000,
        strategy: Default::default(),
        member_id: None,
    };
    let produce = Produce {
        stream: "default".into(),
        topic: "orders".into(),
        target: ProduceTarget::Key(Bytes::from_static(b"k1")),
    };
    vec![
        (ApiKey::Hello, encode_control(&hello).expect("encode")),
        control(&Ping {}),
        (ApiKey::Fetch, encode_control(&fetch).expect("encode")),
        (ApiKey::GroupFetch, encode_control(&group_fetch).expect("encode")),
        control(&join),
        control(&CreateTopic { stream: "default".into(), name: "orders".into(), config: TopicConfig::default() }),
        control(&StoreOffset {
            stream: "default".into(),
            topic: "orders".into(),
            partition: 2,
            consumer: "c".into(),
            offset: 77,
        }),
        control(&ResetGroupOffsets {
            stream: "default".into(),
            group: "g".into(),
            topic: "orders".into(),
            to: OffsetReset::Timestamp(1_700_000_000_000),
        }),
        (ApiKey::Produce, encode_with_payload(&produce, batch).expect("encode")),
    ]
}

fn amqp(frames: &[AMQPFrame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        out = gen_frame(f)(WriteContext::from(out)).expect("gen").into_inner().0;
    }
    out
}

fn amqp_streams() -> Vec<Vec<u8>> {
    let mut props = FieldTable::default();
    props.insert("product".into(), AMQPValue::LongString(LongString::from("pika")));
    props.insert("capabilities".into(), AMQPValue::FieldTable(FieldTable::default()));
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(10));
    args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(LongString::from("dlx")));
    let mut headers = FieldTable::default();
    headers.insert("trace".into(), AMQPValue::LongString(LongString::from("abc")));
    headers.insert("n".into(), AMQPValue::LongLongInt(-3));
    let handshake = amqp(&[
        AMQPFrame::Method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
                client_properties: props,
                mechanism: "PLAIN".into(),
                response: LongString::from("\0guest\0guest"),
                locale: "en_US".into(),
            })),
        ),
        AMQPFrame::Method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                channel_max: 2047,
                frame_max: 131_072,
                heartbeat: 60,
            })),
        ),
        AMQPFrame::Method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open { virtual_host: "/".into() })),
        ),
        AMQPFrame::Method(1, AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {}))),
    ]);
    let topology = amqp(&[
        AMQPFrame::Method(
            1,
            AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
                exchange: "logs".into(),
                kind: "topic".into(),
                passive: false,
                durable: true,
                auto_delete: false,
                internal: false,
                nowait: false,
                arguments: FieldTable::default(),
            })),
        ),
        AMQPFrame::Method(
            1,
            AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
                queue: "q".into(),
                passive: false,
                durable: true,
                exclusive: false,
                auto_delete: false,
                nowait: false,
                arguments: args,
            })),
        ),
        AMQPFrame::Method(
            1,
            AMQPClass::Queue(queue::AMQPMethod::Bind(queue::Bind {
                queue: "q".into(),
                exchange: "logs".into(),
                routing_key: "a.*".into(),
                nowait: false,
                arguments: FieldTable::default(),
            })),
        ),
    ]);
    let properties = basic::AMQPProperties::default()
        .with_content_type("text/plain".into())
        .with_delivery_mode(2)
        .with_headers(headers)
        .with_message_id("m-1".into())
        .with_expiration("60000".into());
    let publish = amqp(&[
        AMQPFrame::Method(
            1,
            AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
                exchange: "logs".into(),
                routing_key: "a.b".into(),
                mandatory: true,
                immediate: false,
            })),
        ),
        AMQPFrame::Header(1, AMQPContentHeader { class_id: 60, body_size: 11, properties }),
        AMQPFrame::Body(1, b"hello world".to_vec()),
    ]);
    let consume = amqp(&[
        AMQPFrame::Method(
            1,
            AMQPClass::Basic(basic::AMQPMethod::Qos(basic::Qos { prefetch_count: 10, global: false })),
        ),
        AMQPFrame::Method(
            1,
            AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
                queue: "q".into(),
                consumer_tag: "ctag".into(),
                no_local: false,
                no_ack: false,
                exclusive: false,
                nowait: false,
                arguments: FieldTable::default(),
            })),
        ),
        AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack { delivery_tag: 1, multiple: true }))),
        AMQPFrame::Heartbeat,
    ]);
    vec![handshake, topology, publish, consume]
}

fn main() {
    let batches = batches();
    let codec = FrameCodec::default();

    // record_batch: mode byte (0: as is; 3: fix length and CRC), then the batch.
    for b in &batches {
        write("record_batch", &[&[0u8][..], b].concat());
        write("record_batch", &[&[3u8][..], b].concat());
    }

    // wire_request_body: api key (big-endian), then the body.
    let bodies = wire_bodies(&batches[1]);
    for (api, body) in &bodies {
        write("wire_request_body", &[&api.as_u16().to_be_bytes()[..], body].concat());
    }

    // wire_frame: chunk count, chunk sizes, then a stream of pipelined frames.
    let mut requests = BytesMut::new();
    for (api, body) in &bodies {
        codec.encode_request(&request(*api, body.clone()), &mut requests).expect("encode");
    }
    write("wire_frame", &[&[3u8, 5, 17, 1][..], &requests].concat());
    let mut single = BytesMut::new();
    codec.encode_request(&request(ApiKey::Ping, bodies[1].1.clone()), &mut single).expect("encode");
    write("wire_frame", &[&[0u8][..], &single].concat());
    let mut responses = BytesMut::new();
    let fetched = FetchResponse { start_offset: 0, next_offset: 4, log_start: 0, log_end: 4 };
    let body = encode_with_payload(&fetched, &batches[1]).expect("encode");
    codec.encode_response(&ResponseFrame { correlation: 42, error: 0, body }, &mut responses).expect("encode");
    let error = Bytes::from_static(b"topic 'orders' not found");
    codec.encode_response(&ResponseFrame { correlation: 43, error: 4, body: error }, &mut responses).expect("encode");
    write("wire_frame", &[&[2u8, 9, 30][..], &responses].concat());

    // amqp_frame: frame_max and chunk count byte, chunk sizes, then frames (after the protocol header).
    for (i, stream) in amqp_streams().iter().enumerate() {
        let chunks: &[u8] = if i % 2 == 0 { &[] } else { &[7, 1, 200] };
        let first = 5u8 | ((chunks.len() as u8) << 3);
        write("amqp_frame", &[&[first][..], chunks, stream].concat());
    }

    // http_json: body kind (index into JSON_BODIES), then the JSON body.
    let json: [(u8, &str); 9] = [
        (0, r#"{"messages":[{"payload":"hello","key":"k","headers":{"trace":"abc"}}]}"#),
        (
            0,
            r#"{"partitioning":{"key":"a2V5"},"encoding":"base64","messages":[{"payload":"aGk=","id":"67e55044-10b1-426f-9247-bb680e5fe0c8"}]}"#,
        ),
        (0, r#"{"partitioning":"message_key","messages":[{"payload":"x","key":"1"},{"payload":"y","key":"2"}]}"#),
        (1, r#"{"name":"orders"}"#),
        (
            2,
            r#"{"name":"events","partitions":3,"durability":"interval:100","retention_age_ms":86400000,"segment_bytes":1048576,"max_message_bytes":1024,"dedup":{"max_ids":1000,"max_age_ms":60000}}"#,
        ),
        (3, r#"{"count":2.0}"#),
        (4, r#"{"offset":42}"#),
        (5, r#"{"topic":"orders","to":{"timestamp":1700000000000}}"#),
        (5, r#"{"topic":"orders","to":"earliest"}"#),
    ];
    for (kind, body) in json {
        write("http_json", &[&[kind][..], body.as_bytes()].concat());
    }

    // http_query: the poll route's query string.
    for q in [
        "from=first&count=10",
        "from=offset:42&count=100&wait_ms=500&encoding=base64",
        "from=next&consumer=c&auto_commit=true",
        "from=timestamp:-5",
    ] {
        write("http_query", q.as_bytes());
    }

    // serve_config: TOML files.
    for c in [
        "data_dir = \"/var/lib/callboard\"\ntcp = \"0.0.0.0:7070\"\nquic = \"off\"\nhttp = \"127.0.0.1:7080\"\n",
        "amqp = \"[::1]:5672\"\nquic_cert = \"cert.pem\"\nquic_key = \"key.pem\"\nmax_connections = 4096\n",
    ] {
        write("serve_config", c.as_bytes());
    }
    println!("corpus written");
}
