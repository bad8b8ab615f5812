//! AMQP connection level, over real sockets: handshake with lapin (PLAIN and AMQPLAIN, bad credentials 403,
//! unknown vhost 530), channels, heartbeats both ways, and bad input from a raw client (wrong protocol header,
//! garbage, truncated and oversized frames, frames on unopened channels, tx refused) with the documented reply
//! codes, while the server stays up for other clients.

#[path = "common/amqp.rs"]
mod common;

use std::time::{Duration, Instant};

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{AMQPClass, basic, channel as chan, connection as conn, tx};
use common::{ADMIN_PASSWORD, Raw, Server, bounded, code};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_auth_vhosts_and_channels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(30, async {
        let c = server.connect().await;
        let ch = c.create_channel().await.expect("channel");
        ch.queue_declare("q".into(), QueueDeclareOptions::default(), FieldTable::default()).await.expect("declare");
        ch.close(200, "bye".into()).await.expect("channel close");
        let ch2 = c.create_channel().await.expect("another channel");
        assert_ne!(ch2.id(), 0);
        c.close(200, "bye".into()).await.expect("close");

        let amqplain = format!("{}?auth_mechanism=amqplain", server.uri);
        let c = Connection::connect(&amqplain, ConnectionProperties::default()).await.expect("AMQPLAIN");
        c.close(200, "bye".into()).await.expect("close");

        let bad = server.uri_as("admin", "wrong-password", "%2f");
        let err = Connection::connect(&bad, ConnectionProperties::default()).await.expect_err("bad password");
        assert_eq!(code(&err), Some(403), "{err}");

        let unknown = server.uri_as("admin", ADMIN_PASSWORD, "nope");
        let err = Connection::connect(&unknown, ConnectionProperties::default()).await.expect_err("unknown vhost");
        assert_eq!(code(&err), Some(530), "{err}");

        server.broker.create_stream("tenant").await.expect("stream");
        let vhost = server.uri_as("admin", ADMIN_PASSWORD, "tenant");
        let c = Connection::connect(&vhost, ConnectionProperties::default()).await.expect("vhost = stream");
        c.close(200, "bye".into()).await.expect("close");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_documented_errors_and_others_are_unaffected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    let addr = server.gateway.local_addr();
    bounded(40, async {
        // A bystander that must keep working throughout.
        let bystander = server.connect().await;
        let bch = bystander.create_channel().await.expect("channel");

        // Wrong protocol header: the server answers the header it speaks and closes.
        let mut raw = Raw::connect(addr).await;
        raw.send(b"AMQP\x01\x01\x00\x0a").await;
        let mut got = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut raw.socket, &mut got),
        )
        .await;
        assert_eq!(got, b"AMQP\x00\x00\x09\x01");

        // HTTP instead of AMQP: same.
        let mut raw = Raw::connect(addr).await;
        raw.send(b"GET / HTTP/1.1\r\n\r\n").await;
        let mut got = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut raw.socket, &mut got),
        )
        .await;
        assert_eq!(got, b"AMQP\x00\x00\x09\x01");

        // Garbage after the handshake: 501 frame error.
        let mut raw = Raw::handshake(addr, 0).await;
        raw.send(&[0x42; 32]).await;
        assert_eq!(raw.close_code().await, Some(501));

        // Oversized frame: 501 without reading (or allocating) the announced 4 GB.
        let mut raw = Raw::handshake(addr, 0).await;
        raw.send(&[3, 0, 1, 0xFF, 0xFF, 0xFF, 0xF0]).await;
        assert_eq!(raw.close_code().await, Some(501));

        // Missing frame-end octet: 501.
        let mut raw = Raw::handshake(addr, 0).await;
        raw.send(&[8, 0, 0, 0, 0, 0, 0, 0x00]).await;
        assert_eq!(raw.close_code().await, Some(501));

        // Malformed method payload: 502 syntax error.
        let mut raw = Raw::handshake(addr, 0).await;
        raw.send(&[1, 0, 1, 0, 0, 0, 3, 0, 20, 0, 0xCE]).await;
        assert_eq!(raw.close_code().await, Some(502));

        // A method on a channel never opened: 504 channel error.
        let mut raw = Raw::handshake(addr, 0).await;
        raw.method(5, AMQPClass::Basic(basic::AMQPMethod::Qos(basic::Qos { prefetch_count: 1, global: false }))).await;
        assert_eq!(raw.close_code().await, Some(504));

        // A body frame without a publish: 505 unexpected frame.
        let mut raw = Raw::handshake(addr, 0).await;
        raw.method(1, AMQPClass::Channel(chan::AMQPMethod::Open(chan::Open {}))).await;
        assert!(matches!(
            raw.next().await,
            Some(AMQPFrame::Method(1, AMQPClass::Channel(chan::AMQPMethod::OpenOk(_))))
        ));
        raw.send_frame(AMQPFrame::Body(1, b"stray".to_vec())).await;
        assert_eq!(raw.close_code().await, Some(505));

        // An unknown delivery tag is a channel exception (406): channel.close, the connection stays.
        let mut raw = Raw::handshake(addr, 0).await;
        raw.method(1, AMQPClass::Channel(chan::AMQPMethod::Open(chan::Open {}))).await;
        assert!(matches!(
            raw.next().await,
            Some(AMQPFrame::Method(1, AMQPClass::Channel(chan::AMQPMethod::OpenOk(_))))
        ));
        raw.method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack { delivery_tag: 999, multiple: false })))
            .await;
        match raw.next().await {
            Some(AMQPFrame::Method(1, AMQPClass::Channel(chan::AMQPMethod::Close(c)))) => {
                assert_eq!((c.reply_code, c.class_id, c.method_id), (406, 60, 80));
            }
            other => panic!("expected channel.close, got {other:?}"),
        }
        raw.method(1, AMQPClass::Channel(chan::AMQPMethod::CloseOk(chan::CloseOk {}))).await;
        raw.method(1, AMQPClass::Channel(chan::AMQPMethod::Open(chan::Open {}))).await;
        assert!(matches!(
            raw.next().await,
            Some(AMQPFrame::Method(1, AMQPClass::Channel(chan::AMQPMethod::OpenOk(_))))
        ));

        // tx is refused with 540 not-implemented.
        let mut raw = Raw::handshake(addr, 0).await;
        raw.method(1, AMQPClass::Channel(chan::AMQPMethod::Open(chan::Open {}))).await;
        raw.method(1, AMQPClass::Tx(tx::AMQPMethod::Select(tx::Select {}))).await;
        assert_eq!(raw.close_code().await, Some(540));

        // A truncated frame, then the client vanishes: nothing to answer, the server carries on.
        let mut raw = Raw::handshake(addr, 0).await;
        raw.send(&[1, 0, 1, 0, 0, 0, 50, 0, 10]).await;
        drop(raw);

        // After all that the bystander still works and new clients connect.
        bch.queue_declare("still-here".into(), QueueDeclareOptions::default(), FieldTable::default())
            .await
            .expect("bystander unaffected");
        let c = server.connect().await;
        c.close(200, "bye".into()).await.expect("close");
        bystander.close(200, "bye".into()).await.expect("close");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_sent_and_a_silent_peer_is_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    let addr = server.gateway.local_addr();
    bounded(20, async {
        let mut raw = Raw::handshake(addr, 1).await;
        let start = Instant::now();
        let mut heartbeats = 0;
        loop {
            match raw.next().await {
                Some(AMQPFrame::Heartbeat) => heartbeats += 1,
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
        let silent_for = start.elapsed();
        assert!(heartbeats >= 1, "the server sends heartbeats");
        assert!(silent_for >= Duration::from_millis(1500) && silent_for < Duration::from_secs(6), "{silent_for:?}");

        // A client that does send heartbeats stays connected past two intervals.
        let mut raw = Raw::handshake(addr, 1).await;
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            raw.send_frame(AMQPFrame::Heartbeat).await;
        }
        raw.method(
            0,
            AMQPClass::Connection(conn::AMQPMethod::Close(conn::Close {
                reply_code: 200,
                reply_text: "bye".into(),
                class_id: 0,
                method_id: 0,
            })),
        )
        .await;
        loop {
            match raw.next().await {
                Some(AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::CloseOk(_)))) => break,
                Some(AMQPFrame::Heartbeat) => continue,
                other => panic!("expected close-ok, got {other:?}"),
            }
        }
    })
    .await;
    server.stop().await;
}

/// Reads frames until a `basic.get-ok` (its redelivered flag) or `basic.get-empty` (None) on channel 1.
async fn get_answer(raw: &mut Raw) -> Option<bool> {
    loop {
        match raw.next().await.expect("an answer to basic.get") {
            AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::GetOk(ok))) => return Some(ok.redelivered),
            AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::GetEmpty(_))) => return None,
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_in_the_same_write_as_a_requeue_sees_the_requeued_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(30, async {
        let c = server.connect().await;
        let ch = c.create_channel().await.expect("channel");
        ch.queue_declare("again".into(), QueueDeclareOptions::default(), FieldTable::default()).await.expect("queue");
        ch.basic_publish(
            "".into(),
            "again".into(),
            lapin::options::BasicPublishOptions::default(),
            b"m",
            lapin::BasicProperties::default(),
        )
        .await
        .expect("publish");
        c.close(200, "bye".into()).await.expect("close");

        let mut raw = Raw::handshake(server.gateway.local_addr(), 0).await;
        raw.method(1, AMQPClass::Channel(chan::AMQPMethod::Open(chan::Open {}))).await;
        let get = || AMQPClass::Basic(basic::AMQPMethod::Get(basic::Get { queue: "again".into(), no_ack: false }));
        raw.method(1, get()).await;
        assert_eq!(get_answer(&mut raw).await, Some(false));
        // A nack has no answer, so clients (pika does) write the next request right behind it: the queue must settle
        // the nack before it serves the get that follows in the same read.
        for tag in 1..=20u64 {
            let nack = AMQPClass::Basic(basic::AMQPMethod::Nack(basic::Nack {
                delivery_tag: tag,
                multiple: false,
                requeue: true,
            }));
            let mut bytes = Vec::new();
            for frame in [AMQPFrame::Method(1, nack), AMQPFrame::Method(1, get())] {
                let (out, _) =
                    amq_protocol::frame::gen_frame(&frame)(amq_protocol::frame::WriteContext::from(Vec::new()))
                        .expect("gen")
                        .into_inner();
                bytes.extend_from_slice(&out);
            }
            raw.send(&bytes).await;
            assert_eq!(get_answer(&mut raw).await, Some(true), "after nack {tag}");
        }
    })
    .await;
    server.stop().await;
}
