//! [`ConnectionAccess`]: who an AMQP connection is logged in as and what it may do in its virtual host, resolved
//! once per connection and again only when the broker's users, grants or tokens change (the authenticator's epoch
//! moved), so the per-message check is a field read in the common case.
//!
//! How AMQP maps to Callboard permissions: the virtual host is a stream, and opening it needs some permission on
//! that stream or one of its topics (or a global one). A queue is its backing topic (`$amqp.q.<name>`): `read` on it
//! for `basic.consume` / `basic.get`, `write` on it for a message routed into it (a publish needs `write` on every
//! queue the message is routed to; one routed nowhere is stored nowhere and needs none), `manage` on it for
//! declaring (not passively), binding, unbinding, purging and deleting it. Exchanges hold no data and belong to the
//! stream: declaring, deleting and binding them needs `manage` on the stream.

use callboard_actors::auth::Principal;
use callboard_actors::{Broker, BrokerError};
use callboard_protocol::model::Permission;

use crate::amqp::reply::{AmqpError, ReplyCode, access_refused};

/// How one permission is decided in the connection's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Held on every topic of the stream.
    All,
    /// Held on none.
    Nothing,
    /// The stream has topic grants: decided per topic.
    PerTopic,
}

/// The principal of one connection and its rules in the connection's stream.
#[derive(Debug)]
pub struct ConnectionAccess {
    principal: Principal,
    stream: String,
    /// The authenticator's epoch the rules were resolved at.
    epoch: u64,
    read: Rule,
    write: Rule,
    manage: Rule,
}

/// Why a connection's login no longer holds: `connection.close` 320 with this text.
fn forced(text: impl Into<String>) -> AmqpError {
    AmqpError::new(ReplyCode::ConnectionForced, text)
}

impl ConnectionAccess {
    /// The access of `principal` in `stream`, resolved as of `epoch` (read before the principal was made).
    pub fn new(principal: Principal, stream: String, epoch: u64) -> ConnectionAccess {
        let mut access = ConnectionAccess {
            principal,
            stream,
            epoch,
            read: Rule::Nothing,
            write: Rule::Nothing,
            manage: Rule::Nothing,
        };
        access.resolve();
        access
    }

    fn resolve(&mut self) {
        let per_topic = self.principal.grants().topics.get(&self.stream).is_some_and(|t| !t.is_empty());
        let rule = |p: Permission| {
            if per_topic {
                Rule::PerTopic
            } else if self.principal.allows(p, &self.stream, None) {
                Rule::All
            } else {
                Rule::Nothing
            }
        };
        (self.read, self.write, self.manage) =
            (rule(Permission::Read), rule(Permission::Write), rule(Permission::Manage));
    }

    /// Who is logged in.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The user name.
    pub fn user(&self) -> &str {
        self.principal.user()
    }

    /// Re-validates the login with the broker. Answers whether the grants may have changed (the rules were
    /// re-resolved); an error (320, with the reason) when the user was disabled or deleted, the token revoked or
    /// expired, or the user can no longer see the virtual host at all. With `force` the broker is asked even when no
    /// change was published (a token may have expired meanwhile); without it this is one atomic load.
    pub fn refresh(&mut self, broker: &Broker, force: bool) -> Result<bool, AmqpError> {
        let epoch = broker.authenticator().epoch();
        if epoch == self.epoch && !force {
            return Ok(false);
        }
        broker.check_principal(&mut self.principal).map_err(|e| match e {
            BrokerError::Unauthenticated(why) => forced(why),
            other => forced(other.to_string()),
        })?;
        if epoch == self.epoch {
            return Ok(false);
        }
        self.epoch = epoch;
        self.resolve();
        if !self.principal.sees_stream(&self.stream) {
            return Err(forced(format!(
                "access to vhost '{}' was revoked for user '{}'",
                self.stream,
                self.principal.user()
            )));
        }
        Ok(true)
    }

    /// Whether `permission` is held on the queue stored in `topic`.
    pub fn allows(&self, permission: Permission, topic: &str) -> bool {
        let rule = match permission {
            Permission::Read => self.read,
            Permission::Write => self.write,
            Permission::Manage => self.manage,
        };
        match rule {
            Rule::All => true,
            Rule::Nothing => false,
            Rule::PerTopic => self.principal.allows(permission, &self.stream, Some(topic)),
        }
    }

    /// 403 unless `permission` is held on queue `queue` (stored in `topic`).
    pub fn require_queue(&self, permission: Permission, queue: &str, topic: &str) -> Result<(), AmqpError> {
        if self.allows(permission, topic) {
            return Ok(());
        }
        Err(self.refused(permission, &format!("queue '{queue}'")))
    }

    /// 403 unless `permission` is held on the whole stream (exchanges, server-named queues).
    pub fn require_stream(&self, permission: Permission, what: &str) -> Result<(), AmqpError> {
        if self.principal.allows(permission, &self.stream, None) {
            return Ok(());
        }
        Err(self.refused(permission, what))
    }

    /// 403 unless some permission is held on the queue stored in `topic` (a passive declare).
    pub fn require_any(&self, queue: &str, topic: &str) -> Result<(), AmqpError> {
        if Permission::ALL.into_iter().any(|p| self.allows(p, topic)) {
            return Ok(());
        }
        Err(access_refused(format!(
            "access to queue '{queue}' in vhost '{}' refused for user '{}'",
            self.stream,
            self.principal.user()
        )))
    }

    fn refused(&self, permission: Permission, what: &str) -> AmqpError {
        access_refused(format!(
            "{} access to {what} in vhost '{}' refused for user '{}'",
            permission.as_str(),
            self.stream,
            self.principal.user()
        ))
    }
}
