//! AMQP write back-pressure (issue 11): a consumer that stops reading its socket makes the connection stop taking
//! deliveries once `max_write_backlog` bytes wait for the socket, instead of queueing without limit; when it reads
//! again every message arrives.

#[path = "common/amqp.rs"]
mod common;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{AMQPClass, basic, channel as chan};
use common::{Raw, Server, bounded, eventually};
use lapin::BasicProperties;
use lapin::options::*;
use lapin::types::FieldTable;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_stops_reading_holds_a_bounded_backlog() {
    const CAP: usize = 1 << 20;
    const MESSAGES: usize = 300;
    const BODY: usize = 100 << 10;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = callboard_gateways::AmqpConfig { max_write_backlog: CAP, ..Default::default() };
    let server = Server::start_with(dir.path(), config).await;
    bounded(60, async {
        // 30 MiB ready in a queue.
        let publisher = server.connect().await;
        let pch = publisher.create_channel().await.expect("channel");
        pch.queue_declare("flood".into(), QueueDeclareOptions::default(), FieldTable::default()).await.expect("q");
        pch.confirm_select(ConfirmSelectOptions::default()).await.expect("confirms");
        let body = vec![5u8; BODY];
        for _ in 0..MESSAGES {
            pch.basic_publish(
                "".into(),
                "flood".into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        }
        pch.wait_for_confirms().await.expect("confirms");

        // A raw consumer (no-ack, no prefetch limit) that reads nothing after consume-ok.
        let mut raw = Raw::handshake(server.gateway.local_addr(), 0).await;
        raw.method(1, AMQPClass::Channel(chan::AMQPMethod::Open(chan::Open {}))).await;
        assert!(matches!(
            raw.next().await,
            Some(AMQPFrame::Method(1, AMQPClass::Channel(chan::AMQPMethod::OpenOk(_))))
        ));
        let consume = basic::Consume {
            queue: "flood".into(),
            consumer_tag: "c".into(),
            no_local: false,
            no_ack: true,
            exclusive: false,
            nowait: false,
            arguments: FieldTable::default(),
        };
        raw.method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(consume))).await;
        assert!(matches!(
            raw.next().await,
            Some(AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(_))))
        ));
        // The socket buffers fill, then the backlog reaches its cap and stays there.
        eventually(20, "the write backlog to fill", || server.gateway.write_backlog_peak() >= CAP).await;
        let slack = BODY + (64 << 10);
        let peak = server.gateway.write_backlog_peak();
        assert!(peak <= CAP + slack, "backlog of {peak} bytes (cap {CAP})");

        // Reading again, every message arrives, whole.
        let (mut deliveries, mut bytes) = (0, 0);
        while bytes < MESSAGES * BODY {
            match raw.next().await.expect("connection closed") {
                AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Deliver(_))) => deliveries += 1,
                AMQPFrame::Body(1, b) => bytes += b.len(),
                _ => {}
            }
        }
        assert_eq!((deliveries, bytes), (MESSAGES, MESSAGES * BODY));
        let peak = server.gateway.write_backlog_peak();
        assert!(peak <= CAP + slack, "backlog of {peak} bytes (cap {CAP})");
    })
    .await;
    server.stop().await;
}

/// A consumer that never reads again is closed once its backlog has been full for `write_stall_timeout` (its
/// writer aborted, its budget freed); its unacknowledged deliveries go back to the queue, so nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_never_reads_is_closed_after_the_write_stall_timeout() {
    const CAP: usize = 1 << 20;
    const MESSAGES: usize = 100;
    const BODY: usize = 100 << 10;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = callboard_gateways::AmqpConfig {
        max_write_backlog: CAP,
        write_stall_timeout: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let server = Server::start_with(dir.path(), config).await;
    bounded(60, async {
        let publisher = server.connect().await;
        let pch = publisher.create_channel().await.expect("channel");
        pch.queue_declare("stall".into(), QueueDeclareOptions::default(), FieldTable::default()).await.expect("q");
        pch.confirm_select(ConfirmSelectOptions::default()).await.expect("confirms");
        let body = vec![7u8; BODY];
        for _ in 0..MESSAGES {
            pch.basic_publish(
                "".into(),
                "stall".into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        }
        pch.wait_for_confirms().await.expect("confirms");

        // Acknowledging mode, no prefetch limit, and then never a read.
        let mut raw = Raw::handshake(server.gateway.local_addr(), 0).await;
        raw.method(1, AMQPClass::Channel(chan::AMQPMethod::Open(chan::Open {}))).await;
        assert!(matches!(
            raw.next().await,
            Some(AMQPFrame::Method(1, AMQPClass::Channel(chan::AMQPMethod::OpenOk(_))))
        ));
        let consume = basic::Consume {
            queue: "stall".into(),
            consumer_tag: "c".into(),
            no_local: false,
            no_ack: false,
            exclusive: false,
            nowait: false,
            arguments: FieldTable::default(),
        };
        raw.method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(consume))).await;
        eventually(20, "the stalled connection to be closed", || server.gateway.write_stalls() == 1).await;

        // What the kernel buffered still arrives, then the end of the stream.
        while let Some(frame) = raw.next().await {
            drop(frame);
        }
        // Everything goes to the next consumer.
        let (mut got, deadline) = (0, std::time::Instant::now() + std::time::Duration::from_secs(20));
        while got < MESSAGES {
            match pch.basic_get("stall".into(), BasicGetOptions { no_ack: true }).await.expect("get") {
                Some(m) => {
                    assert_eq!(m.delivery.data.len(), BODY);
                    got += 1;
                }
                None => {
                    assert!(std::time::Instant::now() < deadline, "{got} of {MESSAGES} back in the queue");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    })
    .await;
    server.stop().await;
}
