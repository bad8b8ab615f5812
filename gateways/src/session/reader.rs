//! The session's reader: cuts request frames out of the byte stream with bounded lengths, enforces the handshake,
//! idle and handshake timeouts, dispatches requests in arrival order with at most `max_in_flight` outstanding,
//! their bytes (with the answers not yet written) within the session's and the broker's byte budgets (reading
//! pauses at either cap: back-pressure), and hands answers to the writer as they complete.

use bytes::{BufMut, BytesMut};
use callboard_actors::BrokerError;
use callboard_actors::auth::Principal;
use callboard_protocol::ErrorCode;
use callboard_protocol::wire::{
    ApiKey, Fetch, FrameCodec, FrameError, GroupFetch, Hello, HelloResponse, Login, LoginWithToken, PROTOCOL_VERSION,
    REQUEST_HEADER_LEN, RequestFrameMut, decode_control, encode_control,
};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

use super::{Queued, SessionCtx};
use crate::answer::Answer;
use crate::budget::SessionBudget;
use crate::dispatch::{Dispatched, api_label, dispatch};

/// Read buffer kept free before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Frames from this size on are handed on in the memory they were read into: the read buffer is replaced by a fresh
/// one (sized for the next such frame) so the frame's memory is its own and nothing else in flight pins it. Smaller
/// produce batches are copied out of the read buffer (cheap), so they never pin it either.
const LARGE_FRAME: usize = 64 * 1024;
/// Largest frame accepted before the `Hello` handshake and the login (a `Hello` or `Login` is a few dozen bytes): an
/// unauthenticated peer cannot make the session buffer a large frame.
pub(crate) const MAX_FRAME_BEFORE_HELLO: u32 = 64 * 1024;
/// How often a logged-in session re-checks its credentials while idle or waiting.
const REVALIDATE: std::time::Duration = std::time::Duration::from_secs(1);
/// Counter of requests, labelled by gateway and API.
const REQUESTS_COUNTER: &str = "callboard_gateway_requests_total";

/// What a request frame led to.
enum Step {
    /// Send this answer and go on.
    Answer(Answer),
    /// Send the answer of this future when it completes; `true` for a security API's answer, which carries no data
    /// and so is still delivered when that very request ended the login (revoking one's own token).
    Pending(BoxFuture<'static, Answer>, bool),
    /// Send this answer and stop reading: the session closes.
    Close(Answer),
    /// Wait for this login (reading nothing more meanwhile), then answer it.
    Login(u64, BoxFuture<'static, Result<Principal, BrokerError>>),
}

/// The reading half of a session.
pub(super) struct Reader<'a> {
    ctx: &'a SessionCtx,
    codec: FrameCodec,
    greeted: bool,
    /// Who the session is logged in as; requests other than `Hello` and the logins are refused until then.
    principal: Option<Principal>,
    budget: SessionBudget,
}

impl<'a> Reader<'a> {
    pub(super) fn new(ctx: &'a SessionCtx, budget: SessionBudget) -> Self {
        let before_hello = ctx.config.max_frame.min(MAX_FRAME_BEFORE_HELLO);
        Reader { ctx, codec: FrameCodec::new(before_hello), greeted: false, principal: None, budget }
    }

    /// Reads and dispatches until the session ends; returns once every dispatched request was answered (or the
    /// writer is gone). Dropping `answers` then lets the writer flush and close.
    pub(super) async fn run<R: AsyncRead + Unpin>(mut self, mut reader: R, answers: mpsc::Sender<Queued>) {
        let ctx = self.ctx;
        let max_in_flight = ctx.config.max_in_flight.max(1);
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut buffers = ReadBuffers::default();
        let mut in_flight: FuturesUnordered<BoxFuture<'static, (Answer, bool)>> = FuturesUnordered::new();
        // A request cut from the buffer that does not fit in the byte budget yet; nothing more is read meanwhile.
        let mut held: Option<RequestFrameMut> = None;
        // `reading`: more bytes may come; `decoding`: frames may still be cut from the buffer (false after a fatal
        // error: the stream cannot be trusted any more).
        let (mut reading, mut decoding) = (true, true);
        let deadline = tokio::time::sleep(ctx.config.handshake_timeout);
        tokio::pin!(deadline);
        // Once a second the login is re-checked, so a revoked token or disabled user is cut off even while only long
        // polls are outstanding (requests are checked as they arrive anyway).
        let mut revalidate = tokio::time::interval(REVALIDATE);
        revalidate.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        debug!(gateway = ctx.gateway, peer = %ctx.peer, "session open");
        loop {
            // Read before looking at the budget, so a release after the look wakes the wait below.
            let epoch = self.budget.epoch();
            while decoding && in_flight.len() < max_in_flight {
                let frame = match held.take() {
                    Some(frame) => Ok(Some(frame)),
                    None => self
                        .codec
                        .decode_request_mut(&mut buf)
                        .map(|frame| frame.map(|frame| buffers.detach(frame, &mut buf, ctx.config.max_frame))),
                };
                let step = match frame {
                    Ok(Some(frame)) => {
                        let cost = self.cost(&frame);
                        if !self.budget.fits(cost) {
                            held = Some(frame);
                            break;
                        }
                        let charge = self.budget.charge(cost);
                        match self.on_frame(frame) {
                            // The request's bytes stay charged until its answer is ready.
                            Step::Pending(future, no_data) => Step::Pending(
                                Box::pin(async move {
                                    let answer = future.await;
                                    drop(charge);
                                    answer
                                }),
                                no_data,
                            ),
                            step => step,
                        }
                    }
                    Ok(None) => break,
                    Err(e) if !self.greeted && matches!(e, FrameError::TooLarge { .. }) => {
                        debug!(gateway = ctx.gateway, peer = %ctx.peer, error = %e, "large frame before Hello; closing");
                        let message = format!("{e} before the handshake: the first request must be Hello");
                        Step::Close(Answer::error(0, ErrorCode::HandshakeRequired, message))
                    }
                    Err(e) if self.principal.is_none() && matches!(e, FrameError::TooLarge { .. }) => {
                        debug!(gateway = ctx.gateway, peer = %ctx.peer, error = %e, "large frame before login; closing");
                        let message = format!("{e} before logging in: log in first (Login or LoginWithToken)");
                        Step::Close(Answer::error(0, ErrorCode::Unauthenticated, message))
                    }
                    Err(e) => {
                        debug!(gateway = ctx.gateway, peer = %ctx.peer, error = %e, "bad frame; closing");
                        Step::Close(Answer::error(0, e.code(), &e))
                    }
                };
                if self.principal.is_some() {
                    deadline.as_mut().reset(Instant::now() + ctx.config.idle_timeout);
                }
                let answer = match step {
                    Step::Login(c, login) => {
                        let answer = self.logged_in(c, login.await);
                        if self.principal.is_some() {
                            deadline.as_mut().reset(Instant::now() + ctx.config.idle_timeout);
                        }
                        answer
                    }
                    Step::Pending(future, no_data) => {
                        in_flight.push(Box::pin(async move { (future.await, no_data) }));
                        continue;
                    }
                    Step::Answer(answer) => answer,
                    Step::Close(answer) => {
                        (reading, decoding, held) = (false, false, None);
                        answer
                    }
                };
                if !self.queue(&answers, answer).await {
                    return;
                }
            }
            if !reading && in_flight.is_empty() && held.is_none() {
                break;
            }
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                buf.reserve(READ_CHUNK);
            }
            let full = held.is_some() || self.budget.is_full();
            let can_read = reading && in_flight.len() < max_in_flight && !full;
            // Inside a large frame, read no further than its end: it then ends its buffer, which goes with it.
            let limit = read_limit(&buf);
            let mut into = (&mut buf).limit(limit);
            tokio::select! {
                biased;
                Some((answer, no_data)) = in_flight.next(), if !in_flight.is_empty() => {
                    deadline.as_mut().reset(Instant::now() + ctx.config.idle_timeout);
                    // An answer is delivered only while the login still holds (a long poll may outlive it).
                    let answer = match self.revoked() {
                        None => answer,
                        Some(e) => {
                            if no_data && !self.queue(&answers, answer).await {
                                return;
                            }
                            in_flight.clear();
                            (reading, decoding, held) = (false, false, None);
                            Answer::broker_error(0, &e)
                        }
                    };
                    if !self.queue(&answers, answer).await {
                        return;
                    }
                }
                () = answers.closed() => return,
                _ = revalidate.tick(), if self.principal.is_some() && decoding => {
                    if let Some(e) = self.revoked() {
                        // Outstanding answers (long polls) are dropped, not delivered to a revoked login.
                        in_flight.clear();
                        (reading, decoding, held) = (false, false, None);
                        if !self.queue(&answers, Answer::broker_error(0, &e)).await {
                            return;
                        }
                    }
                }
                () = self.budget.released_since(epoch), if full && decoding => {}
                () = ctx.shutdown.cancelled(), if reading => {
                    debug!(gateway = ctx.gateway, peer = %ctx.peer, "gateway shutting down; draining session");
                    reading = false;
                }
                read = reader.read_buf(&mut into), if can_read => match read {
                    Ok(0) => {
                        if !into.get_ref().is_empty() {
                            debug!(gateway = ctx.gateway, peer = %ctx.peer, bytes = into.get_ref().len(), "peer closed mid-frame");
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
                    (reading, decoding, held) = (false, false, None);
                    if self.principal.is_some() {
                        debug!(gateway = ctx.gateway, peer = %ctx.peer, "idle timeout; closing");
                    } else if self.greeted {
                        debug!(gateway = ctx.gateway, peer = %ctx.peer, "login timeout; closing");
                        let answer = Answer::error(0, ErrorCode::Unauthenticated, "no login in time");
                        if !self.queue(&answers, answer).await {
                            return;
                        }
                    } else {
                        debug!(gateway = ctx.gateway, peer = %ctx.peer, "handshake timeout; closing");
                        let answer = Answer::error(0, ErrorCode::HandshakeRequired, "no handshake in time");
                        if !self.queue(&answers, answer).await {
                            return;
                        }
                    }
                }
            }
        }
        debug!(gateway = ctx.gateway, peer = %ctx.peer, "session closed");
    }

    /// The error ending the session when its login no longer holds (token revoked or expired, user disabled or
    /// deleted); free while no user, grant or token changed.
    fn revoked(&mut self) -> Option<BrokerError> {
        let e = self.ctx.broker.check_principal(self.principal.as_mut()?).err()?;
        debug!(gateway = self.ctx.gateway, peer = %self.ctx.peer, error = %e, "credentials no longer valid; closing");
        self.principal = None;
        Some(e)
    }

    /// Hands an answer to the writer, charged to the budget until written; `false` when the writer is gone.
    async fn queue(&self, answers: &mpsc::Sender<Queued>, answer: Answer) -> bool {
        let answer = answer.fit(self.ctx.config.max_frame);
        let charge = self.budget.charge(4 + answer.frame_len());
        answers.send((answer, charge)).await.is_ok()
    }

    /// Bytes a request is charged while in flight: its frame, and for fetches the most their answer may carry.
    fn cost(&self, frame: &RequestFrameMut) -> usize {
        let max_frame = self.ctx.config.max_frame;
        let answer = match ApiKey::from_u16(frame.api) {
            Some(ApiKey::Fetch) => decode_control::<Fetch>(&frame.body).map(|f| f.max_bytes).unwrap_or(0),
            Some(ApiKey::GroupFetch) => decode_control::<GroupFetch>(&frame.body).map(|f| f.max_bytes).unwrap_or(0),
            _ => 0,
        };
        4 + REQUEST_HEADER_LEN + frame.body.len() + answer.min(max_frame) as usize
    }

    /// Checks one request and dispatches it.
    fn on_frame(&mut self, frame: RequestFrameMut) -> Step {
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
        match api {
            ApiKey::Hello => return self.hello(c, &frame.body),
            ApiKey::Login | ApiKey::LoginWithToken => return self.login(api, c, &frame.body),
            _ => {}
        }
        let Some(principal) = self.principal.as_mut() else {
            return Step::Answer(Answer::error(
                c,
                ErrorCode::Unauthenticated,
                "log in first (Login or LoginWithToken)",
            ));
        };
        // Free while no user, grant or token changed; after a change, new grants apply from this request on and a
        // revoked token, disabled or deleted user ends the session.
        if let Err(e) = self.ctx.broker.check_principal(principal) {
            debug!(gateway = self.ctx.gateway, peer = %self.ctx.peer, error = %e, "credentials no longer valid; closing");
            self.principal = None;
            return Step::Close(Answer::broker_error(c, &e));
        }
        match dispatch(&self.ctx.broker, principal, api, frame, self.ctx.config.max_frame) {
            Dispatched::Ready(answer) => Step::Answer(answer),
            Dispatched::Pending(future) => Step::Pending(future, api.is_security()),
        }
    }

    /// Starts a login (a password check runs on a blocking thread).
    fn login(&mut self, api: ApiKey, c: u64, body: &[u8]) -> Step {
        let (broker, peer) = (self.ctx.broker.clone(), self.ctx.peer_ip);
        let future: BoxFuture<'static, Result<Principal, BrokerError>> = if api == ApiKey::Login {
            match decode_control::<Login>(body) {
                Ok(r) => Box::pin(async move { broker.login(&r.user, &r.password, peer).await }),
                Err(e) => return Step::Answer(Answer::error(c, e.code(), &e)),
            }
        } else {
            match decode_control::<LoginWithToken>(body) {
                Ok(r) => Box::pin(async move { broker.login_token(&r.token, peer) }),
                Err(e) => return Step::Answer(Answer::error(c, e.code(), &e)),
            }
        };
        Step::Login(c, future)
    }

    /// Answers a finished login; on success the session is logged in and takes frames up to the full size.
    fn logged_in(&mut self, c: u64, login: Result<Principal, BrokerError>) -> Answer {
        match login {
            Ok(principal) => {
                debug!(gateway = self.ctx.gateway, peer = %self.ctx.peer, user = principal.user(), "logged in");
                let answer = Answer::control(c, self.ctx.broker.user(principal.user()));
                self.principal = Some(principal);
                self.codec = FrameCodec::new(self.ctx.config.max_frame);
                answer
            }
            Err(e) => Answer::broker_error(c, &e),
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
                Step::Answer(Answer::ok(c, body))
            }
            Err(e) => Step::Close(Answer::error(c, ErrorCode::Unknown, e)),
        }
    }
}

/// The most a read may add to `buf`: up to the end of the large frame it holds the start of, else anything.
fn read_limit(buf: &BytesMut) -> usize {
    match buf.get(..4) {
        Some(prefix) => {
            let total = 4 + u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
            if total >= LARGE_FRAME && total > buf.len() { total - buf.len() } else { usize::MAX }
        }
        None => usize::MAX,
    }
}

/// The memory a session reads into: the read buffer and a spare. A large frame keeps the memory it was read into and
/// the session reads on in the spare, which is the buffer the previous large frame was read into: by then that frame
/// is usually stored and dropped, so the spare's memory is reclaimed in place (no allocation, no page faults, no copy).
/// Only while that frame is still in flight does the spare allocate anew.
#[derive(Debug, Default)]
pub(super) struct ReadBuffers {
    spare: BytesMut,
    /// Room for the last large frame: the spare is made this big, so the next one is read without growing (and
    /// copying) the buffer step by step.
    large_capacity: usize,
}

impl ReadBuffers {
    /// Makes a request frame own its memory, so that nothing handed on pins `buf`: a large frame keeps the read
    /// buffer's memory and `buf` becomes the spare (with whatever followed the frame); a small produce frame is
    /// copied out of the buffer.
    pub(super) fn detach(&mut self, mut frame: RequestFrameMut, buf: &mut BytesMut, max_frame: u32) -> RequestFrameMut {
        let len = 4 + REQUEST_HEADER_LEN + frame.body.len();
        if len >= LARGE_FRAME {
            self.large_capacity = len.min(max_frame as usize + 4).max(READ_CHUNK);
            std::mem::swap(buf, &mut self.spare);
            buf.clear();
            buf.reserve(self.large_capacity.max(self.spare.len() + READ_CHUNK));
            buf.extend_from_slice(&self.spare);
            // The old buffer, empty, still refers to the frame's memory: it is reclaimed once the frame is dropped.
            self.spare.clear();
        } else if frame.api == ApiKey::Produce.as_u16() {
            frame.body = BytesMut::from(&frame.body[..]);
        }
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use callboard_protocol::wire::FrameCodec;

    fn frame(api: ApiKey, body_len: usize) -> BytesMut {
        let mut out = BytesMut::new();
        out.put_u32((REQUEST_HEADER_LEN + body_len) as u32);
        out.put_u16(api.as_u16());
        out.put_u16(1);
        out.put_u64(7);
        out.put_bytes(b'x', body_len);
        out
    }

    #[test]
    fn reads_stop_at_the_end_of_a_large_frame_only() {
        let large = frame(ApiKey::Produce, LARGE_FRAME);
        assert_eq!(read_limit(&BytesMut::from(&large[..10])), large.len() - 10);
        assert_eq!(read_limit(&BytesMut::from(&large[..2])), usize::MAX, "no length yet");
        let small = frame(ApiKey::Produce, 100);
        assert_eq!(read_limit(&BytesMut::from(&small[..10])), usize::MAX);
    }

    #[test]
    fn frames_handed_on_do_not_share_the_read_buffer() {
        let codec = FrameCodec::new(1 << 20);
        let mut buffers = ReadBuffers::default();
        // A large frame followed by the start of the next: the next stays in a fresh buffer sized for the large one.
        let mut buf = frame(ApiKey::Produce, LARGE_FRAME);
        buf.extend_from_slice(&frame(ApiKey::Ping, 3)[..5]);
        let large = codec.decode_request_mut(&mut buf).expect("valid").expect("complete");
        let large = buffers.detach(large, &mut buf, 1 << 20);
        assert_eq!(large.body.len(), LARGE_FRAME);
        assert_eq!(buffers.large_capacity, 4 + REQUEST_HEADER_LEN + LARGE_FRAME);
        assert_eq!(buf.len(), 5);
        assert!(buf.capacity() >= buffers.large_capacity);
        // The large frame's memory is its own now: it converts to a Vec without copying, which needs a unique owner.
        let ptr = large.body.as_ptr();
        let bytes = large.body.freeze();
        assert_eq!(bytes.as_ptr(), ptr);
        // Once it is dropped, the next large frame is read into its memory again, without allocating.
        let first = ptr.wrapping_sub(4 + REQUEST_HEADER_LEN);
        drop(bytes);
        buf.clear();
        buf.extend_from_slice(&frame(ApiKey::Produce, LARGE_FRAME));
        let second = codec.decode_request_mut(&mut buf).expect("valid").expect("complete");
        let _second = buffers.detach(second, &mut buf, 1 << 20);
        let at = (buf.as_ptr() as usize).wrapping_sub(first as usize);
        assert!(at < 4 * LARGE_FRAME, "the spare reads on in the first frame's memory (at {at})");
        // A small produce is copied out; other small frames stay views.
        let mut buf = frame(ApiKey::Produce, 100);
        let start = buf.as_ptr();
        let small = codec.decode_request_mut(&mut buf).expect("valid").expect("complete");
        let small = buffers.detach(small, &mut buf, 1 << 20);
        assert_ne!(small.body.as_ptr(), start.wrapping_add(4 + REQUEST_HEADER_LEN));
        let mut buf = frame(ApiKey::Ping, 100);
        let start = buf.as_ptr();
        let ping = codec.decode_request_mut(&mut buf).expect("valid").expect("complete");
        let ping = buffers.detach(ping, &mut buf, 1 << 20);
        assert_eq!(ping.body.as_ptr(), start.wrapping_add(4 + REQUEST_HEADER_LEN));
    }
}
