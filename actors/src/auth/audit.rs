//! The audit log: logins, failed logins and administrative requests (users, grants, tokens, streams, topics, groups)
//! appended as JSON messages to the internal topic [`AUDIT_TOPIC`] of the default stream, readable only by holders of
//! `manage_users`. Recording never blocks the caller: events go through a bounded queue to a task that appends them in
//! batches; when the queue is full events are dropped and counted (`callboard_audit_dropped_total`) rather than
//! slowing logins down.

use std::sync::Weak;

use callboard_protocol::model::{Message, Partitioning, TopicConfig};
use serde::Serialize;
use tokio::sync::mpsc;
use tracing::warn;

use crate::handle::{Broker, Inner};
use crate::metadata::DEFAULT_STREAM;

pub use callboard_protocol::model::AUDIT_TOPIC;

/// Events queued at most before new ones are dropped.
const QUEUE: usize = 4096;
/// Events appended in one batch at most.
const BATCH: usize = 256;
/// Counter of events dropped because the queue was full.
pub const AUDIT_DROPPED: &str = "callboard_audit_dropped_total";

/// One audit record (a JSON message in [`AUDIT_TOPIC`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// When, ms since the Unix epoch.
    pub time_ms: i64,
    /// `login`, `login_failed` or `request`.
    pub event: &'static str,
    /// The user (as given, for a failed login).
    pub user: String,
    /// The peer address, when known.
    pub peer: Option<String>,
    /// How: `password` or `token` for logins, the API for requests (`create_user`, `delete_topic`, …).
    pub action: String,
    /// What the request named (its body, passwords never included), or why a login failed.
    pub detail: String,
    /// Whether it succeeded.
    pub ok: bool,
}

/// The sending side, shared by the authenticator and the gateways.
#[derive(Debug, Clone)]
pub(crate) struct AuditSink {
    tx: mpsc::Sender<AuditEvent>,
}

impl AuditSink {
    /// A sink and the queue its events arrive on.
    pub(crate) fn new() -> (AuditSink, mpsc::Receiver<AuditEvent>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (AuditSink { tx }, rx)
    }

    /// Queues an event; drops it (counted) when the queue is full or the broker stopped.
    pub(crate) fn record(&self, event: AuditEvent) {
        if self.tx.try_send(event).is_err() {
            metrics::counter!(AUDIT_DROPPED).increment(1);
        }
    }
}

/// The audit topic's configuration: fsynced, kept 90 days.
pub(crate) fn audit_topic_config() -> TopicConfig {
    TopicConfig { retention_age_ms: Some(90 * 24 * 3600 * 1000), ..TopicConfig::default() }
}

/// Appends queued events to the audit topic until the broker is gone. Holds the broker weakly, so a broker dropped
/// without `shutdown` still stops.
pub(crate) async fn drain(broker: Weak<Inner>, mut rx: mpsc::Receiver<AuditEvent>) {
    let mut events = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut events, BATCH).await > 0 {
        let Some(inner) = broker.upgrade() else { return };
        let broker = Broker { inner };
        let messages: Vec<Message> =
            events.drain(..).filter_map(|e| serde_json::to_vec(&e).ok()).map(Message::new).collect();
        if let Err(e) = broker.send(DEFAULT_STREAM, AUDIT_TOPIC, Partitioning::Balanced, messages).await {
            warn!(error = %e, "could not append to the audit log");
        }
    }
}
