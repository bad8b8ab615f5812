//! The session's reader: cuts request frames out of the byte stream with bounded lengths, enforces the handshake,
//! idle and handshake timeouts, dispatches requests in arrival order with at most `max_in_flight` outstanding
//! (reading pauses at the cap: back-pressure), and hands answers to the writer as they complete.

use bytes::BytesMut;
use callboard_protocol::ErrorCode;
use callboard_protocol::wire::{
    ApiKey, FrameCodec, FrameError, Hello, HelloResponse, PROTOCOL_VERSION, RequestFrame, decode_control,
    encode_control,
};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

use super::SessionCtx;
use crate::answer::Answer;
use crate::dispatch::{Dispatched, api_label, dispatch};

/// Read buffer kept free before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Largest frame accepted before the `Hello` handshake (a `Hello` is a few dozen bytes): an unauthenticated peer
/// cannot make the session buffer a large frame.
pub(crate) const MAX_FRAME_BEFORE_HELLO: u32 = 64 * 1024;
/// Counter of requests, labelled by gateway and API.
const REQUESTS_COUNTER: &str = "callboard_gateway_requests_total";

/// What a request frame led to.
enum Step {
    /// Send this answer and go on.
    Answer(Answer),
    /// Send the answer of this future when it completes.
    Pending(BoxFuture<'static, Answer>),
    /// Send this answer and stop reading: the session closes.
    Close(Answer),
}

/// The reading half of a session.
pub(super) struct Reader<'a> {
    ctx: &'a SessionCtx,
    codec: FrameCodec,
    greeted: bool,
}

impl<'a> Reader<'a> {
    pub(super) fn new(ctx: &'a SessionCtx) -> Self {
        let before_hello = ctx.config.max_frame.min(MAX_FRAME_BEFORE_HELLO);
        Reader { ctx, codec: FrameCodec::new(before_hello), greeted: false }
    }

    /// Reads and dispatches until the session ends; returns once every dispatched request was answered (or the
    /// writer is gone). Dropping `answers` then lets the writer flush and close.
    pub(super) async fn run<R: AsyncRead + Unpin>(mut self, mut reader: R, answers: mpsc::Sender<Answer>) {
        let ctx = self.ctx;
        let max_in_flight = ctx.config.max_in_flight.max(1);
        let max_frame = ctx.config.max_frame;
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut in_flight: FuturesUnordered<BoxFuture<'static, Answer>> = FuturesUnordered::new();
        // `reading`: more bytes may come; `decoding`: frames may still be cut from the buffer (false after a fatal
        // error: the stream cannot be trusted any more).
        let (mut reading, mut decoding) = (true, true);
        let deadline = tokio::time::sleep(ctx.config.handshake_timeout);
        tokio::pin!(deadline);
        debug!(gateway = ctx.gateway, peer = %ctx.peer, "session open");
        loop {
            while decoding && in_flight.len() < max_in_flight {
                let step = match self.codec.decode_request(&mut buf) {
                    Ok(Some(frame)) => self.on_frame(frame),
                    Ok(None) => break,
                    Err(e) if !self.greeted && matches!(e, FrameError::TooLarge { .. }) => {
                        debug!(gateway = ctx.gateway, peer = %ctx.peer, error = %e, "large frame before Hello; closing");
                        let message = format!("{e} before the handshake: the first request must be Hello");
                        Step::Close(Answer::error(0, ErrorCode::HandshakeRequired, message))
                    }
                    Err(e) => {
                        debug!(gateway = ctx.gateway, peer = %ctx.peer, error = %e, "bad frame; closing");
                        Step::Close(Answer::error(0, e.code(), &e))
                    }
                };
                if self.greeted {
                    deadline.as_mut().reset(Instant::now() + ctx.config.idle_timeout);
                }
                let answer = match step {
                    Step::Pending(future) => {
                        in_flight.push(future);
                        continue;
                    }
                    Step::Answer(answer) => answer,
                    Step::Close(answer) => {
                        (reading, decoding) = (false, false);
                        answer
                    }
                };
                if answers.send(answer.fit(max_frame)).await.is_err() {
                    return;
                }
            }
            if !reading && in_flight.is_empty() {
                break;
            }
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                buf.reserve(READ_CHUNK);
            }
            let can_read = reading && in_flight.len() < max_in_flight;
            tokio::select! {
                biased;
                Some(answer) = in_flight.next(), if !in_flight.is_empty() => {
                    deadline.as_mut().reset(Instant::now() + ctx.config.idle_timeout);
                    if answers.send(answer.fit(max_frame)).await.is_err() {
                        return;
                    }
                }
                () = answers.closed() => return,
                () = ctx.shutdown.cancelled(), if reading => {
                    debug!(gateway = ctx.gateway, peer = %ctx.peer, "gateway shutting down; draining session");
                    reading = false;
                }
                read = reader.read_buf(&mut buf), if can_read => match read {
                    Ok(0) => {
                        if !buf.is_empty() {
                            debug!(gateway = ctx.gateway, peer = %ctx.peer, bytes = buf.len(), "peer closed mid-frame");
                        }
                        reading = false;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        debug!(gateway = ctx.gateway, peer = %ctx.peer, error = %e, "session read failed");
                        reading = false;
                    }
                },
                () = &mut deadline, if reading && in_flight.is_empty() => {
                    (reading, decoding) = (false, false);
                    if self.greeted {
                        debug!(gateway = ctx.gateway, peer = %ctx.peer, "idle timeout; closing");
                    } else {
                        debug!(gateway = ctx.gateway, peer = %ctx.peer, "handshake timeout; closing");
                        let answer = Answer::error(0, ErrorCode::HandshakeRequired, "no handshake in time");
                        if answers.send(answer).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        debug!(gateway = ctx.gateway, peer = %ctx.peer, "session closed");
    }

    /// Checks one request and dispatches it.
    fn on_frame(&mut self, frame: RequestFrame) -> Step {
        let c = frame.correlation;
        let Some(api) = ApiKey::from_u16(frame.api) else {
            if !self.greeted {
                return Step::Close(Answer::error(c, ErrorCode::HandshakeRequired, "the first request must be Hello"));
            }
            return Step::Answer(Answer::error(c, ErrorCode::UnknownApi, format!("unknown api {}", frame.api)));
        };
        if !self.greeted && api != ApiKey::Hello {
            return Step::Close(Answer::error(c, ErrorCode::HandshakeRequired, "the first request must be Hello"));
        }
        if !api.supports(frame.version) {
            let range = api.versions();
            let message =
                format!("{api:?} version {} is not supported (versions {}..={})", frame.version, range.min, range.max);
            let answer = Answer::error(c, ErrorCode::UnsupportedVersion, message);
            return if self.greeted { Step::Answer(answer) } else { Step::Close(answer) };
        }
        metrics::counter!(REQUESTS_COUNTER, "gateway" => self.ctx.gateway, "api" => api_label(api)).increment(1);
        if api == ApiKey::Hello {
            return self.hello(c, &frame.body);
        }
        match dispatch(&self.ctx.broker, api, &frame, self.ctx.config.max_frame) {
            Dispatched::Ready(answer) => Step::Answer(answer),
            Dispatched::Pending(future) => Step::Pending(future),
        }
    }

    /// Answers the handshake.
    fn hello(&mut self, c: u64, body: &[u8]) -> Step {
        let hello = match decode_control::<Hello>(body) {
            Ok(hello) => hello,
            Err(e) => {
                let answer = Answer::error(c, e.code(), &e);
                return if self.greeted { Step::Answer(answer) } else { Step::Close(answer) };
            }
        };
        if hello.protocol_version != PROTOCOL_VERSION {
            let message = format!(
                "protocol version {} is not supported (this server speaks {PROTOCOL_VERSION})",
                hello.protocol_version
            );
            return Step::Close(Answer::error(c, ErrorCode::UnsupportedVersion, message));
        }
        let response = HelloResponse {
            protocol_version: PROTOCOL_VERSION,
            server_version: env!("CARGO_PKG_VERSION").into(),
            apis: ApiKey::all_versions(),
        };
        match encode_control(&response) {
            Ok(body) => {
                if !self.greeted {
                    debug!(gateway = self.ctx.gateway, peer = %self.ctx.peer, client = %hello.client_id, "handshake done");
                }
                self.greeted = true;
                self.codec = FrameCodec::new(self.ctx.config.max_frame);
                Step::Answer(Answer::ok(c, body))
            }
            Err(e) => Step::Close(Answer::error(c, ErrorCode::Unknown, e)),
        }
    }
}
