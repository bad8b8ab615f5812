//! One AMQP connection: a reader/dispatcher task (this module's [`serve`]) that owns every channel's state, a writer
//! task, and a completion task for publishes. The dispatcher selects over frames from the socket, deliveries from
//! queue actors, publisher-confirm outcomes, the heartbeat timer, the memory alarm and the gateway's shutdown.
//! What it queues for the writer is counted against `max_write_backlog`: past it, it stops reading the socket and
//! taking deliveries until the writer drains (a peer that stops reading holds a bounded amount), and a connection
//! paused that way for `write_stall_timeout` is closed and its writer aborted (it holds that amount for a bounded time).
//! Channel exceptions close the channel, connection exceptions close the connection (`connection.close`, then
//! `close-ok` or a timeout), both per spec.

mod access;
mod basic;
mod channel;
mod handshake;
mod io;
mod methods;
mod publish;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use amq_protocol::protocol::{AMQPClass, connection as conn};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use self::access::ConnectionAccess;
pub(crate) use self::basic::now_ms;
use self::channel::Channel;
use self::handshake::HandshakeError;
use self::io::FrameReader;
pub(crate) use self::io::Socket;
use self::publish::{Confirmed, Flight, PublishBatch};
use crate::amqp::frame::{self, PROTOCOL_HEADER, put_method};
use crate::amqp::queue::{Kick, QueueActor, QueueEvent, Settle};
use crate::amqp::reply::{AmqpError, ReplyCode};
use crate::amqp::shared::Shared;
use crate::amqp::vhost::VHost;
use crate::budget::ByteBudget;

/// How long the server waits for `close-ok` after sending `connection.close`.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a connection re-validates its login with the broker (a disabled user or revoked token is cut off, an
/// expired token noticed, consumers of queues no longer readable cancelled, even while the client sends nothing).
/// A change of users or grants is also noticed at the start of every round of frames read.
const AUTH_CHECK_EVERY: Duration = Duration::from_secs(1);
/// Flights queued for the completion task at most (it takes up to 64 more and stores them): back-pressure on
/// publishers.
const MAX_FLIGHTS: usize = 64;

/// A connection after the handshake.
struct Connection {
    id: u64,
    shared: Arc<Shared>,
    vhost: Arc<VHost>,
    access: ConnectionAccess,
    frame_max: u32,
    channel_max: u16,
    channels: HashMap<u16, Channel>,
    out: Vec<u8>,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes handed to the writer and not yet written.
    backlog: ByteBudget,
    last_write: Instant,
    events: mpsc::UnboundedSender<QueueEvent>,
    batch: PublishBatch,
    flights: mpsc::Sender<Flight>,
    settles: HashMap<Addr<QueueActor>, Settle>,
    kicks: Vec<Addr<QueueActor>>,
    published: bool,
    closing: Option<Instant>,
    done: bool,
}

/// Serves one accepted connection (TCP, or TLS over TCP) until it closes. With `refuse`, the handshake is answered up to
/// `connection.open`, which gets `connection.close` with that error (a connection over the limit).
pub async fn serve(
    stream: impl Socket,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    refuse: Option<AmqpError>,
) {
    let (rd, wr) = stream.into_halves();
    // Unbounded in count, bounded in bytes: `backlog` counts what is queued, and the dispatcher pauses past its cap.
    let (writer_tx, writer_rx) = mpsc::unbounded_channel();
    let backlog = ByteBudget::new(shared.config.max_write_backlog.max(1));
    let writer = tokio::spawn(io::writer(wr, writer_rx, backlog.clone()));
    let mut reader = FrameReader::new(rd);
    let mut send = |bytes: Vec<u8>| {
        backlog.add(bytes.len());
        let _ = writer_tx.send(bytes);
    };
    let timeout = shared.config.handshake_timeout;
    let handshake = handshake::run(&mut reader, &mut send, &shared, peer, refuse);
    let negotiated = match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(n)) => n,
        Ok(Err(HandshakeError::WrongProtocol)) => {
            send(PROTOCOL_HEADER.to_vec());
            return finish(writer_tx, writer, reader).await;
        }
        Ok(Err(HandshakeError::Amqp(e))) => {
            debug!(%peer, error = %e, "AMQP handshake refused");
            let mut out = Vec::new();
            put_close(&mut out, &e);
            send(out);
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, wait_close_ok(&mut reader)).await;
            return finish(writer_tx, writer, reader).await;
        }
        Ok(Err(HandshakeError::Gone)) | Err(_) => return finish(writer_tx, writer, reader).await,
    };
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let (flights_tx, flights_rx) = mpsc::channel(MAX_FLIGHTS);
    let (confirm_tx, confirm_rx) = mpsc::unbounded_channel();
    let broker = shared.broker.clone();
    let completion = tokio::spawn(publish::completion(broker, negotiated.vhost.stream.clone(), flights_rx, confirm_tx));
    let mut c = Connection {
        id: shared.next_id(),
        shared: Arc::clone(&shared),
        vhost: negotiated.vhost,
        access: negotiated.access,
        frame_max: negotiated.frame_max,
        channel_max: negotiated.channel_max,
        channels: HashMap::new(),
        out: Vec::with_capacity(64 * 1024),
        writer: writer_tx.clone(),
        backlog,
        last_write: Instant::now(),
        events: events_tx,
        batch: PublishBatch::default(),
        flights: flights_tx,
        settles: HashMap::new(),
        kicks: Vec::new(),
        published: false,
        closing: None,
        done: false,
    };
    debug!(%peer, id = c.id, vhost = %c.vhost.stream, user = c.access.user(), "AMQP connection open");
    c.run(&mut reader, &mut events_rx, confirm_rx, negotiated.heartbeat, shutdown).await;
    c.teardown(&mut events_rx).await;
    drop(c);
    let _ = completion.await;
    finish(writer_tx, writer, reader).await;
}

/// Lets the writer drain, then reads (and drops) what the peer still sends for a moment so it sees our last frames.
async fn finish(
    writer_tx: mpsc::UnboundedSender<Vec<u8>>,
    writer: tokio::task::JoinHandle<()>,
    mut reader: FrameReader,
) {
    drop(writer_tx);
    // A writer still blocked on a peer that reads nothing is aborted: dropping its handle alone would leave it
    // (with the socket and its bytes) waiting forever.
    let abort = writer.abort_handle();
    if tokio::time::timeout(CLOSE_TIMEOUT, writer).await.is_err() {
        abort.abort();
        return;
    }
    let linger = async {
        reader.buf.clear();
        while let Ok(n) = tokio::io::AsyncReadExt::read_buf(&mut reader.socket, &mut reader.buf).await
            && n > 0
        {
            reader.buf.clear();
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(100), linger).await;
}

async fn wait_close_ok(reader: &mut FrameReader) {
    while let Ok(Some(frame)) = reader.next(1 << 20).await {
        if let frame::Inbound::Method(0, AMQPClass::Connection(conn::AMQPMethod::CloseOk(_))) = frame {
            return;
        }
    }
}

/// Appends `connection.close` for `error`.
fn put_close(out: &mut Vec<u8>, error: &AmqpError) {
    let close = conn::Close {
        reply_code: error.code.code(),
        reply_text: error.reply_text().into(),
        class_id: error.class_id,
        method_id: error.method_id,
    };
    put_method(out, 0, AMQPClass::Connection(conn::AMQPMethod::Close(close)));
}

impl Connection {
    async fn run(
        &mut self,
        reader: &mut FrameReader,
        events: &mut mpsc::UnboundedReceiver<QueueEvent>,
        mut confirms: mpsc::UnboundedReceiver<Confirmed>,
        heartbeat: Duration,
        shutdown: CancellationToken,
    ) {
        let mut blocked = self.shared.memory.watch();
        let mut is_blocked = false;
        let tick_every = if heartbeat.is_zero() { Duration::from_secs(3600) } else { heartbeat / 2 };
        let mut ticker = tokio::time::interval(tick_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut auth_ticker = tokio::time::interval(AUTH_CHECK_EVERY);
        auth_ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_read = Instant::now();
        // Armed when the backlog fills; fires if it stays full for `write_stall_timeout`.
        let stall_timeout = self.shared.config.write_stall_timeout;
        let mut was_paused = false;
        let stalled = tokio::time::sleep(stall_timeout);
        tokio::pin!(stalled);
        // Only connections that publish are told (`connection.blocked` stops clients such as lapin from sending
        // anything, acks included, so telling a consumer-only connection would deadlock it), as RabbitMQ does.
        let mut told_blocked = false;
        while !self.done {
            if is_blocked && self.published && !told_blocked {
                let blocked = conn::Blocked { reason: "low on memory".into() };
                put_method(&mut self.out, 0, AMQPClass::Connection(conn::AMQPMethod::Blocked(blocked)));
                told_blocked = true;
            }
            self.flush_out();
            // Read before looking at the backlog, so a write after the look wakes the wait below.
            let epoch = self.backlog.epoch();
            let paused = self.backlog.is_full();
            if paused && !was_paused {
                stalled.as_mut().reset(tokio::time::Instant::now() + stall_timeout);
            }
            was_paused = paused;
            let read_allowed = !(paused || is_blocked && self.published);
            tokio::select! {
                () = shutdown.cancelled(), if self.closing.is_none() => {
                    self.close_connection(&AmqpError::new(ReplyCode::ConnectionForced, "broker shutting down"));
                }
                () = self.backlog.released_since(epoch), if paused => {}
                () = &mut stalled, if paused => {
                    debug!(id = self.id, "AMQP peer read nothing while the write backlog was full; closing");
                    self.shared.write_stalls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
                Some(event) = events.recv(), if !paused => {
                    self.on_queue_event(event);
                    for _ in 0..1024 {
                        if self.backlog.used() + self.out.len() >= self.backlog.cap() {
                            break;
                        }
                        match events.try_recv() {
                            Ok(event) => self.on_queue_event(event),
                            Err(_) => break,
                        }
                    }
                    self.end_round().await;
                }
                Some(c) = confirms.recv() => {
                    self.on_confirm(c);
                    while let Ok(c) = confirms.try_recv() {
                        self.on_confirm(c);
                    }
                }
                read = tokio::io::AsyncReadExt::read_buf(&mut reader.socket, &mut reader.buf), if read_allowed => {
                    match read {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            last_read = Instant::now();
                            self.on_bytes(reader).await;
                        }
                    }
                }
                _ = ticker.tick() => {
                    if paused {
                        // Not reading is our doing, not the peer's silence.
                        last_read = Instant::now();
                    }
                    if !heartbeat.is_zero() {
                        if last_read.elapsed() > heartbeat * 2 {
                            debug!(id = self.id, "AMQP peer silent for two heartbeat intervals; closing");
                            break;
                        }
                        if self.last_write.elapsed() >= heartbeat / 2 {
                            frame::put_heartbeat(&mut self.out);
                        }
                    }
                    if self.closing.is_some_and(|t| t.elapsed() > CLOSE_TIMEOUT) {
                        break;
                    }
                }
                _ = auth_ticker.tick() => self.recheck(true).await,
                Ok(()) = blocked.changed() => {
                    is_blocked = *blocked.borrow_and_update();
                    if !is_blocked && told_blocked {
                        put_method(&mut self.out, 0, AMQPClass::Connection(conn::AMQPMethod::Unblocked(conn::Unblocked {})));
                        told_blocked = false;
                    }
                }
            }
        }
        self.flush_out();
    }

    fn flush_out(&mut self) {
        if !self.out.is_empty() {
            let bytes = std::mem::replace(&mut self.out, Vec::with_capacity(64 * 1024));
            self.backlog.add(bytes.len());
            self.shared.write_backlog_peak.fetch_max(self.backlog.used(), std::sync::atomic::Ordering::AcqRel);
            let _ = self.writer.send(bytes);
            self.last_write = Instant::now();
        }
    }

    /// Re-validates the login (free unless users, grants or tokens changed, or `force`): the connection is closed
    /// (320 connection-forced, with the reason) when it no longer holds; after a grant change consumers of queues no
    /// longer readable are cancelled.
    async fn recheck(&mut self, force: bool) {
        if self.closing.is_some() {
            return;
        }
        match self.access.refresh(&self.shared.broker, force) {
            Ok(false) => {}
            Ok(true) => self.cancel_unreadable().await,
            Err(e) => {
                debug!(id = self.id, user = self.access.user(), error = %e, "AMQP login no longer valid; closing");
                self.close_connection(&e);
            }
        }
    }

    /// Handles every whole frame read so far.
    async fn on_bytes(&mut self, reader: &mut FrameReader) {
        // Grants changed since the last round apply from this round's first frame on.
        self.recheck(false).await;
        while !self.done {
            match frame::parse(&mut reader.buf, self.frame_max) {
                Ok(Some(f)) => {
                    if let Err(e) = self.on_frame(f).await {
                        self.on_error(e);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // The stream cannot be cut into frames any more: close, and read nothing further.
                    self.close_connection(&e);
                    reader.buf.clear();
                    self.done = true;
                }
            }
        }
        self.end_round().await;
    }

    /// Sends what a round of frames produced: appends, settlements, kicks.
    async fn end_round(&mut self) {
        self.flush_publishes().await;
        self.send_settles();
        for queue in self.kicks.drain(..) {
            queue.do_send(Kick);
        }
    }

    async fn flush_publishes(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let flight = self.batch.take_flight();
        let _ = self.flights.send(flight).await;
    }

    /// Hands the acks, nacks and rejects read so far to their queues (before anything sent to a queue after them).
    fn send_settles(&mut self) {
        for (queue, settle) in self.settles.drain() {
            queue.do_send(settle);
        }
    }

    /// Waits until every publish read so far is stored and handed to its queue, and hands the settlements read so far
    /// to their queues: a request after it (`basic.get`, a purge, a delete) sees the queue as the client left it.
    async fn barrier(&mut self) {
        self.flush_publishes().await;
        self.send_settles();
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.flights.send(Flight::barrier(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    fn on_error(&mut self, error: AmqpError) {
        debug!(id = self.id, error = %error, "AMQP exception");
        if error.code.is_hard() {
            self.close_connection(&error);
        }
    }

    /// Sends `connection.close`; from now on only `close-ok` (or `close`) is awaited.
    fn close_connection(&mut self, error: &AmqpError) {
        if self.closing.is_none() {
            put_close(&mut self.out, error);
            self.closing = Some(Instant::now());
        }
    }

    fn on_confirm(&mut self, c: Confirmed) {
        let Some(ch) = self.channels.get(&c.channel) else { return };
        if ch.state != channel::ChannelState::Open || self.closing.is_some() {
            return;
        }
        basic::put_confirm(&mut self.out, c);
    }

    /// Requeues what the connection's channels hold, removes their consumers, deletes its exclusive queues.
    async fn teardown(&mut self, events: &mut mpsc::UnboundedReceiver<QueueEvent>) {
        self.flush_publishes().await;
        let ids: Vec<u16> = self.channels.keys().copied().collect();
        for id in ids {
            self.drop_channel(id).await;
        }
        // Deliveries queue actors sent that were never taken (the connection was paused, or closing) go back to
        // their queues: their consumers are gone, so `on_queue_event` requeues them. Once closed, queue actors
        // keep what they would send.
        events.close();
        while let Ok(event) = events.try_recv() {
            self.on_queue_event(event);
        }
        self.send_settles();
        self.vhost.connection_closed(self.id).await;
    }
}
