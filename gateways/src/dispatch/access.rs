//! What each TCP/QUIC request needs the logged-in user to hold ([`Guarded`]). Checks are map lookups on the
//! connection's resolved [`Principal`]: nothing here crosses an actor. Lists are not guarded but filtered by their
//! handlers (a user sees only the streams and topics they hold some permission on).

use callboard_actors::BrokerError;
use callboard_actors::auth::Principal;
use callboard_protocol::model::{GlobalPermission, Permission};
use callboard_protocol::wire::{
    AddPartitions, CommitGroupOffset, CreateStream, CreateToken, CreateTopic, CreateUser, DeleteGroup, DeleteOffset,
    DeleteStream, DeleteTopic, DeleteUser, DescribeGroup, DescribeTopic, Fetch, GetOffset, Grant, GroupFetch,
    Heartbeat, InitProducer, JoinGroup, LeaveGroup, ListGroups, ListStreams, ListTokens, ListTopics, ListUsers, Ping,
    Produce, ResetGroupOffsets, Revoke, RevokeToken, StatusRequest, StoreOffset, UpdateUser, WhoAmI,
};

/// A request whose permission can be checked from its body alone.
pub(crate) trait Guarded {
    /// `Forbidden` unless `principal` may make this request.
    fn authorize(&self, principal: &Principal) -> Result<(), BrokerError>;
}

macro_rules! open {
    ($($t:ty),*) => {$(impl Guarded for $t {
        fn authorize(&self, _: &Principal) -> Result<(), BrokerError> { Ok(()) }
    })*};
}

// Any logged-in user: liveness, status, producer ids, their own identity, filtered lists, token calls (which check
// ownership when they run).
open!(Ping, StatusRequest, InitProducer, WhoAmI, ListStreams, ListTopics, CreateToken, ListTokens, RevokeToken);

macro_rules! on_topic {
    ($($t:ty => $perm:ident, $stream:ident, $topic:ident;)*) => {$(impl Guarded for $t {
        fn authorize(&self, p: &Principal) -> Result<(), BrokerError> {
            p.require(Permission::$perm, &self.$stream, Some(&self.$topic))
        }
    })*};
}

on_topic! {
    CreateTopic => Manage, stream, name;
    DeleteTopic => Manage, stream, name;
    AddPartitions => Manage, stream, name;
    Produce => Write, stream, topic;
    Fetch => Read, stream, topic;
    StoreOffset => Read, stream, topic;
    GetOffset => Read, stream, topic;
    DeleteOffset => Read, stream, topic;
    CommitGroupOffset => Read, stream, topic;
    ResetGroupOffsets => Manage, stream, topic;
}

macro_rules! global {
    ($($t:ty => $perm:ident;)*) => {$(impl Guarded for $t {
        fn authorize(&self, p: &Principal) -> Result<(), BrokerError> {
            p.require_global(GlobalPermission::$perm)
        }
    })*};
}

global! {
    CreateStream => ManageStreams;
    DeleteStream => ManageStreams;
    CreateUser => ManageUsers;
    ListUsers => ManageUsers;
    DeleteUser => ManageUsers;
    Grant => ManageUsers;
    Revoke => ManageUsers;
}

/// `Forbidden` unless the user sees `stream` (some permission on it or one of its topics).
fn sees(p: &Principal, stream: &str) -> Result<(), BrokerError> {
    if p.sees_stream(stream) {
        Ok(())
    } else {
        Err(BrokerError::Forbidden(format!("user '{}' holds no permission on stream '{stream}'", p.user())))
    }
}

impl Guarded for DescribeTopic {
    fn authorize(&self, p: &Principal) -> Result<(), BrokerError> {
        if p.sees_topic(&self.stream, &self.name) {
            Ok(())
        } else {
            Err(BrokerError::Forbidden(format!(
                "user '{}' holds no permission on topic '{}/{}'",
                p.user(),
                self.stream,
                self.name
            )))
        }
    }
}

impl Guarded for JoinGroup {
    fn authorize(&self, p: &Principal) -> Result<(), BrokerError> {
        self.topics.iter().try_for_each(|t| p.require(Permission::Read, &self.stream, Some(t)))
    }
}

impl Guarded for GroupFetch {
    fn authorize(&self, p: &Principal) -> Result<(), BrokerError> {
        sees(p, &self.stream)?;
        self.assignment.iter().try_for_each(|tp| p.require(Permission::Read, &self.stream, Some(&tp.0)))
    }
}

macro_rules! on_stream {
    ($($t:ty),*) => {$(impl Guarded for $t {
        fn authorize(&self, p: &Principal) -> Result<(), BrokerError> { sees(p, &self.stream) }
    })*};
}

on_stream!(Heartbeat, LeaveGroup, ListGroups, DescribeGroup);

impl Guarded for DeleteGroup {
    fn authorize(&self, p: &Principal) -> Result<(), BrokerError> {
        p.require(Permission::Manage, &self.stream, None)
    }
}

impl Guarded for UpdateUser {
    fn authorize(&self, p: &Principal) -> Result<(), BrokerError> {
        if self.enabled.is_some() {
            p.require_global(GlobalPermission::ManageUsers)
        } else {
            p.require_self_or_admin(&self.name)
        }
    }
}
