//! AMQP gateway limits over real sockets with lapin: the connection limit (a connection over it is refused with
//! `connection.close` 530 after its login, the count the status page shows follows open connections) and the
//! memory high-water mark (unacknowledged deliveries past it send `connection.blocked` to the publishing
//! connection, acknowledging them sends `connection.unblocked`).

#[path = "common/amqp.rs"]
mod common;

use common::{Server, bounded, code, eventually};
use futures_util::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_refused_with_530_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = callboard_gateways::AmqpConfig { max_connections: 2, ..Default::default() };
    let server = Server::start_with(dir.path(), config).await;
    let count = server.gateway.connections();
    bounded(30, async {
        assert_eq!(count.get(), 0);
        let a = server.connect().await;
        let b = server.connect().await;
        eventually(5, "two connections counted", || count.get() == 2).await;
        let err = Connection::connect(&server.uri, ConnectionProperties::default()).await.expect_err("over the limit");
        assert_eq!(code(&err), Some(530), "{err}");
        assert_eq!(count.get(), 2, "a refused connection is not counted");
        // The open ones are unaffected.
        let ch = a.create_channel().await.expect("channel");
        ch.queue_declare("q".into(), QueueDeclareOptions::default(), FieldTable::default()).await.expect("declare");
        b.close(200, "bye".into()).await.expect("close");
        eventually(5, "the closed connection's place freed", || count.get() == 1).await;
        let c = server.connect().await;
        assert_eq!(count.get(), 2);
        c.close(200, "bye".into()).await.expect("close");
        a.close(200, "bye".into()).await.expect("close");
        eventually(5, "no connection counted", || count.get() == 0).await;
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_deliveries_past_the_high_water_mark_block_publishers_until_acked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = callboard_gateways::AmqpConfig { memory_high_watermark: 64 << 10, ..Default::default() };
    let server = Server::start_with(dir.path(), config).await;
    bounded(30, async {
        let consumer_conn = server.connect().await;
        let cch = consumer_conn.create_channel().await.expect("channel");
        cch.queue_declare("held".into(), QueueDeclareOptions::default(), FieldTable::default()).await.expect("q");

        // Published while nothing is unacknowledged (ready messages do not count), then consumed and held.
        let publisher = server.connect().await;
        let pch = publisher.create_channel().await.expect("channel");
        pch.confirm_select(ConfirmSelectOptions::default()).await.expect("confirms");
        assert!(!publisher.status().blocked());
        let body = vec![7u8; 1024];
        let n = 100; // 100 KiB of unacknowledged deliveries, past the 64 KiB mark.
        for _ in 0..n {
            pch.basic_publish(
                "".into(),
                "held".into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        }
        pch.wait_for_confirms().await.expect("confirms");
        let mut consumer = cch
            .basic_consume("held".into(), "c".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .expect("consume");
        let mut last = None;
        for _ in 0..n {
            let d = consumer.next().await.expect("delivery").expect("delivery ok");
            last = Some(d);
        }
        eventually(10, "connection.blocked on the publisher", || publisher.status().blocked()).await;
        // A connection that only consumes is not told (lapin would stop sending its acks).
        assert!(!consumer_conn.status().blocked(), "the consuming connection was blocked");

        let last = last.expect("deliveries");
        last.ack(BasicAckOptions { multiple: true }).await.expect("ack all");
        eventually(10, "connection.unblocked on the publisher", || !publisher.status().blocked()).await;
        // Publishing works again.
        pch.basic_publish(
            "".into(),
            "held".into(),
            BasicPublishOptions::default(),
            b"after",
            BasicProperties::default(),
        )
        .await
        .expect("publish after unblock");
        let d = consumer.next().await.expect("delivery").expect("delivery ok");
        assert_eq!(d.data, b"after");
        d.ack(BasicAckOptions::default()).await.expect("ack");
    })
    .await;
    server.stop().await;
}
