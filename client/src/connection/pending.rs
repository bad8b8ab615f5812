//! The table of requests waiting for their answers, keyed by correlation id; closing it fails them all at once.

use std::collections::HashMap;

use callboard_protocol::wire::ResponseFrame;
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use crate::error::{ClientError, Result};

/// Where an answer goes.
pub(crate) type Reply = oneshot::Sender<Result<ResponseFrame>>;

struct Waiter {
    reply: Reply,
    /// Taken when the frame is written; released with the answer (caps requests on the wire).
    permit: Option<OwnedSemaphorePermit>,
}

/// Requests waiting for answers.
#[derive(Default)]
pub(crate) struct PendingTable {
    waiters: HashMap<u64, Waiter>,
    closed: Option<ClientError>,
}

impl PendingTable {
    /// Registers a request; fails when the connection is closed already.
    pub(crate) fn register(&mut self, correlation: u64, reply: Reply) -> Result<()> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        self.waiters.insert(correlation, Waiter { reply, permit: None });
        Ok(())
    }

    /// Attaches the in-flight permit to a request about to be written; `false` when nobody waits for it any more
    /// (timed out or closed), so it need not be written.
    pub(crate) fn attach(&mut self, correlation: u64, permit: OwnedSemaphorePermit) -> bool {
        match self.waiters.get_mut(&correlation) {
            Some(w) => {
                w.permit = Some(permit);
                true
            }
            None => false,
        }
    }

    /// Delivers an answer; `false` when no request waits for this correlation id.
    pub(crate) fn complete(&mut self, frame: ResponseFrame) -> bool {
        match self.waiters.remove(&frame.correlation) {
            Some(w) => {
                let _ = w.reply.send(Ok(frame));
                true
            }
            None => false,
        }
    }

    /// Forgets a request (its caller gave up).
    pub(crate) fn cancel(&mut self, correlation: u64) {
        self.waiters.remove(&correlation);
    }

    /// Fails one request.
    pub(crate) fn fail(&mut self, correlation: u64, error: ClientError) {
        if let Some(w) = self.waiters.remove(&correlation) {
            let _ = w.reply.send(Err(error));
        }
    }

    /// Fails every waiting request with `error` and refuses new ones. Only the first close counts.
    pub(crate) fn close(&mut self, error: ClientError) {
        if self.closed.is_some() {
            return;
        }
        for (_, w) in self.waiters.drain() {
            let _ = w.reply.send(Err(error.clone()));
        }
        self.closed = Some(error);
    }

    /// Whether the connection is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Requests waiting.
    pub(crate) fn len(&self) -> usize {
        self.waiters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(correlation: u64) -> ResponseFrame {
        ResponseFrame { correlation, error: 0, body: Bytes::from(correlation.to_string()) }
    }

    #[test]
    fn answers_reach_their_request_in_any_order() {
        let mut table = PendingTable::default();
        let mut receivers = Vec::new();
        for c in 1..=3 {
            let (tx, rx) = oneshot::channel();
            table.register(c, tx).expect("open");
            receivers.push((c, rx));
        }
        assert!(table.complete(frame(3)));
        assert!(table.complete(frame(1)));
        assert!(!table.complete(frame(9)), "unknown correlation ids are ignored");
        table.cancel(2);
        assert_eq!(table.len(), 0);
        for (c, mut rx) in receivers {
            match rx.try_recv() {
                Ok(Ok(f)) => assert_eq!(f.correlation, c),
                Err(_) => assert_eq!(c, 2, "only the cancelled request gets nothing"),
                Ok(Err(e)) => panic!("unexpected error {e}"),
            }
        }
    }

    #[test]
    fn closing_fails_everyone_and_refuses_new_requests() {
        let mut table = PendingTable::default();
        let (tx, mut rx) = oneshot::channel();
        table.register(1, tx).expect("open");
        table.close(ClientError::Closed("reset".into()));
        assert!(matches!(rx.try_recv(), Ok(Err(ClientError::Closed(_)))));
        let (tx, _rx) = oneshot::channel();
        assert!(table.register(2, tx).is_err());
        assert!(table.is_closed());
    }
}
