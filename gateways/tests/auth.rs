//! Authentication and authorization on the TCP and QUIC gateways, one scenario run over both transports: nothing
//! but a login before logging in, wrong credentials refused, a read-only user consumes but cannot produce, lists
//! show only what a user was granted, grant changes apply to open sessions, a revoked token or disabled user is cut
//! off on the next request, failed logins are rate-limited, and the admin can do everything.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/quic.rs"]
mod quic_client;

use std::time::Duration;

use callboard_gateways::{GatewayConfig, TcpGateway};
use callboard_protocol::ErrorCode;
use callboard_protocol::model::{Access, Grants, Permission, PollingStrategy, UserInfo};
use callboard_protocol::wire::{
    ApiKey, CreateStream, CreateToken, CreateTopic, CreateUser, DeleteUser, DescribeTopic, Grant, ListStreams,
    ListTokens, ListTopics, ListUsers, Login, LoginWithToken, Ping, RevokeToken, UpdateUser, WhoAmI, encode_control,
};
use common::*;
use quic_client::*;
use tokio::io::{AsyncRead, AsyncWrite};

const READER: &str = "reader";
const READER_PASSWORD: &str = "reader-password";

/// Runs the scenario with clients from `open` (a new connection or stream that has said Hello, not logged in).
async fn scenario<R, W>(open: impl AsyncFn() -> RawClient<R, W>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // Before logging in only a login is served; the session stays open for it.
    let mut anonymous = open().await;
    assert_eq!(code(&anonymous.call_err(&Ping {}).await), ErrorCode::Unauthenticated);
    let refused = anonymous.request(ApiKey::Produce, produce_one("events", 0, "x")).await;
    assert_eq!(code(&refused), ErrorCode::Unauthenticated);
    let wrong = Login { user: "admin".into(), password: "not-the-password".into() };
    assert_eq!(code(&anonymous.call_err(&wrong).await), ErrorCode::Unauthenticated);
    let nobody = Login { user: "nobody".into(), password: "whatever-it-is".into() };
    assert_eq!(code(&anonymous.call_err(&nobody).await), ErrorCode::Unauthenticated);
    let junk = LoginWithToken { token: "cbt_0000000000000000_00".into() };
    assert_eq!(code(&anonymous.call_err(&junk).await), ErrorCode::Unauthenticated);

    // The admin can do everything.
    let mut admin = open().await;
    assert_eq!(admin.login("admin", ADMIN_PASSWORD).await.name, "admin");
    admin.call(&topic_request("events", 1)).await;
    admin.call(&CreateStream { name: "secret".into() }).await;
    let hidden = CreateTopic { stream: "secret".into(), ..topic_request("hidden", 1) };
    admin.call(&hidden).await;
    assert_eq!(admin.request(ApiKey::Produce, produce_one("events", 0, "first")).await.error, 0);
    let mut grants = Grants::default();
    grants.grant(&Access::Topic { stream: "default".into(), topic: "events".into(), permission: Permission::Read });
    let created: UserInfo =
        admin.call(&CreateUser { name: READER.into(), password: READER_PASSWORD.into(), grants }).await;
    assert!(created.enabled);
    assert_eq!(admin.call(&ListUsers {}).await.len(), 2);

    // A reader consumes but cannot produce, manage or see what it was not granted.
    let mut reader = open().await;
    reader.login(READER, READER_PASSWORD).await;
    let fetched = reader
        .request(ApiKey::Fetch, encode_control(&fetch_request("events", 0, PollingStrategy::First, 0)).unwrap())
        .await;
    assert_eq!(decode_fetch(&fetched).1.len(), 1);
    let produced = reader.request(ApiKey::Produce, produce_one("events", 0, "nope")).await;
    assert_eq!(code(&produced), ErrorCode::Forbidden, "{}", String::from_utf8_lossy(&produced.body));
    assert_eq!(code(&reader.call_err(&topic_request("mine", 1)).await), ErrorCode::Forbidden);
    assert_eq!(code(&reader.call_err(&ListUsers {}).await), ErrorCode::Forbidden);
    let streams: Vec<String> = reader.call(&ListStreams {}).await.into_iter().map(|s| s.name).collect();
    assert_eq!(streams, ["default"], "the secret stream is not listed");
    assert!(reader.call(&ListTopics { stream: "secret".into() }).await.is_empty());
    let describe = DescribeTopic { stream: "secret".into(), name: "hidden".into() };
    assert_eq!(code(&reader.call_err(&describe).await), ErrorCode::Forbidden);
    assert_eq!(reader.call(&WhoAmI {}).await.name, READER);

    // A grant applies to the open session from its next request.
    let write = Access::Topic { stream: "default".into(), topic: "events".into(), permission: Permission::Write };
    admin.call(&Grant { user: READER.into(), access: write }).await;
    assert_eq!(reader.request(ApiKey::Produce, produce_one("events", 0, "granted")).await.error, 0);

    // A token works until revoked; then the open session is refused and closed on its next request.
    let token = admin.call(&CreateToken { name: "ci".into(), user: Some(READER.into()), expires_in_ms: None }).await;
    let mut by_token = open().await;
    assert_eq!(by_token.call(&LoginWithToken { token: token.token.clone() }).await.name, READER);
    assert_eq!(by_token.call(&ListTokens { user: None }).await.len(), 1);
    admin.call(&RevokeToken { id: token.info.id.clone() }).await;
    // The next request is answered `unauthenticated`, unless the once-a-second re-check came first and closed the
    // session with an unsolicited `unauthenticated` (correlation 0); either way nothing else is served.
    let (c, _) = by_token.try_send_call(&Ping {}).await;
    let refused = by_token.recv().await.expect("the session says why it ends");
    assert!(refused.correlation == c || refused.correlation == 0, "answered {}", refused.correlation);
    assert_eq!(code(&refused), ErrorCode::Unauthenticated);
    by_token.expect_closed().await;
    let mut again = open().await;
    assert_eq!(code(&again.call_err(&LoginWithToken { token: token.token }).await), ErrorCode::Unauthenticated);

    // Disabling a user cuts off its session within a second even while it only waits in a long poll, whose answer
    // is never delivered.
    let c = reader.send_fetch(&fetch_request("events", 0, PollingStrategy::Offset(2), 30_000)).await;
    let describe = DescribeTopic { stream: "default".into(), name: "events".into() };
    let deadline = std::time::Instant::now() + RECV_TIMEOUT;
    while admin.call(&describe).await.partitions[0].parked_polls == 0 {
        assert!(std::time::Instant::now() < deadline, "the long poll never parked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    admin.call(&UpdateUser { name: READER.into(), password: None, enabled: Some(false) }).await;
    assert_eq!(admin.request(ApiKey::Produce, produce_one("events", 0, "after")).await.error, 0);
    let cut = reader.recv().await.expect("an answer");
    assert_ne!(cut.correlation, c, "the long poll's data is not delivered");
    assert_eq!(code(&cut), ErrorCode::Unauthenticated);
    reader.expect_closed().await;
    let mut disabled = open().await;
    let login = Login { user: READER.into(), password: READER_PASSWORD.into() };
    assert_eq!(code(&disabled.call_err(&login).await), ErrorCode::Unauthenticated);
    admin.call(&DeleteUser { name: READER.into() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_sessions_authenticate_and_authorize() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let addr = gateway.local_addr();
    scenario(async || {
        let mut client = RawClient::tcp(addr).await;
        client.hello().await;
        client
    })
    .await;
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_streams_authenticate_and_authorize() {
    let (broker, dir) = broker().await;
    let gateway = quic_gateway(&broker, dir.path(), GatewayConfig::default()).await;
    let endpoint = client_endpoint(gateway.certificate_path());
    let conn = connect(&endpoint, gateway.local_addr()).await;
    scenario(async || {
        let mut client = open(&conn).await;
        client.hello().await;
        client
    })
    .await;
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_are_delayed_even_for_the_right_one() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut admin = RawClient::tcp_ready(gateway.local_addr()).await;
    let mut client = RawClient::tcp(gateway.local_addr()).await;
    client.hello().await;
    let wrong = Login { user: "admin".into(), password: "guessing-wrong".into() };
    for _ in 0..=callboard_actors::auth::FREE_FAILURES {
        assert_eq!(code(&client.call_err(&wrong).await), ErrorCode::Unauthenticated);
    }
    // The last failure started a delay (one second, the first step): even the right password waits it out.
    let right = Login { user: "admin".into(), password: ADMIN_PASSWORD.into() };
    let refused = client.call_err(&right).await;
    assert!(String::from_utf8_lossy(&refused.body).contains("too many failed logins"), "{refused:?}");
    // The limit is per user: another user's login is not delayed.
    admin
        .call(&CreateUser { name: "other".into(), password: "other-password".into(), grants: Grants::default() })
        .await;
    let mut other = RawClient::tcp(gateway.local_addr()).await;
    other.hello().await;
    other.login("other", "other-password").await;
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_session_cannot_send_large_frames() {
    let (broker, gateway, _dir): (_, TcpGateway, _) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp(gateway.local_addr()).await;
    client.hello().await;
    // Before logging in, frames are bounded as before the handshake: a 1 MiB produce closes the session.
    let big = produce_one("events", 0, vec![b'x'; 1 << 20]);
    let c = client.correlation();
    let _ = client
        .try_send_raw(&{
            let mut out = bytes::BytesMut::new();
            callboard_protocol::wire::FrameCodec::default()
                .encode_request(
                    &callboard_protocol::wire::RequestFrame {
                        api: ApiKey::Produce.as_u16(),
                        version: 1,
                        correlation: c,
                        body: big,
                    },
                    &mut out,
                )
                .unwrap();
            out
        })
        .await;
    let frame = client.recv().await.unwrap();
    assert_eq!(code(&frame), ErrorCode::Unauthenticated);
    client.expect_closed().await;
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

/// Reads the audit log until it holds an event matching `pred` (events are appended asynchronously).
async fn wait_for_audit<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    admin: &mut RawClient<R, W>,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + RECV_TIMEOUT;
    loop {
        let fetch = fetch_request(callboard_actors::auth::AUDIT_TOPIC, 0, PollingStrategy::First, 100);
        let frame = admin.request(ApiKey::Fetch, encode_control(&fetch).unwrap()).await;
        let events: Vec<serde_json::Value> =
            decode_fetch(&frame).1.iter().map(|m| serde_json::from_slice(&m.payload).unwrap()).collect();
        if events.iter().any(&pred) {
            return events;
        }
        assert!(std::time::Instant::now() < deadline, "no matching audit event in {events:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_logins_failures_and_changes_for_user_managers_only() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut admin = RawClient::tcp_ready(gateway.local_addr()).await;
    let mut grants = Grants::default();
    grants.grant(&Access::Global(callboard_protocol::model::GlobalPermission::ReadAll));
    admin.call(&CreateUser { name: "auditor".into(), password: "auditor-password".into(), grants }).await;
    let mut failed = RawClient::tcp(gateway.local_addr()).await;
    failed.hello().await;
    let wrong = Login { user: "auditor".into(), password: "wrong-password".into() };
    failed.call_err(&wrong).await;
    let events = wait_for_audit(&mut admin, |e| e["event"] == "login_failed" && e["user"] == "auditor").await;
    assert!(events.iter().any(|e| e["event"] == "login" && e["user"] == "admin" && e["peer"] == "127.0.0.1"));
    let created = events.iter().find(|e| e["action"] == "create_user").expect("the user creation is audited");
    assert_eq!((created["user"].as_str(), created["ok"].as_bool()), (Some("admin"), Some(true)));
    let detail = created["detail"].as_str().unwrap();
    assert!(detail.contains("auditor") && !detail.contains("auditor-password"), "no password in {detail}");
    // read_all does not reach the audit log, and nobody may write it.
    let mut reader = RawClient::tcp(gateway.local_addr()).await;
    reader.hello().await;
    reader.login("auditor", "auditor-password").await;
    let fetch = fetch_request(callboard_actors::auth::AUDIT_TOPIC, 0, PollingStrategy::First, 0);
    assert_eq!(code(&reader.request(ApiKey::Fetch, encode_control(&fetch).unwrap()).await), ErrorCode::Forbidden);
    let forged = admin.request(ApiKey::Produce, produce_one(callboard_actors::auth::AUDIT_TOPIC, 0, "{}")).await;
    assert_eq!(code(&forged), ErrorCode::Forbidden);
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}
