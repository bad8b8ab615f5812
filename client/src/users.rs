//! Security calls: who the connection is, users, grants and personal access tokens.

use std::time::Duration;

use callboard_protocol::model::{Access, CreatedToken, Grants, TokenInfo, UserInfo};
use callboard_protocol::wire::{
    CreateToken, CreateUser, DeleteUser, Grant, ListTokens, ListUsers, Revoke, RevokeToken, UpdateUser, WhoAmI,
};

use crate::client::Client;
use crate::error::Result;

impl Client {
    /// The user this connection is logged in as, with their grants.
    pub async fn whoami(&self) -> Result<UserInfo> {
        self.call(&WhoAmI {}).await
    }

    /// Creates a user (needs `manage_users`); the password must have at least 8 characters.
    pub async fn create_user(&self, name: &str, password: &str, grants: Grants) -> Result<UserInfo> {
        self.call(&CreateUser { name: name.into(), password: password.into(), grants }).await
    }

    /// Lists users (needs `manage_users`).
    pub async fn users(&self) -> Result<Vec<UserInfo>> {
        self.call(&ListUsers {}).await
    }

    /// Changes a user's password (`manage_users`, or the user themselves).
    pub async fn set_password(&self, name: &str, password: &str) -> Result<UserInfo> {
        self.call(&UpdateUser { name: name.into(), password: Some(password.into()), enabled: None }).await
    }

    /// Enables or disables a user (needs `manage_users`); a disabled user's sessions are cut off.
    pub async fn set_user_enabled(&self, name: &str, enabled: bool) -> Result<UserInfo> {
        self.call(&UpdateUser { name: name.into(), password: None, enabled: Some(enabled) }).await
    }

    /// Deletes a user and their tokens (needs `manage_users`).
    pub async fn delete_user(&self, name: &str) -> Result<()> {
        self.call(&DeleteUser { name: name.into() }).await.map(|_| ())
    }

    /// Grants a user a permission (needs `manage_users`).
    pub async fn grant(&self, user: &str, access: Access) -> Result<UserInfo> {
        self.call(&Grant { user: user.into(), access }).await
    }

    /// Revokes a permission (needs `manage_users`).
    pub async fn revoke(&self, user: &str, access: Access) -> Result<UserInfo> {
        self.call(&Revoke { user: user.into(), access }).await
    }

    /// Creates a personal access token named `name` for the caller, or for `user` (needs `manage_users`), valid for
    /// `lifetime` (`None`: until revoked). The token's secret is in the answer only.
    pub async fn create_token(
        &self,
        name: &str,
        user: Option<&str>,
        lifetime: Option<Duration>,
    ) -> Result<CreatedToken> {
        let expires_in_ms = lifetime.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.call(&CreateToken { name: name.into(), user: user.map(Into::into), expires_in_ms }).await
    }

    /// The caller's tokens; with `manage_users`, everyone's (or `user`'s).
    pub async fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>> {
        self.call(&ListTokens { user: user.map(Into::into) }).await
    }

    /// Revokes a token by id (the caller's own, or anyone's with `manage_users`).
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        self.call(&RevokeToken { id: id.into() }).await.map(|_| ())
    }
}
