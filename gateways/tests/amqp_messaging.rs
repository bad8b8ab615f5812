//! AMQP exchanges, queues and the basic class with lapin over real sockets: routing by every exchange type
//! (topic wildcards, headers all/any, exchange-to-exchange), declare/delete preconditions, server-named and exclusive
//! queues, purge, publish/consume/ack/nack/reject with requeue and the redelivered flag, get/get-empty, prefetch,
//! cancel, requeue when a connection closes, mandatory returns, publisher confirms, and properties round trips.

#[path = "common/amqp.rs"]
mod common;

use std::time::Duration;

use common::{Server, bounded, code};
use futures_util::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};

async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8]) {
    ch.basic_publish(exchange.into(), key.into(), BasicPublishOptions::default(), body, BasicProperties::default())
        .await
        .expect("publish");
}

async fn declare(ch: &Channel, name: &str) -> String {
    let q = ch.queue_declare(name.into(), QueueDeclareOptions::default(), FieldTable::default()).await.expect("queue");
    q.name().to_string()
}

async fn get_body(ch: &Channel, queue: &str) -> Option<Vec<u8>> {
    let got = ch.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.expect("get")?;
    Some(got.delivery.data.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanges_route_by_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(30, async {
        let c = server.connect().await;
        let ch = c.create_channel().await.expect("channel");
        for q in ["direct-q", "fan-1", "fan-2", "topic-star", "topic-hash", "hdr-all", "hdr-any", "e2e"] {
            declare(&ch, q).await;
        }
        let none = FieldTable::default();
        let bind = |q: &'static str, x: &'static str, k: &'static str, args: FieldTable| {
            let ch = ch.clone();
            async move { ch.queue_bind(q.into(), x.into(), k.into(), QueueBindOptions::default(), args).await }
        };
        bind("direct-q", "amq.direct", "k1", none.clone()).await.expect("bind");
        bind("fan-1", "amq.fanout", "", none.clone()).await.expect("bind");
        bind("fan-2", "amq.fanout", "", none.clone()).await.expect("bind");
        bind("topic-star", "amq.topic", "a.*.c", none.clone()).await.expect("bind");
        bind("topic-hash", "amq.topic", "a.#", none.clone()).await.expect("bind");
        let mut all = FieldTable::default();
        all.insert("x-match".into(), AMQPValue::LongString("all".into()));
        all.insert("h1".into(), AMQPValue::LongString("v1".into()));
        all.insert("h2".into(), AMQPValue::LongString("v2".into()));
        let mut any = all.clone();
        any.insert("x-match".into(), AMQPValue::LongString("any".into()));
        bind("hdr-all", "amq.headers", "", all).await.expect("bind");
        bind("hdr-any", "amq.headers", "", any).await.expect("bind");
        ch.exchange_declare("mine".into(), ExchangeKind::Fanout, ExchangeDeclareOptions::default(), none.clone())
            .await
            .expect("declare exchange");
        ch.exchange_bind(
            "mine".into(),
            "amq.direct".into(),
            "to-mine".into(),
            ExchangeBindOptions::default(),
            none.clone(),
        )
        .await
        .expect("e2e bind");
        bind("e2e", "mine", "", none.clone()).await.expect("bind");

        publish(&ch, "", "direct-q", b"default").await;
        publish(&ch, "amq.direct", "k1", b"direct").await;
        publish(&ch, "amq.direct", "other", b"nowhere").await;
        publish(&ch, "amq.fanout", "whatever", b"fan").await;
        publish(&ch, "amq.topic", "a.b.c", b"abc").await;
        publish(&ch, "amq.topic", "a", b"a").await;
        publish(&ch, "amq.direct", "to-mine", b"via-mine").await;
        let mut h = FieldTable::default();
        h.insert("h1".into(), AMQPValue::LongString("v1".into()));
        let props = BasicProperties::default().with_headers(h.clone());
        ch.basic_publish("amq.headers".into(), "".into(), BasicPublishOptions::default(), b"h1", props)
            .await
            .expect("publish");
        h.insert("h2".into(), AMQPValue::LongString("v2".into()));
        let props = BasicProperties::default().with_headers(h);
        ch.basic_publish("amq.headers".into(), "".into(), BasicPublishOptions::default(), b"h1h2", props)
            .await
            .expect("publish");

        let drain = |q: &'static str| {
            let ch = ch.clone();
            async move {
                let mut out = Vec::new();
                while let Some(b) = get_body(&ch, q).await {
                    out.push(String::from_utf8(b).expect("utf8"));
                }
                out
            }
        };
        assert_eq!(drain("direct-q").await, ["default", "direct"]);
        assert_eq!(drain("fan-1").await, ["fan"]);
        assert_eq!(drain("fan-2").await, ["fan"]);
        assert_eq!(drain("topic-star").await, ["abc"]);
        assert_eq!(drain("topic-hash").await, ["abc", "a"]);
        assert_eq!(drain("hdr-all").await, ["h1h2"]);
        assert_eq!(drain("hdr-any").await, ["h1", "h1h2"]);
        assert_eq!(drain("e2e").await, ["via-mine"]);

        // Redeclare with another type: 406 closes the channel.
        let err = ch
            .exchange_declare("mine".into(), ExchangeKind::Direct, ExchangeDeclareOptions::default(), none.clone())
            .await
            .expect_err("type mismatch");
        assert_eq!(code(&err), Some(406));
        let ch = c.create_channel().await.expect("channel");
        let passive = ExchangeDeclareOptions { passive: true, ..Default::default() };
        let err =
            ch.exchange_declare("absent".into(), ExchangeKind::Direct, passive, none.clone()).await.expect_err("404");
        assert_eq!(code(&err), Some(404));
        let ch = c.create_channel().await.expect("channel");
        let err = ch
            .exchange_delete("mine".into(), ExchangeDeleteOptions { if_unused: true, ..Default::default() })
            .await
            .expect_err("in use");
        assert_eq!(code(&err), Some(406));
        let ch = c.create_channel().await.expect("channel");
        ch.exchange_delete("mine".into(), ExchangeDeleteOptions::default()).await.expect("delete");
        // Publishing to a missing exchange is a channel exception (404); the pending confirm fails with it.
        ch.confirm_select(ConfirmSelectOptions::default()).await.expect("confirms");
        let confirm = ch
            .basic_publish("mine".into(), "".into(), BasicPublishOptions::default(), b"x", BasicProperties::default())
            .await
            .expect("publish sent");
        let err = confirm.await.expect_err("channel closed");
        assert_eq!(code(&err), Some(404), "{err}");
        c.close(200, "bye".into()).await.expect("close");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_declare_exclusive_purge_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(30, async {
        let c1 = server.connect().await;
        let c2 = server.connect().await;
        let ch1 = c1.create_channel().await.expect("channel");
        let named = declare(&ch1, "").await;
        assert!(named.starts_with("amq.gen-") && named.len() == 30, "{named}");
        let excl = QueueDeclareOptions { exclusive: true, ..Default::default() };
        ch1.queue_declare("mine".into(), excl, FieldTable::default()).await.expect("exclusive");
        let ch2 = c2.create_channel().await.expect("channel");
        let err = ch2.queue_declare("mine".into(), excl, FieldTable::default()).await.expect_err("locked");
        assert_eq!(code(&err), Some(405));
        let ch2 = c2.create_channel().await.expect("channel");
        let err = ch2
            .queue_declare(
                "mine".into(),
                QueueDeclareOptions { durable: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .expect_err("locked");
        assert_eq!(code(&err), Some(405));
        let ch2 = c2.create_channel().await.expect("channel");
        let passive = QueueDeclareOptions { passive: true, ..Default::default() };
        let err = ch2.queue_declare("absent".into(), passive, FieldTable::default()).await.expect_err("404");
        assert_eq!(code(&err), Some(404));
        let ch2 = c2.create_channel().await.expect("channel");
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), AMQPValue::LongString("classic".into()));
        declare(&ch2, "work").await;
        ch2.queue_declare("with-args".into(), QueueDeclareOptions::default(), args).await.expect("x-args accepted");
        for i in 0..5 {
            publish(&ch2, "", "work", format!("m{i}").as_bytes()).await;
        }
        let q = ch2.queue_declare("work".into(), passive, FieldTable::default()).await.expect("passive");
        assert_eq!(q.message_count(), 5);
        let err = ch2
            .queue_delete("work".into(), QueueDeleteOptions { if_empty: true, ..Default::default() })
            .await
            .expect_err("not empty");
        assert_eq!(code(&err), Some(406));
        let ch2 = c2.create_channel().await.expect("channel");
        assert_eq!(ch2.queue_purge("work".into(), QueuePurgeOptions::default()).await.expect("purge"), 5);
        assert_eq!(get_body(&ch2, "work").await, None);
        publish(&ch2, "", "work", b"one").await;
        assert_eq!(ch2.queue_delete("work".into(), QueueDeleteOptions::default()).await.expect("delete"), 1);
        let err = ch2.queue_declare("work".into(), passive, FieldTable::default()).await.expect_err("gone");
        assert_eq!(code(&err), Some(404));

        // The exclusive queue goes with its connection.
        c1.close(200, "bye".into()).await.expect("close");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            // A failed passive declare closes the channel: a fresh one per look.
            let ch2 = c2.create_channel().await.expect("channel");
            match ch2.queue_declare("mine".into(), passive, FieldTable::default()).await {
                Err(err) => {
                    assert_eq!(code(&err), Some(404));
                    break;
                }
                Ok(_) => assert!(std::time::Instant::now() < deadline, "the exclusive queue outlived its connection"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        c2.close(200, "bye".into()).await.expect("close");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_ack_nack_reject_prefetch_and_requeue_on_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(40, async {
        let c = server.connect().await;
        let ch = c.create_channel().await.expect("channel");
        declare(&ch, "jobs").await;
        for i in 0..10 {
            publish(&ch, "", "jobs", format!("{i}").as_bytes()).await;
        }
        let consumer_conn = server.connect().await;
        let cch = consumer_conn.create_channel().await.expect("channel");
        cch.basic_qos(3, BasicQosOptions::default()).await.expect("qos");
        let mut consumer = cch
            .basic_consume("jobs".into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .expect("consume");
        assert!(consumer.tag().as_str().starts_with("amq.ctag-"));
        let mut first = Vec::new();
        for _ in 0..3 {
            let d = consumer.next().await.expect("delivery").expect("ok");
            first.push(d);
        }
        assert_eq!(
            first.iter().map(|d| d.data.clone()).collect::<Vec<_>>(),
            [b"0".to_vec(), b"1".to_vec(), b"2".to_vec()]
        );
        // Prefetch 3: nothing more arrives until an ack.
        assert!(tokio::time::timeout(Duration::from_millis(300), consumer.next()).await.is_err(), "prefetch holds");
        first[0].acker.ack(BasicAckOptions::default()).await.expect("ack");
        let d3 = consumer.next().await.expect("delivery").expect("ok");
        assert_eq!(d3.data, b"3");
        // nack with requeue: delivered again, flagged redelivered, before later messages.
        first[1].acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await.expect("nack");
        let again = consumer.next().await.expect("delivery").expect("ok");
        assert_eq!((again.data.as_slice(), again.redelivered), (&b"1"[..], true));
        // reject without requeue: gone.
        first[2].acker.reject(BasicRejectOptions { requeue: false }).await.expect("reject");
        let d4 = consumer.next().await.expect("delivery").expect("ok");
        assert_eq!(d4.data, b"4");
        // ack multiple up to d4 settles again (1), 3 and 4.
        d4.acker.ack(BasicAckOptions { multiple: true }).await.expect("ack multiple");
        let mut rest = Vec::new();
        for _ in 0..3 {
            rest.push(consumer.next().await.expect("delivery").expect("ok"));
        }
        assert_eq!(
            rest.iter().map(|d| d.data.clone()).collect::<Vec<_>>(),
            [b"5".to_vec(), b"6".to_vec(), b"7".to_vec()]
        );
        // Closing the connection requeues 5, 6, 7 (and 8, 9 stay): a new consumer sees them, redelivered first.
        consumer_conn.close(200, "bye".into()).await.expect("close");
        let passive = QueueDeclareOptions { passive: true, ..Default::default() };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let q = ch.queue_declare("jobs".into(), passive, FieldTable::default()).await.expect("passive");
            if q.message_count() == 5 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{} ready, not 5, after the close", q.message_count());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut seen = Vec::new();
        while let Some(got) = ch.basic_get("jobs".into(), BasicGetOptions { no_ack: false }).await.expect("get") {
            seen.push((String::from_utf8(got.delivery.data.clone()).expect("utf8"), got.delivery.redelivered));
            got.delivery.acker.ack(BasicAckOptions::default()).await.expect("ack");
        }
        let expected = [("5", true), ("6", true), ("7", true), ("8", false), ("9", false)];
        assert_eq!(seen, expected.map(|(b, r)| (b.to_string(), r)));
        c.close(200, "bye".into()).await.expect("close");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirms_returns_cancel_and_properties() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(30, async {
        let c = server.connect().await;
        let ch = c.create_channel().await.expect("channel");
        ch.confirm_select(ConfirmSelectOptions::default()).await.expect("confirm.select");
        let q = ch
            .queue_declare(
                "durable-q".into(),
                QueueDeclareOptions { durable: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .expect("declare");
        assert_eq!(q.message_count(), 0);
        let mut headers = FieldTable::default();
        headers.insert("zeta".into(), AMQPValue::LongString("last".into()));
        headers.insert("alpha".into(), AMQPValue::LongInt(-7));
        headers.insert("nested".into(), AMQPValue::FieldArray(vec![AMQPValue::Boolean(true)].into()));
        let props = BasicProperties::default()
            .with_content_type("text/plain".into())
            .with_delivery_mode(2)
            .with_priority(3)
            .with_correlation_id("corr".into())
            .with_reply_to("back".into())
            .with_message_id("id-1".into())
            .with_timestamp(1_700_000_000)
            .with_app_id("test".into())
            .with_headers(headers);
        let mut confirms = Vec::new();
        for i in 0..50u32 {
            let confirm = ch
                .basic_publish(
                    "".into(),
                    "durable-q".into(),
                    BasicPublishOptions::default(),
                    &i.to_be_bytes(),
                    props.clone(),
                )
                .await
                .expect("publish");
            confirms.push(confirm);
        }
        for confirm in confirms {
            assert!(confirm.await.expect("confirm").is_ack());
        }
        // Unroutable and mandatory: returned, then confirmed.
        let confirm = ch
            .basic_publish(
                "".into(),
                "nobody".into(),
                BasicPublishOptions { mandatory: true, ..Default::default() },
                b"lost",
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        let outcome = confirm.await.expect("confirm");
        assert!(outcome.is_ack());
        let returned = outcome.take_message().expect("basic.return before the ack");
        assert_eq!((returned.reply_code, returned.data.as_slice()), (312, &b"lost"[..]));

        let mut consumer = ch
            .basic_consume(
                "durable-q".into(),
                "c1".into(),
                BasicConsumeOptions { no_ack: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .expect("consume");
        for i in 0..50u32 {
            let d = consumer.next().await.expect("delivery").expect("ok");
            assert_eq!(d.data, i.to_be_bytes());
            assert_eq!(d.properties, props, "properties and headers round-trip");
        }
        ch.basic_cancel("c1".into(), BasicCancelOptions::default()).await.expect("cancel");
        publish(&ch, "", "durable-q", b"after-cancel").await;
        assert!(tokio::time::timeout(Duration::from_millis(300), consumer.next()).await.map_or(true, |d| d.is_none()));
        assert_eq!(get_body(&ch, "durable-q").await.as_deref(), Some(&b"after-cancel"[..]));
        assert_eq!(get_body(&ch, "durable-q").await, None, "get-empty");
        c.close(200, "bye".into()).await.expect("close");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_length_drops_the_oldest_and_ttl_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(30, async {
        let c = server.connect().await;
        let ch = c.create_channel().await.expect("channel");
        let mut args = FieldTable::default();
        args.insert("x-max-length".into(), AMQPValue::LongInt(2));
        ch.queue_declare("short".into(), QueueDeclareOptions::default(), args).await.expect("declare");
        let mut args = FieldTable::default();
        args.insert("x-message-ttl".into(), AMQPValue::LongInt(200));
        ch.queue_declare("ttl".into(), QueueDeclareOptions::default(), args).await.expect("declare");
        let mut bad = FieldTable::default();
        bad.insert("x-max-length".into(), AMQPValue::LongString("lots".into()));
        let err = ch.queue_declare("bad".into(), QueueDeclareOptions::default(), bad).await.expect_err("bad arg");
        assert_eq!(code(&err), Some(406));
        let ch = c.create_channel().await.expect("channel");
        for i in 0..5 {
            publish(&ch, "", "short", format!("s{i}").as_bytes()).await;
        }
        publish(&ch, "", "ttl", b"old").await;
        let passive = QueueDeclareOptions { passive: true, ..Default::default() };
        let q = ch.queue_declare("short".into(), passive, FieldTable::default()).await.expect("passive");
        assert_eq!(q.message_count(), 2);
        assert_eq!(get_body(&ch, "short").await.as_deref(), Some(&b"s3"[..]));
        assert_eq!(get_body(&ch, "short").await.as_deref(), Some(&b"s4"[..]));
        // The TTL is 200 ms: here time itself has to pass (not a wait for another task).
        tokio::time::sleep(Duration::from_millis(400)).await;
        publish(&ch, "", "ttl", b"fresh").await;
        assert_eq!(get_body(&ch, "ttl").await.as_deref(), Some(&b"fresh"[..]), "the expired message is dropped");
        c.close(200, "bye".into()).await.expect("close");
    })
    .await;
    server.stop().await;
}
