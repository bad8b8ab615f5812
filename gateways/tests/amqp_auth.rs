//! Authentication and authorization on the AMQP gateway, with lapin and a raw client over real sockets: there is no
//! guest account, wrong credentials and unknown mechanisms are refused (403), PLAIN, AMQPLAIN and an access token as
//! the password log in, failed logins are rate-limited, a virtual host needs a permission on its stream (530), a
//! read-only user consumes but cannot publish, a write-only one publishes but cannot consume, only `manage` declares,
//! binds, purges and deletes (403 channel errors; a dead-letter exchange also needs `write`), topic grants on a queue's topic narrow stream grants, revoked
//! grants cancel consumers and refuse the next publish on open connections, a disabled or deleted user, a revoked
//! token or a revoked virtual host closes the connection (320), and administrative requests are audited.

#[path = "common/amqp.rs"]
mod common;

use std::time::{Duration, Instant};

use amq_protocol::frame::WriteContext;
use callboard_actors::auth::AUDIT_TOPIC;
use callboard_actors::{DEFAULT_STREAM, PollRequest};
use callboard_protocol::model::{Access, Grants, Permission, PollingStrategy};
use common::{ADMIN_PASSWORD, Raw, Server, bounded, code};
use futures_util::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};

/// The password of every user a test creates.
const PASSWORD: &str = "user-password";

fn stream_grant(stream: &str, permissions: &[Permission]) -> Grants {
    let mut grants = Grants::default();
    for &permission in permissions {
        grants.grant(&Access::Stream { stream: stream.into(), permission });
    }
    grants
}

fn queue_access(queue: &str, permission: Permission) -> Access {
    Access::Topic { stream: DEFAULT_STREAM.into(), topic: format!("$amqp.q.{queue}"), permission }
}

async fn user(server: &Server, name: &str, grants: Grants) {
    server.broker.create_user(name, PASSWORD, grants).await.expect("create user");
}

async fn connect(server: &Server, name: &str) -> Connection {
    server.connect_as(name, PASSWORD, "%2f").await.unwrap_or_else(|e| panic!("{name} connects: {e}"))
}

/// Publishes one message on a fresh channel in confirm mode: Ok once confirmed, else the reply code that closed the
/// channel.
async fn publish(c: &Connection, exchange: &str, key: &str, body: &[u8]) -> Result<(), Option<u16>> {
    let ch = c.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default()).await.expect("confirms");
    let confirm = ch
        .basic_publish(exchange.into(), key.into(), BasicPublishOptions::default(), body, BasicProperties::default())
        .await
        .map_err(|e| code(&e))?;
    let confirmation = confirm.await.map_err(|e| code(&e))?;
    assert!(confirmation.is_ack(), "the publish was nacked");
    Ok(())
}

/// `basic.get` (no-ack) on a fresh channel: the body (None when empty) or the reply code.
async fn get(c: &Connection, queue: &str) -> Result<Option<Vec<u8>>, Option<u16>> {
    let ch = c.create_channel().await.expect("channel");
    let got = ch.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.map_err(|e| code(&e))?;
    Ok(got.map(|g| g.delivery.data.clone()))
}

async fn consume(ch: &Channel, queue: &str) -> Result<lapin::Consumer, Option<u16>> {
    let options = BasicConsumeOptions { no_ack: true, ..Default::default() };
    ch.basic_consume(queue.into(), "".into(), options, FieldTable::default()).await.map_err(|e| code(&e))
}

async fn declare(c: &Connection, queue: &str, options: QueueDeclareOptions) -> Result<(), Option<u16>> {
    let ch = c.create_channel().await.expect("channel");
    ch.queue_declare(queue.into(), options, FieldTable::default()).await.map(|_| ()).map_err(|e| code(&e))
}

/// The code of the error `result` failed with (None when it succeeded).
fn refused<T>(result: Result<T, Option<u16>>) -> Option<u16> {
    result.err().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_checked_against_the_brokers_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    let addr = server.gateway.local_addr();
    bounded(60, async {
        // No guest account.
        let err = server.connect_as("guest", "guest", "%2f").await.expect_err("guest is gone");
        assert_eq!(code(&err), Some(403), "{err}");
        let err = server.connect_as("admin", "not-the-password", "%2f").await.expect_err("wrong password");
        assert_eq!(code(&err), Some(403), "{err}");
        let (code, text) = Raw::open(addr, "PLAIN", b"\0admin\0nope-nope", "/", 0).await.err().expect("refused");
        assert_eq!(code, 403);
        assert!(text.starts_with("ACCESS_REFUSED - login refused"), "{text}");
        assert!(!text.contains("nope-nope"), "no password in {text}");
        let (code, text) = Raw::open(addr, "EXTERNAL", b"", "/", 0).await.err().expect("unknown mechanism");
        assert_eq!(code, 403);
        assert!(text.contains("EXTERNAL"), "{text}");

        // PLAIN and AMQPLAIN both log in.
        server.connect().await.close(200, "bye".into()).await.expect("close");
        let amqplain = format!("{}?auth_mechanism=amqplain", server.uri);
        let c = Connection::connect(&amqplain, Default::default()).await.expect("AMQPLAIN");
        c.close(200, "bye".into()).await.expect("close");
        let mut table = FieldTable::default();
        table.insert("LOGIN".into(), AMQPValue::LongString(LongString::from("admin")));
        table.insert("PASSWORD".into(), AMQPValue::LongString(LongString::from(ADMIN_PASSWORD)));
        let (encoded, _) = amq_protocol::types::generation::gen_field_table(&table)(WriteContext::from(Vec::new()))
            .expect("encode")
            .into_inner();
        // AMQPLAIN's response is the table without its length.
        let response = encoded[4..].to_vec();
        Raw::open(addr, "AMQPLAIN", &response, "/", 0).await.expect("raw AMQPLAIN");

        // An operator may create a user named guest.
        user(&server, "guest", stream_grant(DEFAULT_STREAM, &[Permission::Read])).await;
        connect(&server, "guest").await.close(200, "bye".into()).await.expect("close");

        // A personal access token works as the password (with its own user name or none).
        let token = server.broker.create_token("admin", "amqp", None).await.expect("token").token;
        server.connect_as("admin", &token, "%2f").await.expect("token as password");
        let response = format!("\0\0{token}");
        Raw::open(addr, "PLAIN", response.as_bytes(), "/", 0).await.expect("token without a user name");
        let err = server.connect_as("guest", &token, "%2f").await.expect_err("someone else's token");
        assert_eq!(common::code(&err), Some(403));

        // Failed logins are rate-limited per peer and user: past the free failures even the right password waits.
        user(&server, "limited", Grants::default()).await;
        for _ in 0..=callboard_actors::auth::FREE_FAILURES {
            let err = server.connect_as("limited", "wrong-password", "%2f").await.expect_err("wrong");
            assert_eq!(common::code(&err), Some(403));
        }
        let (code, text) =
            Raw::open(addr, "PLAIN", format!("\0limited\0{PASSWORD}").as_bytes(), "/", 0).await.err().expect("waits");
        assert_eq!(code, 403);
        assert!(text.contains("too many failed logins"), "{text}");
        // Once the delay has passed, the right password is accepted again (it has no grants: the vhost refuses it).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let login = format!("\0limited\0{PASSWORD}");
            let (code, text) = Raw::open(addr, "PLAIN", login.as_bytes(), "/", 0).await.err().expect("no vhost");
            if code == 530 {
                assert!(text.contains("access to vhost '/' refused for user 'limited'"), "{text}");
                break;
            }
            assert!(text.contains("too many failed logins"), "{text}");
            assert!(Instant::now() < deadline, "the login delay never ended");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vhost_needs_a_permission_on_its_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(30, async {
        server.broker.create_stream("tenant").await.expect("stream");
        user(&server, "alice", stream_grant(DEFAULT_STREAM, &[Permission::Read])).await;
        connect(&server, "alice").await.close(200, "bye".into()).await.expect("close");
        for vhost in ["tenant", "nope"] {
            let err = server.connect_as("alice", PASSWORD, vhost).await.expect_err("no permission");
            assert_eq!(code(&err), Some(530), "{err}");
            let text = err.to_string();
            assert!(text.contains(&format!("access to vhost '{vhost}' refused")), "existence not told: {text}");
        }
        let err = server.connect_as("admin", ADMIN_PASSWORD, "nope").await.expect_err("unknown");
        assert!(err.to_string().contains("not found"), "{err}");
        // A grant on one queue's topic is enough to open the vhost.
        let mut grants = Grants::default();
        grants.grant(&Access::Topic {
            stream: "tenant".into(),
            topic: "$amqp.q.x".into(),
            permission: Permission::Read,
        });
        user(&server, "bob", grants).await;
        let c = server.connect_as("bob", PASSWORD, "tenant").await.expect("bob opens tenant");
        c.close(200, "bye".into()).await.expect("close");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_write_and_manage_are_checked_per_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(60, async {
        let admin = server.connect().await;
        for q in ["jobs", "other"] {
            declare(&admin, q, QueueDeclareOptions::default()).await.expect("admin declares");
        }
        let ch = admin.create_channel().await.expect("channel");
        let none = FieldTable::default();
        ch.exchange_declare("fan".into(), ExchangeKind::Fanout, ExchangeDeclareOptions::default(), none.clone())
            .await
            .expect("exchange");
        ch.queue_bind("jobs".into(), "fan".into(), "".into(), QueueBindOptions::default(), none.clone())
            .await
            .expect("bind");
        for body in [b"j1", b"j2"] {
            publish(&admin, "", "jobs", body).await.expect("admin publishes");
        }

        // Read only: consumes, but cannot publish or manage.
        user(&server, "reader", stream_grant(DEFAULT_STREAM, &[Permission::Read])).await;
        let reader = connect(&server, "reader").await;
        assert_eq!(get(&reader, "jobs").await, Ok(Some(b"j1".to_vec())));
        let rch = reader.create_channel().await.expect("channel");
        let mut consumer = consume(&rch, "jobs").await.expect("reader consumes");
        assert_eq!(consumer.next().await.expect("delivery").expect("ok").data, b"j2");
        assert_eq!(refused(publish(&reader, "", "jobs", b"nope").await), Some(403));
        assert_eq!(refused(publish(&reader, "fan", "", b"nope").await), Some(403));
        assert_eq!(refused(declare(&reader, "jobs", QueueDeclareOptions::default()).await), Some(403));
        assert_eq!(refused(declare(&reader, "mine", QueueDeclareOptions::default()).await), Some(403));
        assert_eq!(refused(declare(&reader, "", QueueDeclareOptions::default()).await), Some(403));
        let passive = QueueDeclareOptions { passive: true, ..Default::default() };
        declare(&reader, "jobs", passive).await.expect("a passive declare needs no manage");
        let ch = reader.create_channel().await.expect("channel");
        let err = ch.queue_purge("jobs".into(), QueuePurgeOptions::default()).await.expect_err("purge");
        assert_eq!(code(&err), Some(403));
        let ch = reader.create_channel().await.expect("channel");
        let err = ch.queue_delete("jobs".into(), QueueDeleteOptions::default()).await.expect_err("delete");
        assert_eq!(code(&err), Some(403));
        let ch = reader.create_channel().await.expect("channel");
        let err = ch
            .queue_bind("jobs".into(), "amq.direct".into(), "k".into(), QueueBindOptions::default(), none.clone())
            .await
            .expect_err("bind");
        assert_eq!(code(&err), Some(403));
        let ch = reader.create_channel().await.expect("channel");
        let err = ch
            .exchange_declare("x".into(), ExchangeKind::Direct, ExchangeDeclareOptions::default(), none.clone())
            .await
            .expect_err("exchange declare");
        assert_eq!(code(&err), Some(403), "{err}");
        assert!(err.to_string().contains("manage access to exchange 'x'"), "{err}");
        let ch = reader.create_channel().await.expect("channel");
        let passive = ExchangeDeclareOptions { passive: true, ..Default::default() };
        ch.exchange_declare("fan".into(), ExchangeKind::Fanout, passive, none.clone()).await.expect("passive");

        // Write only: publishes (directly and through an exchange), cannot consume.
        user(&server, "writer", stream_grant(DEFAULT_STREAM, &[Permission::Write])).await;
        let writer = connect(&server, "writer").await;
        publish(&writer, "", "other", b"w1").await.expect("writer publishes");
        publish(&writer, "fan", "", b"w2").await.expect("writer publishes through an exchange");
        assert_eq!(refused(get(&writer, "other").await), Some(403));
        let ch = writer.create_channel().await.expect("channel");
        assert_eq!(refused(consume(&ch, "other").await), Some(403));
        assert_eq!(refused(declare(&writer, "other", QueueDeclareOptions::default()).await), Some(403));
        assert_eq!(get(&admin, "other").await, Ok(Some(b"w1".to_vec())));
        assert_eq!(get(&admin, "jobs").await, Ok(None), "the reader's consumer took w2");

        // Manage only: declares, binds, purges, deletes; neither reads nor writes.
        user(&server, "manager", stream_grant(DEFAULT_STREAM, &[Permission::Manage])).await;
        let manager = connect(&server, "manager").await;
        declare(&manager, "managed", QueueDeclareOptions::default()).await.expect("manager declares");
        let ch = manager.create_channel().await.expect("channel");
        ch.exchange_declare("mx".into(), ExchangeKind::Direct, ExchangeDeclareOptions::default(), none.clone())
            .await
            .expect("manager declares an exchange");
        ch.queue_bind("managed".into(), "mx".into(), "k".into(), QueueBindOptions::default(), none.clone())
            .await
            .expect("manager binds");
        assert_eq!(ch.queue_purge("managed".into(), QueuePurgeOptions::default()).await.expect("purge"), 0);
        assert_eq!(refused(publish(&manager, "mx", "k", b"nope").await), Some(403));
        assert_eq!(refused(get(&manager, "managed").await), Some(403));
        let ch = manager.create_channel().await.expect("channel");
        ch.queue_delete("managed".into(), QueueDeleteOptions::default()).await.expect("manager deletes");
        ch.exchange_delete("mx".into(), ExchangeDeleteOptions::default()).await.expect("manager deletes an exchange");
        // A queue's dead letters may go to any queue of the vhost: declaring a dead-letter exchange needs `write`.
        let mut dlx = FieldTable::default();
        dlx.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(LongString::from("")));
        let err = ch.queue_declare("dl-src".into(), QueueDeclareOptions::default(), dlx).await.expect_err("dlx");
        assert_eq!(code(&err), Some(403), "{err}");

        // A topic grant on a queue's topic decides over the stream grant for that queue.
        let mut grants = stream_grant(DEFAULT_STREAM, &[Permission::Write]);
        grants.grant(&queue_access("jobs", Permission::Read));
        user(&server, "narrow", grants).await;
        let narrow = connect(&server, "narrow").await;
        assert_eq!(get(&narrow, "jobs").await, Ok(None));
        assert_eq!(refused(get(&narrow, "other").await), Some(403));
        assert_eq!(refused(publish(&narrow, "fan", "", b"to jobs").await), Some(403), "jobs is read-only for narrow");
        publish(&narrow, "", "other", b"n1").await.expect("other is writable");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_changes_apply_to_open_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(60, async {
        let admin = server.connect().await;
        declare(&admin, "jobs", QueueDeclareOptions::default()).await.expect("declare");
        let all = [Permission::Read, Permission::Write, Permission::Manage];
        user(&server, "live", stream_grant(DEFAULT_STREAM, &all)).await;
        let live = connect(&server, "live").await;
        let ch = live.create_channel().await.expect("channel");
        let mut consumer = consume(&ch, "jobs").await.expect("consume");
        publish(&live, "", "jobs", b"one").await.expect("publish");
        assert_eq!(consumer.next().await.expect("delivery").expect("ok").data, b"one");

        // Revoking read cancels the consumer (basic.cancel) and refuses the next get.
        let read = Access::Stream { stream: DEFAULT_STREAM.into(), permission: Permission::Read };
        server.broker.revoke("live", read.clone()).await.expect("revoke read");
        assert!(consumer.next().await.is_none(), "the consumer is cancelled");
        assert_eq!(refused(get(&live, "jobs").await), Some(403));

        // Revoking write refuses the next publish; granting it again allows it.
        let write = Access::Stream { stream: DEFAULT_STREAM.into(), permission: Permission::Write };
        server.broker.revoke("live", write.clone()).await.expect("revoke write");
        assert_eq!(refused(publish(&live, "", "jobs", b"two").await), Some(403));
        server.broker.grant("live", write).await.expect("grant write");
        publish(&live, "", "jobs", b"three").await.expect("publish again");
        server.broker.grant("live", read).await.expect("grant read");
        assert_eq!(get(&live, "jobs").await, Ok(Some(b"three".to_vec())));
    })
    .await;
    server.stop().await;
}

/// A raw connection of `name` (PLAIN, password [`PASSWORD`] unless given) to `/`.
async fn raw_login(server: &Server, name: &str, password: &str) -> Raw {
    let response = format!("\0{name}\0{password}");
    match Raw::open(server.gateway.local_addr(), "PLAIN", response.as_bytes(), "/", 0).await {
        Ok(raw) => raw,
        Err(refused) => panic!("{name} refused: {refused:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_revoked_token_or_revoked_vhost_is_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(60, async {
        let read = stream_grant(DEFAULT_STREAM, &[Permission::Read]);
        for name in ["disabled", "deleted", "tokened", "unseen", "bystander"] {
            user(&server, name, read.clone()).await;
        }
        let mut disabled = raw_login(&server, "disabled", PASSWORD).await;
        let mut deleted = raw_login(&server, "deleted", PASSWORD).await;
        let token = server.broker.create_token("tokened", "t", None).await.expect("token");
        let mut tokened = raw_login(&server, "tokened", &token.token).await;
        let mut unseen = raw_login(&server, "unseen", PASSWORD).await;
        let bystander = connect(&server, "bystander").await;

        server.broker.update_user("disabled", None, Some(false)).await.expect("disable");
        let (code, text) = disabled.close_reply().await.expect("connection.close");
        assert_eq!(code, 320);
        assert!(text.contains("disabled"), "{text}");
        let err = server.connect_as("disabled", PASSWORD, "%2f").await.expect_err("cannot log in again");
        assert_eq!(common::code(&err), Some(403));

        server.broker.delete_user("deleted").await.expect("delete");
        assert_eq!(deleted.close_reply().await.map(|r| r.0), Some(320));

        server.broker.revoke_token(&token.info.id).await.expect("revoke token");
        let (code, text) = tokened.close_reply().await.expect("connection.close");
        assert_eq!(code, 320);
        assert!(text.contains("token"), "{text}");

        let read = Access::Stream { stream: DEFAULT_STREAM.into(), permission: Permission::Read };
        server.broker.revoke("unseen", read).await.expect("revoke");
        let (code, text) = unseen.close_reply().await.expect("connection.close");
        assert_eq!(code, 320);
        assert!(text.contains("access to vhost 'default' was revoked"), "{text}");

        // Other users' connections are untouched.
        assert_eq!(get(&bystander, "absent").await, Err(Some(404)));
        assert!(bystander.status().connected());
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrative_requests_are_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    bounded(60, async {
        let admin = server.connect().await;
        declare(&admin, "audited", QueueDeclareOptions { durable: true, ..Default::default() }).await.expect("declare");
        let ch = admin.create_channel().await.expect("channel");
        ch.exchange_declare("ax".into(), ExchangeKind::Topic, ExchangeDeclareOptions::default(), FieldTable::default())
            .await
            .expect("exchange");
        ch.queue_delete("audited".into(), QueueDeleteOptions::default()).await.expect("delete");
        user(&server, "reader", stream_grant(DEFAULT_STREAM, &[Permission::Read])).await;
        let reader = connect(&server, "reader").await;
        assert_eq!(refused(declare(&reader, "sneaky", QueueDeclareOptions::default()).await), Some(403));

        let deadline = Instant::now() + Duration::from_secs(20);
        let events = loop {
            let events = audit_events(&server).await;
            let has = |action: &str, user: &str, ok: bool| {
                events.iter().any(|e| e["action"] == action && e["user"] == user && e["ok"] == ok)
            };
            if has("amqp_queue_declare", "admin", true)
                && has("amqp_exchange_declare", "admin", true)
                && has("amqp_queue_delete", "admin", true)
                && has("amqp_queue_declare", "reader", false)
            {
                break events;
            }
            assert!(Instant::now() < deadline, "audit events missing: {events:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let denied = events.iter().find(|e| e["user"] == "reader" && e["action"] == "amqp_queue_declare").unwrap();
        let detail = denied["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("sneaky") && detail.contains("forbidden"), "{detail}");
        assert!(
            events.iter().any(|e| e["event"] == "login" && e["user"] == "reader"),
            "AMQP logins are audited by the broker"
        );
    })
    .await;
    server.stop().await;
}

/// Every audit event so far.
async fn audit_events(server: &Server) -> Vec<serde_json::Value> {
    let Ok(topic) = server.broker.topic(DEFAULT_STREAM, AUDIT_TOPIC).await else { return Vec::new() };
    let mut events = Vec::new();
    for p in 0..topic.partitions.len() as u32 {
        let request = PollRequest::new(PollingStrategy::First).count(10_000);
        let polled = server.broker.poll(DEFAULT_STREAM, AUDIT_TOPIC, p, request).await.expect("poll audit");
        events.extend(polled.messages.iter().filter_map(|m| serde_json::from_slice(&m.payload).ok()));
    }
    events
}
