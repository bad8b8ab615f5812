//! Publisher confirms under pipelining: many publishes in flight on one channel, fanned out to two durable queues
//! (so one flight has appends to two queues, and flights arriving during an fsync are merged into one append per
//! queue): every publish is acked, and each queue holds every message once, in publish order.

#[path = "common/amqp.rs"]
mod common;

use common::{Server, bounded};
use futures_util::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};

const MESSAGES: u32 = 2000;

async fn declare_bound(ch: &Channel, name: &str) {
    let durable = QueueDeclareOptions { durable: true, ..Default::default() };
    ch.queue_declare(name.into(), durable, FieldTable::default()).await.expect("declare");
    ch.queue_bind(name.into(), "amq.fanout".into(), "".into(), QueueBindOptions::default(), FieldTable::default())
        .await
        .expect("bind");
}

async fn drain_in_order(ch: &Channel, queue: &str) {
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions { no_ack: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    for expected in 0..MESSAGES {
        let delivery = consumer.next().await.expect("a delivery").expect("delivery");
        let got = u32::from_be_bytes(delivery.data[..4].try_into().expect("4 bytes"));
        assert_eq!(got, expected, "queue {queue} delivers in publish order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_confirms_to_two_queues_are_all_acked_and_stored_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(60, async {
        let c = server.connect().await;
        let ch = c.create_channel().await.expect("channel");
        declare_bound(&ch, "fan-a").await;
        declare_bound(&ch, "fan-b").await;
        ch.confirm_select(ConfirmSelectOptions::default()).await.expect("confirm.select");
        let props = BasicProperties::default().with_delivery_mode(2);
        let mut confirms = Vec::new();
        for i in 0..MESSAGES {
            let confirm = ch
                .basic_publish(
                    "amq.fanout".into(),
                    "".into(),
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
        let consumer_channel = c.create_channel().await.expect("channel");
        drain_in_order(&consumer_channel, "fan-a").await;
        drain_in_order(&consumer_channel, "fan-b").await;
    })
    .await;
    server.stop().await;
}
