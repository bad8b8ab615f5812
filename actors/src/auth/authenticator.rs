//! [`Authenticator`]: answers "who is this and what may they do" for every gateway, from a snapshot of the users and
//! tokens that the metadata actor publishes after each durable change. A gateway authenticates a connection once and
//! keeps the [`Principal`]; [`Authenticator::check`] costs one atomic load per request while nothing changed, and
//! re-resolves the principal (new grants, or refusal when the user was disabled or deleted or the token revoked or
//! expired) when the snapshot's epoch moved.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use callboard_protocol::model::{GlobalPermission, Grants, Permission};
use tracing::warn;

use super::audit::{AuditEvent, AuditSink};
use super::limiter::LoginLimiter;
use super::secret::{constant_time_eq, parse_token, sha256_hex, verify_password};
use super::store::{AuthMeta, TokenRecord, UserRecord};
use crate::error::{BrokerError, Result};

/// Who a connection is logged in as, with their grants as of the last check.
#[derive(Debug, Clone)]
pub struct Principal {
    user: String,
    grants: Arc<Grants>,
    /// The token it logged in with, if any.
    token: Option<String>,
    expires_ms: Option<i64>,
    epoch: u64,
    /// Where it logged in from.
    peer: Option<IpAddr>,
}

impl Principal {
    /// The peer it logged in from.
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The grants.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Whether the global permission is held.
    pub fn has(&self, permission: GlobalPermission) -> bool {
        self.grants.has(permission)
    }

    /// Whether `permission` is held on `stream` (or on `stream/topic`).
    pub fn allows(&self, permission: Permission, stream: &str, topic: Option<&str>) -> bool {
        self.grants.allows(permission, stream, topic)
    }

    /// `Forbidden` unless the global permission is held.
    pub fn require_global(&self, permission: GlobalPermission) -> Result<()> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(BrokerError::Forbidden(format!("user '{}' lacks the {} permission", self.user, permission.as_str())))
        }
    }

    /// `Forbidden` unless `permission` is held on `stream` (or `stream/topic`).
    pub fn require(&self, permission: Permission, stream: &str, topic: Option<&str>) -> Result<()> {
        if self.allows(permission, stream, topic) {
            return Ok(());
        }
        let on = match topic {
            Some(topic) => format!("topic '{stream}/{topic}'"),
            None => format!("stream '{stream}'"),
        };
        Err(BrokerError::Forbidden(format!("user '{}' lacks {} permission on {on}", self.user, permission.as_str())))
    }

    /// Whether the user may see `stream` in lists.
    pub fn sees_stream(&self, stream: &str) -> bool {
        self.grants.sees_stream(stream)
    }

    /// Whether the user may see `stream/topic` in lists.
    pub fn sees_topic(&self, stream: &str, topic: &str) -> bool {
        self.grants.sees_topic(stream, topic)
    }

    /// `Forbidden` unless the caller is `user` or holds `manage_users`.
    pub fn require_self_or_admin(&self, user: &str) -> Result<()> {
        if self.user == user { Ok(()) } else { self.require_global(GlobalPermission::ManageUsers) }
    }
}

/// Users and tokens, indexed.
#[derive(Debug, Default)]
struct Snapshot {
    users: HashMap<String, UserRecord>,
    tokens: HashMap<String, TokenRecord>,
}

/// The broker's authentication and authorization state (shared by every gateway).
#[derive(Debug)]
pub struct Authenticator {
    snapshot: RwLock<Arc<Snapshot>>,
    epoch: AtomicU64,
    limiter: Mutex<LoginLimiter>,
    /// Passwords verified since the last change, as SHA-256 of `user\0password`: HTTP basic auth sends the password
    /// on every request, and argon2 is far too slow to run per request.
    verified: Mutex<HashMap<String, String>>,
    audit: AuditSink,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Authenticator {
    /// An authenticator over `meta`.
    pub(crate) fn new(meta: &AuthMeta, audit: AuditSink) -> Self {
        let auth = Authenticator {
            audit,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            epoch: AtomicU64::new(0),
            limiter: Mutex::new(LoginLimiter::default()),
            verified: Mutex::new(HashMap::new()),
        };
        auth.publish(meta);
        auth
    }

    /// Makes `meta` current (after it was saved) and invalidates every connection's resolved principal.
    pub(crate) fn publish(&self, meta: &AuthMeta) {
        let snapshot = Snapshot {
            users: meta.users.iter().map(|u| (u.name.clone(), u.clone())).collect(),
            tokens: meta.tokens.iter().map(|t| (t.id.clone(), t.clone())).collect(),
        };
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        self.verified.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Changes so far: moves whenever a user, grant or token changes.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The stored record of `user` (for admin listings).
    pub(crate) fn users(&self) -> Vec<UserRecord> {
        let mut users: Vec<_> = self.current().users.values().cloned().collect();
        users.sort_by_key(|u| u.created_ms);
        users
    }

    /// The stored tokens.
    pub(crate) fn tokens(&self) -> Vec<TokenRecord> {
        let mut tokens: Vec<_> = self.current().tokens.values().cloned().collect();
        tokens.sort_by_key(|t| t.created_ms);
        tokens
    }

    fn refused(&self, peer: Option<IpAddr>, user: &str, how: &str, why: &str) -> BrokerError {
        warn!(user, peer = ?peer, reason = why, "login refused");
        self.audit.record(login_event("login_failed", user, peer, how, why));
        BrokerError::Unauthenticated(format!("login as '{user}' refused: {why}"))
    }

    /// Records an administrative request in the audit log.
    pub(crate) fn audit(&self, event: AuditEvent) {
        self.audit.record(event);
    }

    fn accepted(&self, principal: &Principal, how: &str) {
        self.audit.record(login_event("login", &principal.user, principal.peer, how, ""));
    }

    /// Verifies a password (slow: argon2, unless verified since the last change). Failures are rate-limited per
    /// peer and user and logged.
    pub fn verify_password(&self, user: &str, password: &str, peer: Option<IpAddr>) -> Result<Principal> {
        let now = Instant::now();
        let blocked = self.limiter.lock().unwrap_or_else(|p| p.into_inner()).check(peer, user, now);
        if let Err(wait) = blocked {
            let why = format!("too many failed logins; retry in {} s", wait.as_secs_f64().ceil() as u64);
            return Err(self.refused(peer, user, "password", &why));
        }
        let epoch = self.epoch();
        let snapshot = self.current();
        let digest = sha256_hex(format!("{user}\0{password}").as_bytes());
        let record = snapshot.users.get(user);
        let cached = self.verified.lock().unwrap_or_else(|p| p.into_inner()).get(user).is_some_and(|d| *d == digest);
        let good = match record {
            Some(r) => cached || verify_password(password, &r.password_hash),
            None => {
                // Spend the same time as a real check, so timing does not tell which users exist.
                let _ = verify_password(password, DUMMY_HASH);
                false
            }
        };
        let mut limiter = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
        match record {
            Some(r) if good && r.enabled => {
                limiter.succeeded(peer, user);
                drop(limiter);
                if !cached {
                    self.verified.lock().unwrap_or_else(|p| p.into_inner()).insert(user.to_string(), digest);
                }
                let principal = Principal {
                    user: user.into(),
                    grants: Arc::new(r.grants.clone()),
                    token: None,
                    expires_ms: None,
                    epoch,
                    peer,
                };
                self.accepted(&principal, "password");
                Ok(principal)
            }
            Some(_) if good => Err(self.refused(peer, user, "password", "the user is disabled")),
            _ => {
                // The delay runs from the answer, not from the start of the (slow) check.
                let wait = limiter.failed(peer, user, Instant::now());
                drop(limiter);
                let mut why = "wrong user name or password".to_string();
                if wait > Duration::ZERO {
                    why.push_str(&format!("; next attempt in {} ms", wait.as_millis()));
                }
                Err(self.refused(peer, user, "password", &why))
            }
        }
    }

    /// Verifies a personal access token (fast). Failures are rate-limited per peer.
    pub fn verify_token(&self, token: &str, peer: Option<IpAddr>) -> Result<Principal> {
        const KEY: &str = "<token>";
        let now = Instant::now();
        if let Err(wait) = self.limiter.lock().unwrap_or_else(|p| p.into_inner()).check(peer, KEY, now) {
            let why = format!("too many failed logins; retry in {} s", wait.as_secs_f64().ceil() as u64);
            return Err(self.refused(peer, KEY, "token", &why));
        }
        let epoch = self.epoch();
        let resolved = parse_token(token).ok_or("not a Callboard access token").and_then(|(id, secret)| {
            self.resolve_token(&self.current(), id, Some(secret), epoch, peer)
                .map_err(|_| "unknown, revoked or expired token")
        });
        let mut limiter = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
        match resolved {
            Ok(principal) => {
                limiter.succeeded(peer, KEY);
                drop(limiter);
                self.accepted(&principal, "token");
                Ok(principal)
            }
            Err(why) => {
                limiter.failed(peer, KEY, Instant::now());
                drop(limiter);
                Err(self.refused(peer, KEY, "token", why))
            }
        }
    }

    fn resolve_token(
        &self,
        snapshot: &Snapshot,
        id: &str,
        secret: Option<&str>,
        epoch: u64,
        peer: Option<IpAddr>,
    ) -> Result<Principal> {
        let gone = || BrokerError::Unauthenticated("the access token is unknown, revoked or expired".into());
        let record = snapshot.tokens.get(id).ok_or_else(gone)?;
        if let Some(secret) = secret
            && !constant_time_eq(&sha256_hex(secret.as_bytes()), &record.secret_sha256)
        {
            return Err(gone());
        }
        if record.expires_ms.is_some_and(|at| at <= now_ms()) {
            return Err(gone());
        }
        let user = snapshot.users.get(&record.user).filter(|u| u.enabled).ok_or_else(gone)?;
        Ok(Principal {
            user: user.name.clone(),
            grants: Arc::new(user.grants.clone()),
            token: Some(id.to_string()),
            expires_ms: record.expires_ms,
            epoch,
            peer,
        })
    }

    /// Brings a connection's principal up to date: free while nothing changed; after a change its grants are
    /// re-read, and it is refused (`Unauthenticated`) if its user was disabled or deleted or its token revoked or
    /// expired.
    pub fn check(&self, principal: &mut Principal) -> Result<()> {
        let epoch = self.epoch();
        let expired = principal.expires_ms.is_some_and(|at| at <= now_ms());
        if epoch == principal.epoch && !expired {
            return Ok(());
        }
        let snapshot = self.current();
        *principal = match &principal.token {
            Some(id) => self.resolve_token(&snapshot, &id.clone(), None, epoch, principal.peer)?,
            None => {
                let user = snapshot.users.get(&principal.user).filter(|u| u.enabled).ok_or_else(|| {
                    BrokerError::Unauthenticated(format!("user '{}' was disabled or deleted", principal.user))
                })?;
                Principal {
                    user: user.name.clone(),
                    grants: Arc::new(user.grants.clone()),
                    token: None,
                    expires_ms: None,
                    epoch,
                    peer: principal.peer,
                }
            }
        };
        Ok(())
    }
}

fn login_event(event: &'static str, user: &str, peer: Option<IpAddr>, how: &str, why: &str) -> AuditEvent {
    AuditEvent {
        time_ms: now_ms(),
        event,
        user: user.into(),
        peer: peer.map(|p| p.to_string()),
        action: how.into(),
        detail: why.into(),
        ok: event == "login",
    }
}

/// A valid argon2id hash of a random password, checked against when the user does not exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4Vxj0Xlj4eZxvJ1Cw6t9R7wz1u5GkS3KpDq2Zq0Jc1A";
