//! The tasks behind a connection: connect and handshake, then a writer draining the request queue into the stream
//! (flushing when the queue runs empty) and a reader matching answers to requests.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::BytesMut;
use callboard_protocol::wire::{
    ApiKey, FrameCodec, Hello, HelloResponse, Login, LoginWithToken, PROTOCOL_VERSION, RequestFrame, ResponseFrame,
    decode_control, encode_control,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use super::Shared;
use crate::config::{ClientConfig, Credentials};
use crate::error::{ClientError, Result};
use crate::transport::{self, QuicGuard, ReadHalf, WriteHalf};

/// Bytes gathered before a write even when more frames are queued.
const WRITE_CHUNK: usize = 1 << 20;

/// Connects, handshakes, then runs the writer here and the reader in its own task.
pub(super) async fn run(
    config: ClientConfig,
    rx: mpsc::UnboundedReceiver<RequestFrame>,
    shared: Arc<Shared>,
    ready: oneshot::Sender<Result<HelloResponse>>,
) {
    let codec = FrameCodec::new(config.max_frame);
    let connected = tokio::time::timeout(config.request_timeout, connect(&config, codec)).await;
    let (reader, writer, guard, buf, hello) = match connected {
        Ok(Ok(parts)) => parts,
        Ok(Err(e)) => return fail(&shared, ready, e),
        Err(_) => return fail(&shared, ready, ClientError::Timeout(config.request_timeout)),
    };
    let _ = shared.apis.set(hello.apis.iter().map(|a| a.api).collect());
    tracing::debug!(addr = config.transport.addr(), server = %hello.server_version, "connected");
    let _ = ready.send(Ok(hello));
    tokio::spawn(read_loop(reader, buf, codec, Arc::clone(&shared), guard));
    write_loop(writer, rx, codec, shared).await;
}

fn fail(shared: &Shared, ready: oneshot::Sender<Result<HelloResponse>>, error: ClientError) {
    tracing::debug!(%error, "connecting failed");
    shared.close(error.clone());
    let _ = ready.send(Err(error));
}

type Connected = (ReadHalf, WriteHalf, Option<QuicGuard>, BytesMut, HelloResponse);

/// Sends one request and reads its answer (handshake and login, before requests are pipelined).
async fn exchange(
    stream: &mut transport::Stream,
    buf: &mut BytesMut,
    codec: FrameCodec,
    frame: RequestFrame,
) -> Result<ResponseFrame> {
    let mut out = BytesMut::new();
    codec.encode_request(&frame, &mut out)?;
    stream.writer.write_all(&out).await?;
    stream.writer.flush().await?;
    let answer = loop {
        if let Some(frame) = codec.decode_response(buf)? {
            break frame;
        }
        if stream.reader.read_buf(buf).await? == 0 {
            return Err(ClientError::Closed("the server closed the connection during the handshake".into()));
        }
    };
    if answer.error != 0 {
        return Err(ClientError::server(answer.error, &answer.body));
    }
    Ok(answer)
}

/// Opens the stream, exchanges the handshake and logs in with the configured credentials; answers the stream and
/// whatever was read past the answers.
async fn connect(config: &ClientConfig, codec: FrameCodec) -> Result<Connected> {
    let mut stream = transport::open(&config.transport).await?;
    let mut buf = BytesMut::with_capacity(64 << 10);
    let hello = Hello { protocol_version: PROTOCOL_VERSION, client_id: config.client_id.clone() };
    let frame = RequestFrame { api: ApiKey::Hello.as_u16(), version: 1, correlation: 0, body: encode_control(&hello)? };
    let answer = exchange(&mut stream, &mut buf, codec, frame).await?;
    let hello: HelloResponse = decode_control(&answer.body)?;
    check_hello(&hello)?;
    let login = match &config.credentials {
        Some(Credentials::Password { user, password }) => {
            let body = encode_control(&Login { user: user.clone(), password: password.clone() })?;
            Some((ApiKey::Login, body))
        }
        Some(Credentials::Token(token)) => {
            Some((ApiKey::LoginWithToken, encode_control(&LoginWithToken { token: token.clone() })?))
        }
        None => None,
    };
    if let Some((api, body)) = login {
        let frame = RequestFrame { api: api.as_u16(), version: 1, correlation: 1, body };
        exchange(&mut stream, &mut buf, codec, frame).await?;
    }
    Ok((stream.reader, stream.writer, stream.guard, buf, hello))
}

/// Refuses a server speaking another protocol version; warns about APIs it lacks (calls to them fail).
pub(crate) fn check_hello(hello: &HelloResponse) -> Result<()> {
    if hello.protocol_version != PROTOCOL_VERSION {
        return Err(ClientError::Protocol(format!(
            "the server speaks protocol version {}, this client {PROTOCOL_VERSION}",
            hello.protocol_version
        )));
    }
    let spoken: HashSet<u16> = hello.apis.iter().filter(|a| a.min <= 1 && 1 <= a.max).map(|a| a.api).collect();
    let missing: Vec<ApiKey> = ApiKey::ALL.iter().copied().filter(|k| !spoken.contains(&k.as_u16())).collect();
    if !missing.is_empty() {
        tracing::warn!(?missing, "the server does not speak every API of this client");
    }
    Ok(())
}

async fn write_loop(
    mut writer: WriteHalf,
    mut rx: mpsc::UnboundedReceiver<RequestFrame>,
    codec: FrameCodec,
    shared: Arc<Shared>,
) {
    let mut out = BytesMut::with_capacity(64 << 10);
    let closed = shared.closed.notified();
    tokio::pin!(closed);
    loop {
        let frame = tokio::select! {
            _ = &mut closed => return,
            frame = rx.recv() => frame,
        };
        let Some(frame) = frame else { break };
        // `out` is empty here, so waiting for room on the wire cannot hold back frames whose answers free it.
        let Ok(permit) = Arc::clone(&shared.permits).acquire_owned().await else { return };
        encode(frame, permit, &mut out, codec, &shared);
        while out.len() < WRITE_CHUNK {
            let Ok(permit) = Arc::clone(&shared.permits).try_acquire_owned() else { break };
            let Ok(frame) = rx.try_recv() else { break };
            encode(frame, permit, &mut out, codec, &shared);
        }
        if let Err(e) = writer.write_all(&out).await {
            return shared.close(e.into());
        }
        out.clear();
        if rx.is_empty()
            && let Err(e) = writer.flush().await
        {
            return shared.close(e.into());
        }
    }
    // Every handle is gone: finish the stream so the server answers what it has and closes.
    let _ = writer.shutdown().await;
}

/// Appends the frame, unless nobody waits for its answer any more.
fn encode(frame: RequestFrame, permit: OwnedSemaphorePermit, out: &mut BytesMut, codec: FrameCodec, shared: &Shared) {
    if !shared.pending().attach(frame.correlation, permit) {
        return;
    }
    if let Err(e) = codec.encode_request(&frame, out) {
        // Too large to send: fail this request only.
        shared.pending().fail(frame.correlation, e.into());
    }
}

async fn read_loop(
    mut reader: ReadHalf,
    mut buf: BytesMut,
    codec: FrameCodec,
    shared: Arc<Shared>,
    guard: Option<QuicGuard>,
) {
    let closed = shared.closed.notified();
    tokio::pin!(closed);
    let error = loop {
        loop {
            match codec.decode_response(&mut buf) {
                Ok(Some(frame)) => {
                    if !shared.pending().complete(frame) {
                        tracing::debug!("answer to a request nobody waits for");
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    shared.close(e.into());
                    drop(guard);
                    return;
                }
            }
        }
        tokio::select! {
            _ = &mut closed => break None,
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => break Some(ClientError::Closed("the server closed the connection".into())),
                Ok(_) => {}
                Err(e) => break Some(e.into()),
            },
        }
    };
    if let Some(e) = error {
        shared.close(e);
    }
    drop(guard);
}
