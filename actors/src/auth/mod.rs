//! Security: users with argon2id-hashed passwords, global and per-stream/per-topic grants, personal access tokens,
//! the first-start admin, failed-login rate limiting, and the [`Authenticator`] every gateway asks "who is this and
//! what may they do". Users and tokens are broker metadata (`metadata.json`), so the cluster can replicate them.

mod api;
pub(crate) mod audit;
mod authenticator;
pub(crate) mod bootstrap;
pub(crate) mod changes;
mod limiter;
mod secret;
pub(crate) mod store;

pub use api::MAX_TOKEN_LIFETIME;
pub use audit::{AUDIT_DROPPED, AUDIT_TOPIC, AuditEvent};
pub use authenticator::{Authenticator, Principal};
pub use bootstrap::{ADMIN_CREDENTIALS_FILE, ADMIN_USER, admin_credentials_path};
pub use limiter::{FREE_FAILURES, LOCKOUT, LOCKOUT_FAILURES};
pub use secret::{Secret, TOKEN_PREFIX};
pub use store::{AuthMeta, MIN_PASSWORD};
