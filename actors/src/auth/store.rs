//! [`AuthMeta`]: users (with argon2id password hashes), their grants and their access tokens (SHA-256 hashes of the
//! secrets), as persisted in the broker's metadata, and the checked changes made to them. Nothing here does I/O or
//! hashing: callers hash first, then apply a change to a copy that is saved before it becomes current.

use serde::{Deserialize, Serialize};

use callboard_protocol::model::{Access, GlobalPermission, Grants, TokenInfo, UserInfo};

use crate::error::{BrokerError, Result};

/// Longest user name, in bytes.
pub const MAX_USER_NAME: usize = 64;
/// Shortest password accepted, in characters.
pub const MIN_PASSWORD: usize = 8;
/// Longest password accepted, in bytes.
pub const MAX_PASSWORD: usize = 1024;
/// Most users a broker holds.
pub const MAX_USERS: usize = 10_000;
/// Most tokens one user may hold.
pub const MAX_TOKENS_PER_USER: usize = 100;

/// One user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Name.
    pub name: String,
    /// Argon2id hash in PHC string format.
    pub password_hash: String,
    /// Whether the user may log in.
    pub enabled: bool,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Permissions.
    #[serde(default)]
    pub grants: Grants,
}

impl UserRecord {
    /// The user as admin interfaces show it.
    pub fn info(&self) -> UserInfo {
        UserInfo {
            name: self.name.clone(),
            enabled: self.enabled,
            created_ms: self.created_ms,
            grants: self.grants.clone(),
        }
    }
}

/// One personal access token as stored (its secret only as a SHA-256 hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owner.
    pub user: String,
    /// SHA-256 of the secret, hex.
    pub secret_sha256: String,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Expiry, ms since the Unix epoch.
    pub expires_ms: Option<i64>,
}

impl TokenRecord {
    /// The token as listed.
    pub fn info(&self) -> TokenInfo {
        TokenInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            user: self.user.clone(),
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
        }
    }
}

/// Users and tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthMeta {
    /// Users, in creation order.
    #[serde(default)]
    pub users: Vec<UserRecord>,
    /// Tokens, in creation order.
    #[serde(default)]
    pub tokens: Vec<TokenRecord>,
}

/// Checks a user name: 1 to 64 bytes of ASCII letters, digits and `.`, `_`, `-`, `@`.
pub fn validate_user_name(name: &str) -> Result<()> {
    let bad = |reason: &str| Err(BrokerError::InvalidConfig(format!("user name {name:?}: {reason}")));
    if name.is_empty() || name.len() > MAX_USER_NAME {
        return bad("must be 1 to 64 bytes");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@')) {
        return bad("may hold only ASCII letters, digits and . _ - @");
    }
    Ok(())
}

/// Checks a new password's length (8 characters to 1024 bytes).
pub fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(BrokerError::InvalidConfig(format!(
            "a password must be {MIN_PASSWORD} characters to {MAX_PASSWORD} bytes long"
        )));
    }
    Ok(())
}

impl AuthMeta {
    /// The user called `name`.
    pub fn user(&self, name: &str) -> Result<&UserRecord> {
        self.users.iter().find(|u| u.name == name).ok_or_else(|| BrokerError::UserNotFound(name.into()))
    }

    fn user_mut(&mut self, name: &str) -> Result<&mut UserRecord> {
        self.users.iter_mut().find(|u| u.name == name).ok_or_else(|| BrokerError::UserNotFound(name.into()))
    }

    /// Adds a user whose password is already hashed.
    pub fn create_user(&mut self, name: &str, password_hash: String, grants: Grants, now_ms: i64) -> Result<UserInfo> {
        validate_user_name(name)?;
        if self.users.iter().any(|u| u.name == name) {
            return Err(BrokerError::UserExists(name.into()));
        }
        if self.users.len() >= MAX_USERS {
            return Err(BrokerError::LimitExceeded(format!("the broker holds {MAX_USERS} users, its maximum")));
        }
        let user = UserRecord { name: name.into(), password_hash, enabled: true, created_ms: now_ms, grants };
        let info = user.info();
        self.users.push(user);
        Ok(info)
    }

    /// Replaces a password hash and/or enables or disables a user.
    pub fn update_user(
        &mut self,
        name: &str,
        password_hash: Option<String>,
        enabled: Option<bool>,
    ) -> Result<UserInfo> {
        if enabled == Some(false) {
            self.keep_an_admin_without(name, |_| false)?;
        }
        let user = self.user_mut(name)?;
        if let Some(hash) = password_hash {
            user.password_hash = hash;
        }
        if let Some(enabled) = enabled {
            user.enabled = enabled;
        }
        Ok(user.info())
    }

    /// Removes a user and every token of theirs.
    pub fn delete_user(&mut self, name: &str) -> Result<()> {
        self.user(name)?;
        self.keep_an_admin_without(name, |_| false)?;
        self.users.retain(|u| u.name != name);
        self.tokens.retain(|t| t.user != name);
        Ok(())
    }

    /// Adds a grant (granting one held already changes nothing).
    pub fn grant(&mut self, name: &str, access: &Access) -> Result<UserInfo> {
        let user = self.user_mut(name)?;
        user.grants.grant(access);
        Ok(user.info())
    }

    /// Removes a grant (revoking one not held changes nothing).
    pub fn revoke(&mut self, name: &str, access: &Access) -> Result<UserInfo> {
        self.user(name)?;
        self.keep_an_admin_without(name, |user| {
            let mut grants = user.grants.clone();
            grants.revoke(access);
            user.enabled && grants.has(GlobalPermission::ManageUsers)
        })?;
        let user = self.user_mut(name)?;
        user.grants.revoke(access);
        Ok(user.info())
    }

    /// Adds a token whose secret is already hashed.
    pub fn create_token(&mut self, record: TokenRecord) -> Result<TokenInfo> {
        self.user(&record.user)?;
        if record.name.is_empty() || record.name.len() > MAX_USER_NAME || record.name.chars().any(char::is_control) {
            return Err(BrokerError::InvalidConfig("a token name is 1 to 64 printable bytes".into()));
        }
        let theirs = self.tokens.iter().filter(|t| t.user == record.user);
        if theirs.clone().any(|t| t.name == record.name) {
            return Err(BrokerError::InvalidConfig(format!(
                "user '{}' has a token named '{}' already",
                record.user, record.name
            )));
        }
        if theirs.count() >= MAX_TOKENS_PER_USER {
            return Err(BrokerError::LimitExceeded(format!("a user holds at most {MAX_TOKENS_PER_USER} tokens")));
        }
        let info = record.info();
        self.tokens.push(record);
        Ok(info)
    }

    /// Removes a token.
    pub fn revoke_token(&mut self, id: &str) -> Result<TokenInfo> {
        let at = self.tokens.iter().position(|t| t.id == id).ok_or_else(|| BrokerError::TokenNotFound(id.into()))?;
        Ok(self.tokens.remove(at).info())
    }

    /// Refuses a change to `name` that would leave no enabled user able to manage users (nobody could undo it):
    /// `after` tells whether `name` still would.
    fn keep_an_admin_without(&self, name: &str, after: impl Fn(&UserRecord) -> bool) -> Result<()> {
        let admin = |u: &UserRecord| u.enabled && u.grants.has(GlobalPermission::ManageUsers);
        if self.users.iter().any(|u| if u.name == name { after(u) } else { admin(u) }) {
            Ok(())
        } else {
            Err(BrokerError::InvalidConfig("at least one enabled user must keep manage_users".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_checked() {
        let mut meta = AuthMeta::default();
        meta.create_user("admin", "h".into(), Grants::admin(), 1).expect("admin");
        assert!(matches!(meta.create_user("admin", "h".into(), Grants::default(), 1), Err(BrokerError::UserExists(_))));
        assert!(meta.create_user("bad name", "h".into(), Grants::default(), 1).is_err());
        meta.create_user("alice", "h".into(), Grants::default(), 2).expect("alice");
        assert!(meta.update_user("admin", None, Some(false)).is_err(), "the last admin stays enabled");
        assert!(meta.revoke("admin", &Access::Global(GlobalPermission::ManageUsers)).is_err());
        assert!(meta.delete_user("admin").is_err());
        let token = TokenRecord {
            id: "1".into(),
            name: "ci".into(),
            user: "alice".into(),
            secret_sha256: "x".into(),
            created_ms: 3,
            expires_ms: None,
        };
        meta.create_token(token.clone()).expect("token");
        assert!(meta.create_token(token).is_err(), "names are unique per user");
        meta.delete_user("alice").expect("delete");
        assert!(meta.tokens.is_empty(), "a deleted user's tokens go with them");
        assert!(validate_password("short").is_err() && validate_password("long enough").is_ok());
    }
}
