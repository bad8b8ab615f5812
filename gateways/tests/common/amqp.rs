//! Shared helpers of the AMQP tests: an in-process broker (its `admin` has [`ADMIN_PASSWORD`]) with the AMQP gateway
//! on 127.0.0.1:0, lapin connections (as the admin, or as a user made for the test), reply codes out of lapin
//! errors, and a minimal raw AMQP client (for frames lapin would never send).

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use amq_protocol::frame::{AMQPFrame, WriteContext, gen_frame, parse_frame};
use amq_protocol::protocol::{AMQPClass, connection as conn};
use callboard_actors::{Broker, BrokerConfig};
use callboard_gateways::{AmqpConfig, AmqpGateway};
use lapin::{Connection, ConnectionProperties};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The password of the `admin` user of every test broker.
pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// A broker with its AMQP gateway.
pub struct Server {
    pub broker: Broker,
    pub gateway: AmqpGateway,
    pub uri: String,
}

impl Server {
    pub async fn start(dir: &Path) -> Server {
        Self::start_with(dir, AmqpConfig::default()).await
    }

    pub async fn start_with(dir: &Path, config: AmqpConfig) -> Server {
        let config_broker = BrokerConfig {
            arbiters: 2,
            admin_password: Some(callboard_actors::auth::Secret::new(ADMIN_PASSWORD)),
            ..BrokerConfig::with_data_dir(dir)
        };
        let broker = Broker::start(config_broker).await.expect("broker");
        let addr = "127.0.0.1:0".parse().expect("addr");
        let gateway = AmqpGateway::bind(addr, broker.clone(), config).await.expect("amqp gateway");
        let uri = uri(gateway.local_addr(), "admin", ADMIN_PASSWORD, "%2f");
        Server { broker, gateway, uri }
    }

    /// The URI of this gateway for `user` with `password` on `vhost` (URL-encoded: `%2f` is `/`).
    pub fn uri_as(&self, user: &str, password: &str, vhost: &str) -> String {
        uri(self.gateway.local_addr(), user, password, vhost)
    }

    /// A lapin connection as `user` to `vhost`.
    pub async fn connect_as(&self, user: &str, password: &str, vhost: &str) -> Result<Connection, lapin::Error> {
        Connection::connect(&self.uri_as(user, password, vhost), ConnectionProperties::default()).await
    }

    pub async fn stop(self) {
        self.gateway.shutdown(Duration::from_secs(5)).await;
        self.broker.shutdown().await.expect("broker shutdown");
    }

    pub async fn connect(&self) -> Connection {
        Connection::connect(&self.uri, ConnectionProperties::default()).await.expect("connect")
    }
}

/// An AMQP URI (user and password must be URI-safe).
pub fn uri(addr: std::net::SocketAddr, user: &str, password: &str, vhost: &str) -> String {
    format!("amqp://{user}:{password}@{addr}/{vhost}")
}

/// The AMQP reply code inside a lapin error.
pub fn code(err: &lapin::Error) -> Option<u16> {
    match err.kind() {
        lapin::ErrorKind::ProtocolError(e) => Some(e.get_id()),
        _ => None,
    }
}

/// Runs a test body with a time bound.
pub async fn bounded<F: std::future::Future<Output = ()>>(secs: u64, f: F) {
    tokio::time::timeout(Duration::from_secs(secs), Box::pin(f)).await.expect("test timed out");
}

/// A raw AMQP client: one socket, frames via amq-protocol.
pub struct Raw {
    pub socket: TcpStream,
    pub buf: Vec<u8>,
}

impl Raw {
    pub async fn connect(addr: std::net::SocketAddr) -> Raw {
        Raw { socket: TcpStream::connect(addr).await.expect("tcp"), buf: Vec::new() }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.socket.write_all(bytes).await.expect("write");
    }

    pub async fn send_frame(&mut self, frame: AMQPFrame) {
        let (bytes, _) = gen_frame(&frame)(WriteContext::from(Vec::new())).expect("gen").into_inner();
        self.send(&bytes).await;
    }

    pub async fn method(&mut self, channel: u16, method: AMQPClass) {
        self.send_frame(AMQPFrame::Method(channel, method)).await;
    }

    /// The next frame (None at EOF), within 5 s.
    pub async fn next(&mut self) -> Option<AMQPFrame> {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if !self.buf.is_empty() {
                    match parse_frame(&self.buf[..]) {
                        Ok((rest, frame)) => {
                            let used = self.buf.len() - rest.len();
                            self.buf.drain(..used);
                            return Some(frame);
                        }
                        Err(e) if e.is_incomplete() => {}
                        Err(e) => panic!("unparseable frame from the server: {e:?}"),
                    }
                }
                self.buf.reserve(65536);
                match self.socket.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("no frame within 5 s")
    }

    /// Reads frames until `connection.close`; returns its reply code (None at EOF first).
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.next().await? {
                AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::Close(c))) => return Some(c.reply_code),
                _ => continue,
            }
        }
    }

    /// Reads frames until `connection.close`; returns its reply code and text (None at EOF first).
    pub async fn close_reply(&mut self) -> Option<(u16, String)> {
        loop {
            match self.next().await? {
                AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::Close(c))) => {
                    return Some((c.reply_code, c.reply_text.to_string()));
                }
                _ => continue,
            }
        }
    }

    /// Protocol header through `open-ok` with PLAIN as the admin; `heartbeat` asked in tune-ok.
    pub async fn handshake(addr: std::net::SocketAddr, heartbeat: u16) -> Raw {
        let response = format!("\0admin\0{ADMIN_PASSWORD}");
        match Raw::open(addr, "PLAIN", response.as_bytes(), "/", heartbeat).await {
            Ok(raw) => raw,
            Err(refused) => panic!("the admin's handshake was refused: {refused:?}"),
        }
    }

    /// Protocol header through `connection.open` of `vhost`, logging in with `mechanism` and `response`: the open
    /// connection, or the reply code and text of the `connection.close` refusing it (code 0: the socket closed).
    pub async fn open(
        addr: std::net::SocketAddr,
        mechanism: &str,
        response: &[u8],
        vhost: &str,
        heartbeat: u16,
    ) -> Result<Raw, (u16, String)> {
        let mut raw = Raw::connect(addr).await;
        raw.send(b"AMQP\x00\x00\x09\x01").await;
        assert!(matches!(
            raw.next().await,
            Some(AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::Start(_))))
        ));
        let start_ok = conn::StartOk {
            client_properties: Default::default(),
            mechanism: mechanism.into(),
            response: response.to_vec().into(),
            locale: "en_US".into(),
        };
        raw.method(0, AMQPClass::Connection(conn::AMQPMethod::StartOk(start_ok))).await;
        let tune = match raw.next().await {
            Some(AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::Tune(tune)))) => tune,
            Some(AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::Close(c)))) => {
                return Err((c.reply_code, c.reply_text.to_string()));
            }
            None => return Err((0, String::new())),
            other => panic!("expected tune, got {other:?}"),
        };
        let tune_ok = conn::TuneOk { channel_max: tune.channel_max, frame_max: tune.frame_max, heartbeat };
        raw.method(0, AMQPClass::Connection(conn::AMQPMethod::TuneOk(tune_ok))).await;
        raw.method(0, AMQPClass::Connection(conn::AMQPMethod::Open(conn::Open { virtual_host: vhost.into() }))).await;
        match raw.next().await {
            Some(AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::OpenOk(_)))) => Ok(raw),
            Some(AMQPFrame::Method(0, AMQPClass::Connection(conn::AMQPMethod::Close(c)))) => {
                Err((c.reply_code, c.reply_text.to_string()))
            }
            None => Err((0, String::new())),
            other => panic!("expected open-ok, got {other:?}"),
        }
    }
}

/// Polls `check` every 5 ms until it holds, failing after `secs`.
pub async fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
