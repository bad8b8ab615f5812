//! The connection handshake: protocol header (a wrong one is answered with the header this server speaks, then the
//! socket is closed), `connection.start` with the server's capabilities, `start-ok` with PLAIN or AMQPLAIN
//! credentials checked against the broker's users (refused: 403 access-refused), `tune`/`tune-ok`, and `open` of a
//! virtual host the user has some permission on (otherwise, or when it does not exist: 530 not-allowed).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amq_protocol::protocol::{AMQPClass, connection as conn};
use amq_protocol::types::parsing::parse_field_table;
use amq_protocol::types::{AMQPValue, FieldTable, LongString};

use callboard_actors::auth::{Principal, TOKEN_PREFIX};
use callboard_actors::{Broker, BrokerError};

use super::access::ConnectionAccess;
use super::io::FrameReader;
use crate::amqp::frame::{Inbound, PROTOCOL_HEADER, put_method};
use crate::amqp::reply::{AmqpError, ReplyCode, access_refused, internal};
use crate::amqp::shared::Shared;
use crate::amqp::vhost::VHost;

/// What the handshake settled.
#[derive(Debug)]
pub struct Negotiated {
    /// Largest frame.
    pub frame_max: u32,
    /// Most channels.
    pub channel_max: u16,
    /// Heartbeat interval (zero: none).
    pub heartbeat: Duration,
    /// The virtual host opened.
    pub vhost: Arc<VHost>,
    /// Who logged in, and what they may do there.
    pub access: ConnectionAccess,
}

/// Why the handshake did not finish.
#[derive(Debug)]
pub enum HandshakeError {
    /// The peer sent another protocol header: answer ours and close.
    WrongProtocol,
    /// The socket closed or failed.
    Gone,
    /// A protocol error: `connection.close` with it.
    Amqp(AmqpError),
}

impl From<AmqpError> for HandshakeError {
    fn from(e: AmqpError) -> Self {
        HandshakeError::Amqp(e)
    }
}

fn server_properties() -> FieldTable {
    let mut capabilities = FieldTable::default();
    for cap in [
        "publisher_confirms",
        "basic.nack",
        "consumer_cancel_notify",
        "per_consumer_qos",
        "connection.blocked",
        "exchange_exchange_bindings",
        "authentication_failure_close",
    ] {
        capabilities.insert(cap.into(), AMQPValue::Boolean(true));
    }
    let mut props = FieldTable::default();
    props.insert("capabilities".into(), AMQPValue::FieldTable(capabilities));
    props.insert("product".into(), AMQPValue::LongString("Callboard".into()));
    props.insert("version".into(), AMQPValue::LongString(env!("CARGO_PKG_VERSION").into()));
    props.insert("platform".into(), AMQPValue::LongString("Rust".into()));
    props
}

/// The user name and password of a PLAIN (`authzid\0user\0password`, the authorization identity ignored) or
/// AMQPLAIN (a field table without its length, `LOGIN` and `PASSWORD`) response; other mechanisms are refused.
fn credentials(mechanism: &str, response: &LongString) -> Result<(String, String), AmqpError> {
    let bytes = response.as_bytes();
    match mechanism {
        "PLAIN" => {
            let mut parts = bytes.splitn(3, |b| *b == 0);
            let _authzid = parts.next();
            let user = parts.next().unwrap_or_default();
            let password = parts.next().unwrap_or_default();
            Ok((String::from_utf8_lossy(user).into_owned(), String::from_utf8_lossy(password).into_owned()))
        }
        "AMQPLAIN" => {
            let mut table_bytes = (bytes.len() as u32).to_be_bytes().to_vec();
            table_bytes.extend_from_slice(bytes);
            let table = parse_field_table(&table_bytes[..])
                .map(|(_, t)| t)
                .map_err(|_| AmqpError::new(ReplyCode::SyntaxError, "malformed AMQPLAIN response"))?;
            let text = |key: &str| match table.inner().get(key) {
                Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                Some(AMQPValue::ShortString(s)) => s.to_string(),
                _ => String::new(),
            };
            Ok((text("LOGIN"), text("PASSWORD")))
        }
        other => Err(access_refused(format!("unsupported authentication mechanism '{other}' (use PLAIN or AMQPLAIN)"))),
    }
}

/// Logs in against the broker's users (the failed-login limiter keyed by the peer's address and the user applies):
/// with the password, or with a personal access token given as the password (then the user name, when given, must
/// be the token's user). A refusal is 403 ACCESS_REFUSED with the broker's reason.
async fn authenticate(
    broker: &Broker,
    mechanism: &str,
    response: &LongString,
    peer: SocketAddr,
) -> Result<Principal, AmqpError> {
    let (user, password) = credentials(mechanism, response)?;
    let login = if password.starts_with(TOKEN_PREFIX) {
        broker.login_token(&password, Some(peer.ip())).and_then(|p| {
            if user.is_empty() || p.user() == user {
                Ok(p)
            } else {
                Err(BrokerError::Unauthenticated(format!("the access token is not user '{user}'s")))
            }
        })
    } else {
        broker.login(&user, &password, Some(peer.ip())).await
    };
    login.map_err(|e| {
        let why = match e {
            BrokerError::Unauthenticated(why) => why,
            other => other.to_string(),
        };
        access_refused(format!("login refused using authentication mechanism {mechanism}: {why}"))
    })
}

async fn expect_method(reader: &mut FrameReader, frame_max: u32) -> Result<AMQPClass, HandshakeError> {
    loop {
        match reader.next(frame_max).await {
            Ok(Some(Inbound::Heartbeat)) => continue,
            Ok(Some(Inbound::Method(0, method))) => return Ok(method),
            Ok(Some(_)) => {
                return Err(AmqpError::new(ReplyCode::UnexpectedFrame, "expected a method on channel 0").into());
            }
            Ok(None) => return Err(HandshakeError::Gone),
            Err(e) => return Err(HandshakeError::Amqp(e)),
        }
    }
}

/// Runs the handshake; `send` queues bytes for the socket. With `refuse`, the connection is refused with that error
/// in answer to `connection.open` (as RabbitMQ refuses a connection over a limit), its credentials unchecked.
pub async fn run(
    reader: &mut FrameReader,
    send: &mut impl FnMut(Vec<u8>),
    shared: &Arc<Shared>,
    peer: SocketAddr,
    refuse: Option<AmqpError>,
) -> Result<Negotiated, HandshakeError> {
    let header = reader.read_exact_header().await.ok_or(HandshakeError::Gone)?;
    if &header != PROTOCOL_HEADER {
        return Err(HandshakeError::WrongProtocol);
    }
    // Until tune-ok, frames are bounded by the frame size the spec lets every peer send.
    let handshake_max = 128 * 1024;
    let mut out = Vec::new();
    let start = conn::Start {
        version_major: 0,
        version_minor: 9,
        server_properties: server_properties(),
        mechanisms: "PLAIN AMQPLAIN".into(),
        locales: "en_US".into(),
    };
    put_method(&mut out, 0, AMQPClass::Connection(conn::AMQPMethod::Start(start)));
    send(std::mem::take(&mut out));
    let AMQPClass::Connection(conn::AMQPMethod::StartOk(start_ok)) = expect_method(reader, handshake_max).await? else {
        return Err(AmqpError::new(ReplyCode::CommandInvalid, "expected connection.start-ok").into());
    };
    // A connection refused anyway (over the limit) is not worth a password check.
    let epoch = shared.broker.authenticator().epoch();
    let principal = match refuse {
        Some(_) => None,
        None => Some(authenticate(&shared.broker, start_ok.mechanism.as_str(), &start_ok.response, peer).await?),
    };
    let config = &shared.config;
    let tune = conn::Tune {
        channel_max: config.channel_max,
        frame_max: config.frame_max,
        heartbeat: config.heartbeat.as_secs().min(u64::from(u16::MAX)) as u16,
    };
    put_method(&mut out, 0, AMQPClass::Connection(conn::AMQPMethod::Tune(tune)));
    send(std::mem::take(&mut out));
    let AMQPClass::Connection(conn::AMQPMethod::TuneOk(tune_ok)) = expect_method(reader, handshake_max).await? else {
        return Err(AmqpError::new(ReplyCode::CommandInvalid, "expected connection.tune-ok").into());
    };
    let frame_max = match tune_ok.frame_max {
        0 => config.frame_max,
        n if n < 4096 => {
            return Err(AmqpError::new(ReplyCode::NotAllowed, format!("frame_max {n} below the minimum 4096")).into());
        }
        n => n.min(config.frame_max),
    };
    let channel_max = match tune_ok.channel_max {
        0 => config.channel_max,
        n => n.min(config.channel_max),
    };
    let heartbeat = Duration::from_secs(u64::from(tune_ok.heartbeat));
    let AMQPClass::Connection(conn::AMQPMethod::Open(open)) = expect_method(reader, frame_max).await? else {
        return Err(AmqpError::new(ReplyCode::CommandInvalid, "expected connection.open").into());
    };
    let Some(principal) = principal else {
        return Err(refuse.unwrap_or_else(|| internal("no login")).into());
    };
    let name = open.virtual_host.as_str();
    let stream = Shared::stream_for(name);
    // Before looking the virtual host up, so its existence is not told to whoever may not use it.
    if !principal.sees_stream(stream) {
        let text = format!("access to vhost '{name}' refused for user '{}'", principal.user());
        return Err(AmqpError::new(ReplyCode::NotAllowed, text).into());
    }
    let vhost = shared.vhost(name).await?;
    put_method(&mut out, 0, AMQPClass::Connection(conn::AMQPMethod::OpenOk(conn::OpenOk {})));
    send(out);
    let access = ConnectionAccess::new(principal, vhost.stream.clone(), epoch);
    Ok(Negotiated { frame_max, channel_max, heartbeat, vhost, access })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_amqplain_responses_are_parsed_and_others_refused() {
        let plain = |bytes: &[u8]| credentials("PLAIN", &LongString::from(bytes.to_vec()));
        assert_eq!(plain(b"\0bob\0secret").unwrap(), ("bob".into(), "secret".into()));
        assert_eq!(plain(b"authz\0bob\0pa\0ss").unwrap(), ("bob".into(), "pa\0ss".into()));
        assert_eq!(plain(b"").unwrap(), (String::new(), String::new()));
        let mut table = FieldTable::default();
        table.insert("LOGIN".into(), AMQPValue::LongString("bob".into()));
        table.insert("PASSWORD".into(), AMQPValue::LongString("secret".into()));
        let (encoded, _) =
            amq_protocol::types::generation::gen_field_table(&table)(Vec::new().into()).expect("encode").into_inner();
        let amqplain = credentials("AMQPLAIN", &LongString::from(encoded[4..].to_vec())).unwrap();
        assert_eq!(amqplain, ("bob".into(), "secret".into()));
        let garbage = credentials("AMQPLAIN", &LongString::from(vec![5u8, b'L', b'O']));
        assert_eq!(garbage.unwrap_err().code, ReplyCode::SyntaxError);
        let other = credentials("EXTERNAL", &LongString::from(Vec::new())).unwrap_err();
        assert_eq!(other.code, ReplyCode::AccessRefused);
    }
}
