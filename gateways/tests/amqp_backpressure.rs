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

/// Declares `queue` and publishes `count` copies of `body` with confirms; answers the publishing channel.
async fn fill_queue(publisher: &lapin::Connection, queue: &str, count: usize, body: &[u8]) -> lapin::Channel {
    let ch = publisher.create_channel().await.expect("channel");
    ch.queue_declare(queue.into(), QueueDeclareOptions::default(), FieldTable::default()).await.expect("q");
    ch.confirm_select(ConfirmSelectOptions::default()).await.expect("confirms");
    for _ in 0..count {
        ch.basic_publish("".into(), queue.into(), BasicPublishOptions::default(), body, BasicProperties::default())
            .await
            .expect("publish");
    }
    ch.wait_for_confirms().await.expect("confirms");
    ch
}

/// A raw connection consuming `queue` on channel 1 (no prefetch limit) that reads nothing unless told to.
async fn raw_consumer(server: &Server, queue: &str, no_ack: bool) -> Raw {
    let mut raw = Raw::handshake(server.gateway.local_addr(), 0).await;
    raw.method(1, AMQPClass::Channel(chan::AMQPMethod::Open(chan::Open {}))).await;
    assert!(matches!(raw.next().await, Some(AMQPFrame::Method(1, AMQPClass::Channel(chan::AMQPMethod::OpenOk(_))))));
    let consume = basic::Consume {
        queue: queue.into(),
        consumer_tag: "c".into(),
        no_local: false,
        no_ack,
        exclusive: false,
        nowait: false,
        arguments: FieldTable::default(),
    };
    raw.method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(consume))).await;
    raw
}

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
        let _pch = fill_queue(&publisher, "flood", MESSAGES, &vec![5u8; BODY]).await;

        // A raw consumer (no-ack, no prefetch limit) that reads nothing after consume-ok.
        let mut raw = raw_consumer(&server, "flood", true).await;
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
        let pch = fill_queue(&publisher, "stall", MESSAGES, &vec![7u8; BODY]).await;

        // Acknowledging mode, no prefetch limit, and then never a read.
        let mut raw = raw_consumer(&server, "stall", false).await;
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
