//! AMQP durability across a broker restart (stop the broker and gateway, start new ones on the same data directory):
//! durable exchanges, queues, bindings and messages survive, non-durable queues and their logs do not, acknowledged
//! messages are reclaimed (the log start advances) and not delivered again.

#[path = "common/amqp.rs"]
mod common;

use std::time::Duration;

use callboard_actors::DEFAULT_STREAM;
use common::{Server, bounded, code};
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, ExchangeKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_things_survive_a_restart_and_acked_messages_are_reclaimed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    let durable = QueueDeclareOptions { durable: true, ..Default::default() };
    bounded(30, async {
        let c = server.connect().await;
        let ch = c.create_channel().await.expect("channel");
        ch.confirm_select(ConfirmSelectOptions::default()).await.expect("confirms");
        let xopts = ExchangeDeclareOptions { durable: true, ..Default::default() };
        ch.exchange_declare("events".into(), ExchangeKind::Topic, xopts, FieldTable::default())
            .await
            .expect("exchange");
        ch.queue_declare("keep".into(), durable, FieldTable::default()).await.expect("durable queue");
        ch.queue_declare("temp".into(), QueueDeclareOptions::default(), FieldTable::default()).await.expect("queue");
        ch.queue_bind(
            "keep".into(),
            "events".into(),
            "order.*".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
        let props = BasicProperties::default().with_delivery_mode(2);
        for i in 0..20 {
            let key = "order.created";
            ch.basic_publish(
                "events".into(),
                key.into(),
                BasicPublishOptions::default(),
                format!("m{i}").as_bytes(),
                props.clone(),
            )
            .await
            .expect("publish")
            .await
            .expect("confirmed");
            ch.basic_publish("".into(), "temp".into(), BasicPublishOptions::default(), b"t", props.clone())
                .await
                .expect("publish")
                .await
                .expect("confirmed");
        }
        // Take and acknowledge the first 5; take 2 more without acknowledging (requeued when the broker stops).
        for i in 0..7 {
            let got = ch.basic_get("keep".into(), BasicGetOptions::default()).await.expect("get").expect("message");
            assert_eq!(got.delivery.data, format!("m{i}").as_bytes());
            if i < 5 {
                got.delivery.acker.ack(BasicAckOptions::default()).await.expect("ack");
            }
        }
        // The floor is persisted and the log start advanced past the acknowledged messages.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let topic = server.broker.topic(DEFAULT_STREAM, "$amqp.q.keep").await.expect("queue topic");
            let start = topic.partitions[0].log_start;
            assert!(start <= 5, "unacknowledged messages were reclaimed: log start {start}");
            if start == 5 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "acknowledged messages are reclaimed: log start {start}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(c);
    })
    .await;
    server.stop().await;

    let server = Server::start(dir.path()).await;
    bounded(30, async {
        let c = server.connect().await;
        let ch = c.create_channel().await.expect("channel");
        let passive = QueueDeclareOptions { passive: true, ..Default::default() };
        let q = ch.queue_declare("keep".into(), passive, FieldTable::default()).await.expect("durable queue survives");
        assert_eq!(q.message_count(), 15, "acked messages are not delivered again");
        let mut bodies = Vec::new();
        while let Some(got) = ch.basic_get("keep".into(), BasicGetOptions { no_ack: true }).await.expect("get") {
            bodies.push(String::from_utf8(got.delivery.data.clone()).expect("utf8"));
        }
        assert_eq!(bodies, (5..20).map(|i| format!("m{i}")).collect::<Vec<_>>());
        // The binding survived too.
        ch.basic_publish(
            "events".into(),
            "order.paid".into(),
            BasicPublishOptions::default(),
            b"again",
            BasicProperties::default(),
        )
        .await
        .expect("publish");
        let got = ch.basic_get("keep".into(), BasicGetOptions { no_ack: true }).await.expect("get").expect("routed");
        assert_eq!(got.delivery.data, b"again");
        let err = ch.queue_declare("temp".into(), passive, FieldTable::default()).await.expect_err("non-durable gone");
        assert_eq!(code(&err), Some(404));
        let topics = server.broker.topics(DEFAULT_STREAM).await.expect("topics");
        assert!(!topics.iter().any(|t| t.name == "$amqp.q.temp"), "the non-durable queue's log is removed");
        c.close(200, "bye".into()).await.expect("close");
    })
    .await;
    server.stop().await;
}
