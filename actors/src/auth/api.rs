//! The embedded broker's security API ([`Broker`] methods): logging in, and managing users, grants and tokens.
//! Authorization of these calls is the caller's (a gateway checks the [`Principal`] first); the embedded API itself
//! trusts its host application.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use callboard_protocol::model::{Access, CreatedToken, Grants, TokenInfo, UserInfo};

use super::authenticator::{Authenticator, Principal};
use super::changes::{AuthChange, AuthOutcome, ChangeAuth};
use super::secret::{hash_password, new_token};
use super::store::{TokenRecord, validate_password, validate_user_name};
use crate::error::{BrokerError, Result};
use crate::handle::{Broker, closed};

/// Longest token lifetime accepted (about 10 years).
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

/// Runs slow CPU work (argon2) on the runtime's blocking pool when there is one, else inline.
async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => match handle.spawn_blocking(work).await {
            Ok(out) => out,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        },
        Err(_) => work(),
    }
}

impl Broker {
    /// The shared authenticator (for gateways that keep a principal per connection).
    pub fn authenticator(&self) -> &Arc<Authenticator> {
        &self.inner.auth
    }

    async fn change_auth(&self, change: AuthChange) -> Result<AuthOutcome> {
        self.inner.broker.send(ChangeAuth(change)).await.map_err(closed)?
    }

    fn user_outcome(outcome: AuthOutcome) -> Result<UserInfo> {
        match outcome {
            AuthOutcome::User(info) => Ok(info),
            other => Err(BrokerError::InvalidConfig(format!("unexpected outcome {other:?}"))),
        }
    }

    /// Records an administrative request `principal` made (what it named, passwords never included, and whether it
    /// succeeded) in the audit log. Never blocks; see [`crate::auth::AUDIT_TOPIC`].
    pub fn audit_request(&self, principal: &Principal, action: &str, detail: &str, outcome: Result<(), &BrokerError>) {
        const MAX_DETAIL: usize = 1024;
        let mut detail = match outcome {
            Ok(()) => detail.to_string(),
            Err(e) => format!("{detail}: {e}"),
        };
        if detail.len() > MAX_DETAIL {
            let mut cut = MAX_DETAIL;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
        }
        self.inner.auth.audit(super::audit::AuditEvent {
            time_ms: self.inner.env.now_ms(),
            event: "request",
            user: principal.user().to_string(),
            peer: principal.peer().map(|p| p.to_string()),
            action: action.to_string(),
            detail,
            ok: outcome.is_ok(),
        });
    }

    /// Logs in with a password (argon2 runs on a blocking thread); failures are rate-limited and logged.
    pub async fn login(&self, user: &str, password: &str, peer: Option<IpAddr>) -> Result<Principal> {
        let auth = Arc::clone(&self.inner.auth);
        let (user, password) = (user.to_string(), password.to_string());
        off_thread(move || auth.verify_password(&user, &password, peer)).await
    }

    /// Logs in with a personal access token.
    pub fn login_token(&self, token: &str, peer: Option<IpAddr>) -> Result<Principal> {
        self.inner.auth.verify_token(token, peer)
    }

    /// Brings a principal up to date (see [`Authenticator::check`]).
    pub fn check_principal(&self, principal: &mut Principal) -> Result<()> {
        self.inner.auth.check(principal)
    }

    /// Creates a user.
    pub async fn create_user(&self, name: &str, password: &str, grants: Grants) -> Result<UserInfo> {
        validate_user_name(name)?;
        validate_password(password)?;
        let password = password.to_string();
        let hash = off_thread(move || hash_password(&password)).await?;
        Self::user_outcome(self.change_auth(AuthChange::CreateUser { name: name.into(), hash, grants }).await?)
    }

    /// Every user, oldest first.
    pub fn users(&self) -> Vec<UserInfo> {
        self.inner.auth.users().iter().map(|u| u.info()).collect()
    }

    /// One user.
    pub fn user(&self, name: &str) -> Result<UserInfo> {
        self.inner
            .auth
            .users()
            .iter()
            .find(|u| u.name == name)
            .map(|u| u.info())
            .ok_or_else(|| BrokerError::UserNotFound(name.into()))
    }

    /// Changes a user's password and/or enables or disables them.
    pub async fn update_user(&self, name: &str, password: Option<&str>, enabled: Option<bool>) -> Result<UserInfo> {
        let hash = match password {
            Some(p) => {
                validate_password(p)?;
                let p = p.to_string();
                Some(off_thread(move || hash_password(&p)).await?)
            }
            None => None,
        };
        Self::user_outcome(self.change_auth(AuthChange::UpdateUser { name: name.into(), hash, enabled }).await?)
    }

    /// Deletes a user and their tokens.
    pub async fn delete_user(&self, name: &str) -> Result<()> {
        self.change_auth(AuthChange::DeleteUser { name: name.into() }).await.map(|_| ())
    }

    /// Grants a permission.
    pub async fn grant(&self, user: &str, access: Access) -> Result<UserInfo> {
        Self::user_outcome(self.change_auth(AuthChange::Grant { user: user.into(), access }).await?)
    }

    /// Revokes a permission.
    pub async fn revoke(&self, user: &str, access: Access) -> Result<UserInfo> {
        Self::user_outcome(self.change_auth(AuthChange::Revoke { user: user.into(), access }).await?)
    }

    /// Creates a personal access token for `user`; its secret is in the answer only.
    pub async fn create_token(&self, user: &str, name: &str, lifetime: Option<Duration>) -> Result<CreatedToken> {
        if let Some(l) = lifetime
            && (l.is_zero() || l > MAX_TOKEN_LIFETIME)
        {
            return Err(BrokerError::InvalidConfig("a token lifetime is 1 ms to 10 years".into()));
        }
        let (id, token, secret_sha256) = new_token();
        let created_ms = self.inner.env.now_ms();
        let record = TokenRecord {
            id,
            name: name.into(),
            user: user.into(),
            secret_sha256,
            created_ms,
            expires_ms: lifetime.map(|l| created_ms.saturating_add(l.as_millis() as i64)),
        };
        match self.change_auth(AuthChange::CreateToken(record)).await? {
            AuthOutcome::Token(info) => Ok(CreatedToken { token, info }),
            other => Err(BrokerError::InvalidConfig(format!("unexpected outcome {other:?}"))),
        }
    }

    /// Tokens, oldest first: every user's, or only `user`'s.
    pub fn tokens(&self, user: Option<&str>) -> Vec<TokenInfo> {
        self.inner.auth.tokens().iter().filter(|t| user.is_none_or(|u| t.user == u)).map(|t| t.info()).collect()
    }

    /// Revokes a token; answers what it was.
    pub async fn revoke_token(&self, id: &str) -> Result<TokenInfo> {
        match self.change_auth(AuthChange::RevokeToken { id: id.into() }).await? {
            AuthOutcome::Token(info) => Ok(info),
            other => Err(BrokerError::InvalidConfig(format!("unexpected outcome {other:?}"))),
        }
    }
}
