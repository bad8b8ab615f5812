//! Bodies of the security APIs: logging in, users, grants and personal access tokens.

use serde::{Deserialize, Serialize};

use crate::model::{Access, Grants};

/// Logs the connection in with a password ([`super::super::ApiKey::Login`]); answered with the user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("user", &self.user).finish_non_exhaustive()
    }
}

/// Logs the connection in with a personal access token; answered with the user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginWithToken {
    /// The token (`cbt_<id>_<secret>`).
    pub token: String,
}

impl std::fmt::Debug for LoginWithToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginWithToken").finish_non_exhaustive()
    }
}

/// Asks who the connection is logged in as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {}

/// Creates a user (needs `manage_users`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUser {
    /// Name.
    pub name: String,
    /// Password (at least 8 characters).
    pub password: String,
    /// Initial grants.
    #[serde(default)]
    pub grants: Grants,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser").field("name", &self.name).field("grants", &self.grants).finish_non_exhaustive()
    }
}

/// Lists users (needs `manage_users`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListUsers {}

/// Changes a user's password and/or enables or disables them (`manage_users`, or the user themselves for the
/// password).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateUser {
    /// Name.
    pub name: String,
    /// New password.
    #[serde(default)]
    pub password: Option<String>,
    /// Enable or disable.
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for UpdateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateUser").field("name", &self.name).field("enabled", &self.enabled).finish_non_exhaustive()
    }
}

/// Deletes a user and their tokens (needs `manage_users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteUser {
    /// Name.
    pub name: String,
}

/// Grants a user a permission (needs `manage_users`); answered with the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// User name.
    pub user: String,
    /// What is granted.
    pub access: Access,
}

/// Revokes a permission (needs `manage_users`); answered with the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoke {
    /// User name.
    pub user: String,
    /// What is revoked.
    pub access: Access,
}

/// Creates a personal access token for the caller (or, with `manage_users`, for `user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateToken {
    /// A name for it (unique per user).
    pub name: String,
    /// The user it acts as (default: the caller).
    #[serde(default)]
    pub user: Option<String>,
    /// Lifetime in milliseconds (`None`: no expiry).
    #[serde(default)]
    pub expires_in_ms: Option<u64>,
}

/// Lists the caller's tokens (with `manage_users`: everyone's, or `user`'s).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListTokens {
    /// Only this user's.
    #[serde(default)]
    pub user: Option<String>,
}

/// Revokes a token by id (the caller's own, or anyone's with `manage_users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeToken {
    /// Token id.
    pub id: String,
}
