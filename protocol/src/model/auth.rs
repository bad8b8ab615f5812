//! Users, permissions and access tokens as the broker stores them and every admin interface shows them.
//!
//! Permissions are global ([`GlobalPermission`]) or scoped ([`Permission`]) to a stream or to one topic. For a
//! topic, a topic grant wins over the stream grant (so a stream-wide `write` can be narrowed to `read` on one topic);
//! global permissions add to both. Scoped permissions are independent: `manage` (create and delete topics, groups)
//! does not imply `read` or `write`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The internal topic of the `default` stream holding the audit log: readable only with `manage_users`, written only
/// by the broker.
pub const AUDIT_TOPIC: &str = "$audit";
/// The stream holding [`AUDIT_TOPIC`].
const AUDIT_STREAM: &str = "default";

/// A broker-wide permission.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalPermission {
    /// Create, change and delete users, grants and anyone's tokens; read the audit log.
    ManageUsers,
    /// Create and delete streams; `manage` on every stream and topic.
    ManageStreams,
    /// `read` on every stream and topic.
    ReadAll,
    /// `write` on every stream and topic.
    WriteAll,
    /// Read `/metrics`.
    ReadMetrics,
}

impl GlobalPermission {
    /// Every global permission.
    pub const ALL: [GlobalPermission; 5] = [
        GlobalPermission::ManageUsers,
        GlobalPermission::ManageStreams,
        GlobalPermission::ReadAll,
        GlobalPermission::WriteAll,
        GlobalPermission::ReadMetrics,
    ];

    /// The name used in the CLI, REST and JSON (`manage_users`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            GlobalPermission::ManageUsers => "manage_users",
            GlobalPermission::ManageStreams => "manage_streams",
            GlobalPermission::ReadAll => "read_all",
            GlobalPermission::WriteAll => "write_all",
            GlobalPermission::ReadMetrics => "read_metrics",
        }
    }

    /// Parses [`GlobalPermission::as_str`]'s names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// A permission on one stream or one topic.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Consume: fetch, offsets, consumer groups.
    Read,
    /// Produce.
    Write,
    /// Create, change and delete topics (on a stream) and consumer groups; delete records.
    Manage,
}

impl Permission {
    /// Every scoped permission.
    pub const ALL: [Permission; 3] = [Permission::Read, Permission::Write, Permission::Manage];

    /// The name used in the CLI, REST and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Manage => "manage",
        }
    }

    /// Parses [`Permission::as_str`]'s names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The global permission that implies this one everywhere.
    fn global(self) -> GlobalPermission {
        match self {
            Permission::Read => GlobalPermission::ReadAll,
            Permission::Write => GlobalPermission::WriteAll,
            Permission::Manage => GlobalPermission::ManageStreams,
        }
    }
}

/// One grant, as `user grant` / `user revoke` name it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// A broker-wide permission.
    Global(GlobalPermission),
    /// A permission on every topic of a stream.
    Stream {
        /// Stream name.
        stream: String,
        /// Permission.
        permission: Permission,
    },
    /// A permission on one topic (wins over the stream's grant for that topic).
    Topic {
        /// Stream name.
        stream: String,
        /// Topic name.
        topic: String,
        /// Permission.
        permission: Permission,
    },
}

/// Everything a user was granted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// Broker-wide permissions.
    #[serde(default)]
    pub global: BTreeSet<GlobalPermission>,
    /// Per stream: permissions on all its topics.
    #[serde(default)]
    pub streams: BTreeMap<String, BTreeSet<Permission>>,
    /// Per stream, per topic: permissions that replace the stream's for that topic.
    #[serde(default)]
    pub topics: BTreeMap<String, BTreeMap<String, BTreeSet<Permission>>>,
}

impl Grants {
    /// Every global permission (the bootstrap admin's grants).
    pub fn admin() -> Self {
        Grants { global: GlobalPermission::ALL.into_iter().collect(), ..Grants::default() }
    }

    /// Whether `permission` is granted broker-wide.
    pub fn has(&self, permission: GlobalPermission) -> bool {
        self.global.contains(&permission)
    }

    /// Whether `permission` is granted on `stream` (all its topics), or on `stream/topic` when a topic is given: a
    /// grant on the topic decides over the stream's.
    pub fn allows(&self, permission: Permission, stream: &str, topic: Option<&str>) -> bool {
        if stream == AUDIT_STREAM && topic == Some(AUDIT_TOPIC) {
            return permission == Permission::Read && self.has(GlobalPermission::ManageUsers);
        }
        if self.has(permission.global()) {
            return true;
        }
        if let Some(topic) = topic
            && let Some(granted) = self.topics.get(stream).and_then(|t| t.get(topic))
        {
            return granted.contains(&permission);
        }
        self.streams.get(stream).is_some_and(|p| p.contains(&permission))
    }

    /// Whether the user may see `stream` at all (lists, AMQP virtual host): any permission on it or on one of its
    /// topics.
    pub fn sees_stream(&self, stream: &str) -> bool {
        Permission::ALL.into_iter().any(|p| self.has(p.global()))
            || self.streams.get(stream).is_some_and(|p| !p.is_empty())
            || self.topics.get(stream).is_some_and(|t| t.values().any(|p| !p.is_empty()))
    }

    /// Whether the user may see `stream/topic`: any permission on it.
    pub fn sees_topic(&self, stream: &str, topic: &str) -> bool {
        Permission::ALL.into_iter().any(|p| self.allows(p, stream, Some(topic)))
    }

    /// Adds a grant; `false` when it was there already.
    pub fn grant(&mut self, access: &Access) -> bool {
        match access {
            Access::Global(p) => self.global.insert(*p),
            Access::Stream { stream, permission } => {
                self.streams.entry(stream.clone()).or_default().insert(*permission)
            }
            Access::Topic { stream, topic, permission } => {
                self.topics.entry(stream.clone()).or_default().entry(topic.clone()).or_default().insert(*permission)
            }
        }
    }

    /// Removes a grant; `false` when it was not there. An emptied topic entry is removed, so the stream's grant
    /// applies to that topic again.
    pub fn revoke(&mut self, access: &Access) -> bool {
        match access {
            Access::Global(p) => self.global.remove(p),
            Access::Stream { stream, permission } => {
                let removed = self.streams.get_mut(stream).is_some_and(|p| p.remove(permission));
                self.streams.retain(|_, p| !p.is_empty());
                removed
            }
            Access::Topic { stream, topic, permission } => {
                let Some(topics) = self.topics.get_mut(stream) else { return false };
                let removed = topics.get_mut(topic).is_some_and(|p| p.remove(permission));
                topics.retain(|_, p| !p.is_empty());
                self.topics.retain(|_, t| !t.is_empty());
                removed
            }
        }
    }

    /// Drops every grant on `stream` (it was deleted), or on `stream/topic`.
    pub fn forget(&mut self, stream: &str, topic: Option<&str>) {
        match topic {
            None => {
                self.streams.remove(stream);
                self.topics.remove(stream);
            }
            Some(topic) => {
                if let Some(t) = self.topics.get_mut(stream) {
                    t.remove(topic);
                }
                self.topics.retain(|_, t| !t.is_empty());
            }
        }
    }
}

/// A user as admin interfaces show it (never with a password hash).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Name.
    pub name: String,
    /// A disabled user cannot log in, and their open connections are refused from the next request on.
    pub enabled: bool,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Permissions.
    pub grants: Grants,
}

/// A personal access token as listed (never with its secret).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Id (the public part of the token).
    pub id: String,
    /// The name its owner gave it.
    pub name: String,
    /// The user it acts as.
    pub user: String,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Expiry, ms since the Unix epoch (`None`: never).
    pub expires_ms: Option<i64>,
}

/// A token just created: the secret is shown this once and only its hash is stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    /// The token to present (`cbt_<id>_<secret>`).
    pub token: String,
    /// Its listing.
    pub info: TokenInfo,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_grants_win_over_stream_grants_and_globals_add() {
        let mut g = Grants::default();
        assert!(!g.sees_stream("s"));
        g.grant(&Access::Stream { stream: "s".into(), permission: Permission::Write });
        g.grant(&Access::Stream { stream: "s".into(), permission: Permission::Read });
        g.grant(&Access::Topic { stream: "s".into(), topic: "t".into(), permission: Permission::Read });
        assert!(g.allows(Permission::Write, "s", Some("other")));
        assert!(g.allows(Permission::Read, "s", Some("t")));
        assert!(!g.allows(Permission::Write, "s", Some("t")), "the topic grant narrows the stream's");
        assert!(!g.allows(Permission::Read, "x", Some("t")));
        assert!(g.sees_stream("s") && !g.sees_stream("x"));
        assert!(g.revoke(&Access::Topic { stream: "s".into(), topic: "t".into(), permission: Permission::Read }));
        assert!(g.topics.is_empty());
        assert!(g.allows(Permission::Write, "s", Some("t")), "the stream grant applies again");
        g.grant(&Access::Global(GlobalPermission::ReadAll));
        assert!(g.allows(Permission::Read, "x", Some("y")) && !g.allows(Permission::Write, "x", Some("y")));
        assert!(!g.revoke(&Access::Stream { stream: "x".into(), permission: Permission::Read }));
        assert!(!g.sees_topic("default", AUDIT_TOPIC), "read_all does not read the audit log");
        assert!(Grants::admin().allows(Permission::Read, "default", Some(AUDIT_TOPIC)));
        assert!(!Grants::admin().allows(Permission::Write, "default", Some(AUDIT_TOPIC)), "only the broker writes it");
        let mut only_topic = Grants::default();
        only_topic.grant(&Access::Topic { stream: "s".into(), topic: "t".into(), permission: Permission::Write });
        assert!(only_topic.sees_stream("s") && only_topic.sees_topic("s", "t") && !only_topic.sees_topic("s", "u"));
        only_topic.forget("s", Some("t"));
        assert!(!only_topic.sees_stream("s"));
    }

    #[test]
    fn names_parse_back() {
        for p in GlobalPermission::ALL {
            assert_eq!(GlobalPermission::parse(p.as_str()), Some(p));
        }
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
        assert_eq!(Permission::parse("nope"), None);
    }
}
