//! AMQP dead-lettering with lapin over real sockets: rejected and nacked messages, messages expired by
//! `x-message-ttl` or their own `expiration` (removed on a timer from a queue nobody reads: the "delay queue"
//! pattern), and messages dropped by `x-max-length` are republished to the dead-letter exchange with `x-death`;
//! a missing dead-letter exchange drops them; an expiry cycle is dropped while a rejection loop goes on.

#[path = "common/amqp.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Server, bounded, code};
use futures_util::StreamExt;
use lapin::message::BasicGetMessage;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};

fn args(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

async fn declare(ch: &Channel, name: &str, arguments: FieldTable) {
    ch.queue_declare(name.into(), QueueDeclareOptions::default(), arguments).await.expect("declare");
}

async fn publish(ch: &Channel, queue: &str, body: &[u8], props: BasicProperties) {
    ch.basic_publish("".into(), queue.into(), BasicPublishOptions::default(), body, props)
        .await
        .expect("publish")
        .await
        .expect("confirm");
}

/// The next message of `queue` (acked), polling until `secs` pass.
async fn get_within(ch: &Channel, queue: &str, secs: u64) -> BasicGetMessage {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(m) = ch.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.expect("get") {
            return m;
        }
        assert!(Instant::now() < deadline, "nothing in '{queue}' within {secs} s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ready messages in `queue`.
async fn count(ch: &Channel, queue: &str) -> u32 {
    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
    ch.queue_declare(queue.into(), passive, FieldTable::default()).await.expect("passive declare").message_count()
}

/// The start and end offsets of a queue's log (reclaimed below the start; every message ever appended below the end).
async fn log_bounds(server: &Server, queue: &str) -> (u64, u64) {
    let fetch = callboard_actors::Fetch {
        strategy: callboard_actors::PollingStrategy::First,
        max_count: 1,
        max_bytes: 1,
        max_wait: Duration::ZERO,
        consumer: None,
        fence: None,
    };
    let fetched = server.broker.fetch("default", &format!("$amqp.q.{queue}"), 0, fetch).await.expect("fetch");
    (fetched.log_start, fetched.log_end)
}

fn header<'a>(table: &'a FieldTable, key: &str) -> &'a AMQPValue {
    table.inner().get(key).unwrap_or_else(|| panic!("no '{key}' in {table:?}"))
}

fn as_text(v: &AMQPValue) -> String {
    match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        other => panic!("not text: {other:?}"),
    }
}

/// The `x-death` tables of a message.
fn deaths(props: &BasicProperties) -> Vec<FieldTable> {
    let headers = props.headers().clone().expect("headers");
    match header(&headers, "x-death") {
        AMQPValue::FieldArray(a) => a
            .as_slice()
            .iter()
            .map(|v| match v {
                AMQPValue::FieldTable(t) => t.clone(),
                other => panic!("x-death entry is not a table: {other:?}"),
            })
            .collect(),
        other => panic!("x-death is not an array: {other:?}"),
    }
}

fn death_count(d: &FieldTable) -> i64 {
    match header(d, "count") {
        AMQPValue::LongLongInt(n) => *n,
        other => panic!("count: {other:?}"),
    }
}

async fn channel(server: &Server) -> (lapin::Connection, Channel) {
    let c = server.connect().await;
    let ch = c.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default()).await.expect("confirms");
    (c, ch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_and_nacked_messages_are_dead_lettered_with_x_death() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(30, async {
        let (_c, ch) = channel(&server).await;
        ch.exchange_declare("dlx".into(), lapin::ExchangeKind::Direct, Default::default(), FieldTable::default())
            .await
            .expect("dlx");
        declare(&ch, "dlq", FieldTable::default()).await;
        ch.queue_bind("dlq".into(), "dlx".into(), "dead".into(), Default::default(), FieldTable::default())
            .await
            .expect("bind");
        let work_args = args(&[("x-dead-letter-exchange", text("dlx")), ("x-dead-letter-routing-key", text("dead"))]);
        declare(&ch, "work", work_args).await;

        let props = BasicProperties::default()
            .with_content_type("text/plain".into())
            .with_message_id("m-1".into())
            .with_priority(4)
            .with_headers(args(&[("app", text("v"))]));
        publish(&ch, "work", b"rejected", props).await;
        let got = ch.basic_get("work".into(), BasicGetOptions { no_ack: false }).await.expect("get").expect("msg");
        got.reject(BasicRejectOptions { requeue: false }).await.expect("reject");

        let dead = get_within(&ch, "dlq", 10).await;
        assert_eq!(dead.delivery.data, b"rejected");
        assert_eq!(dead.delivery.exchange.as_str(), "dlx");
        assert_eq!(dead.delivery.routing_key.as_str(), "dead");
        let p = &dead.delivery.properties;
        assert_eq!(p.content_type().as_ref().map(ShortString::as_str), Some("text/plain"));
        assert_eq!(p.message_id().as_ref().map(ShortString::as_str), Some("m-1"));
        assert_eq!(*p.priority(), Some(4));
        let headers = p.headers().clone().expect("headers");
        assert_eq!(as_text(header(&headers, "app")), "v");
        assert_eq!(as_text(header(&headers, "x-first-death-queue")), "work");
        assert_eq!(as_text(header(&headers, "x-first-death-reason")), "rejected");
        assert_eq!(as_text(header(&headers, "x-first-death-exchange")), "");
        let d = deaths(p);
        assert_eq!(d.len(), 1);
        assert_eq!(as_text(header(&d[0], "queue")), "work");
        assert_eq!(as_text(header(&d[0], "reason")), "rejected");
        assert_eq!(as_text(header(&d[0], "exchange")), "");
        assert_eq!(death_count(&d[0]), 1);
        assert!(matches!(header(&d[0], "time"), AMQPValue::Timestamp(_)));
        match header(&d[0], "routing-keys") {
            AMQPValue::FieldArray(a) => assert_eq!(a.as_slice(), &[text("work")]),
            other => panic!("routing-keys: {other:?}"),
        }

        // basic.nack without requeue, from a consumer.
        publish(&ch, "work", b"nacked", BasicProperties::default()).await;
        let mut consumer = ch
            .basic_consume("work".into(), "c".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .expect("consume");
        let d = consumer.next().await.expect("delivery").expect("ok");
        d.nack(BasicNackOptions { multiple: false, requeue: false }).await.expect("nack");
        let dead = get_within(&ch, "dlq", 10).await;
        assert_eq!(dead.delivery.data, b"nacked");
        assert_eq!(as_text(header(&deaths(&dead.delivery.properties)[0], "reason")), "rejected");
        assert_eq!(count(&ch, "work").await, 0);

        // A routing key without an exchange is refused, as by RabbitMQ.
        let only_key = args(&[("x-dead-letter-routing-key", text("dead"))]);
        let err = ch.queue_declare("bad".into(), Default::default(), only_key).await.expect_err("406");
        assert_eq!(code(&err), Some(406), "{err}");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_queue_without_consumers_dead_letters_on_time_like_a_delay_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(30, async {
        let (_c, ch) = channel(&server).await;
        declare(&ch, "ready", FieldTable::default()).await;
        let delay_args = args(&[
            ("x-message-ttl", AMQPValue::LongInt(300)),
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text("ready")),
        ]);
        declare(&ch, "delay", delay_args).await;
        let mut consumer = ch
            .basic_consume("ready".into(), "c".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .expect("consume");

        let start = Instant::now();
        publish(&ch, "delay", b"later", BasicProperties::default()).await;
        let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("dead-lettered within 10 s")
            .expect("delivery")
            .expect("ok");
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(250), "delivered after {waited:?}, before the TTL");
        assert_eq!(d.data, b"later");
        assert_eq!(d.routing_key.as_str(), "ready");
        let death = &deaths(&d.properties)[0];
        assert_eq!(as_text(header(death, "reason")), "expired");
        assert_eq!(as_text(header(death, "queue")), "delay");
        d.ack(BasicAckOptions::default()).await.expect("ack");
        assert_eq!(count(&ch, "delay").await, 0);

        // A per-message expiration on a queue without TTL: the same, and the expiration is moved aside.
        declare(
            &ch,
            "hold",
            args(&[("x-dead-letter-exchange", text("")), ("x-dead-letter-routing-key", text("ready"))]),
        )
        .await;
        publish(&ch, "hold", b"own-ttl", BasicProperties::default().with_expiration("200".into())).await;
        let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("dead-lettered within 10 s")
            .expect("delivery")
            .expect("ok");
        assert_eq!(d.data, b"own-ttl");
        assert_eq!(*d.properties.expiration(), None);
        let death = &deaths(&d.properties)[0];
        assert_eq!(as_text(header(death, "original-expiration")), "200");
        assert_eq!(as_text(header(death, "queue")), "hold");
        d.ack(BasicAckOptions::default()).await.expect("ack");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_length_overflow_dead_letters_the_oldest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(30, async {
        let (_c, ch) = channel(&server).await;
        declare(&ch, "overflow", FieldTable::default()).await;
        let short = args(&[
            ("x-max-length", AMQPValue::LongInt(2)),
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text("overflow")),
        ]);
        declare(&ch, "short", short).await;
        for i in 0..5 {
            publish(&ch, "short", format!("m{i}").as_bytes(), BasicProperties::default()).await;
        }
        for i in 0..3 {
            let m = get_within(&ch, "overflow", 10).await;
            assert_eq!(m.delivery.data, format!("m{i}").as_bytes());
            assert_eq!(as_text(header(&deaths(&m.delivery.properties)[0], "reason")), "maxlen");
        }
        for i in 3..5 {
            let m = get_within(&ch, "short", 1).await;
            assert_eq!(m.delivery.data, format!("m{i}").as_bytes());
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_exchange_drops_expiry_cycles_are_dropped_and_rejection_loops_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(30, async {
        let (_c, ch) = channel(&server).await;
        // Dead-letter exchange that does not exist: the message is dropped.
        declare(
            &ch,
            "lost",
            args(&[("x-message-ttl", AMQPValue::LongInt(50)), ("x-dead-letter-exchange", text("nope"))]),
        )
        .await;
        // Expiring back into itself: dropped after one round (RabbitMQ's cycle rule).
        let self_loop = args(&[("x-message-ttl", AMQPValue::LongInt(50)), ("x-dead-letter-exchange", text(""))]);
        declare(&ch, "loop", self_loop).await;
        publish(&ch, "lost", b"x", BasicProperties::default()).await;
        publish(&ch, "loop", b"y", BasicProperties::default()).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while count(&ch, "lost").await + count(&ch, "loop").await > 0 {
            assert!(Instant::now() < deadline, "expired messages not removed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Not republished into "loop" at all: its log holds the one message published. A cycling message would
        // be appended again every 50 ms; give it ten rounds to show up.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(log_bounds(&server, "loop").await.1, 1, "the expired message was dead-lettered back into its queue");

        // Rejected back into itself: each rejection counts in the same x-death entry.
        declare(&ch, "retry", args(&[("x-dead-letter-exchange", text(""))])).await;
        publish(&ch, "retry", b"again", BasicProperties::default()).await;
        for round in 1..=3 {
            let deadline = Instant::now() + Duration::from_secs(10);
            let got = loop {
                if let Some(m) = ch.basic_get("retry".into(), BasicGetOptions { no_ack: false }).await.expect("get") {
                    break m;
                }
                assert!(Instant::now() < deadline, "not back in 'retry'");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            if round > 1 {
                let d = deaths(&got.delivery.properties);
                assert_eq!(d.len(), 1);
                assert_eq!(death_count(&d[0]), round - 1);
            }
            got.reject(BasicRejectOptions { requeue: false }).await.expect("reject");
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_ttl_message_is_dead_lettered_after_a_restart_and_then_reclaimed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let durable = QueueDeclareOptions { durable: true, ..Default::default() };
    let server = Server::start(dir.path()).await;
    bounded(20, async {
        let (c, ch) = channel(&server).await;
        ch.queue_declare("d-ready".into(), durable, FieldTable::default()).await.expect("declare");
        let delay_args = args(&[
            ("x-message-ttl", AMQPValue::LongInt(1000)),
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text("d-ready")),
        ]);
        ch.queue_declare("d-delay".into(), durable, delay_args).await.expect("declare");
        publish(&ch, "d-delay", b"survives", BasicProperties::default().with_delivery_mode(2)).await;
        c.close(200, "bye".into()).await.expect("close");
    })
    .await;
    server.stop().await;

    let server = Server::start(dir.path()).await;
    bounded(20, async {
        let (_c, ch) = channel(&server).await;
        let m = get_within(&ch, "d-ready", 10).await;
        assert_eq!(m.delivery.data, b"survives");
        assert_eq!(as_text(header(&deaths(&m.delivery.properties)[0], "reason")), "expired");
        assert_eq!(count(&ch, "d-delay").await, 0);
        assert_eq!(count(&ch, "d-ready").await, 0, "dead-lettered once");
        // The original is reclaimed once its copy is stored (the floor moves past it).
        let deadline = Instant::now() + Duration::from_secs(5);
        while log_bounds(&server, "d-delay").await.0 < 1 {
            assert!(Instant::now() < deadline, "the dead-lettered original was not reclaimed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    server.stop().await;
}
