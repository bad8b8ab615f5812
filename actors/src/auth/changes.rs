//! [`ChangeAuth`]: the metadata actor's handler for user, grant and token changes. Each change is applied to a copy
//! of the metadata, saved atomically, and only then published to the [`super::Authenticator`] (so a failed save
//! changes nothing and open connections re-check their principal on their next request).

use actix::{Context, Handler, Message};
use callboard_protocol::model::{Access, Grants, TokenInfo, UserInfo};

use super::store::TokenRecord;
use crate::broker::BrokerActor;
use crate::error::Result;

/// A change to users, grants or tokens (passwords already hashed).
#[derive(Debug)]
pub(crate) enum AuthChange {
    CreateUser { name: String, hash: String, grants: Grants },
    UpdateUser { name: String, hash: Option<String>, enabled: Option<bool> },
    DeleteUser { name: String },
    Grant { user: String, access: Access },
    Revoke { user: String, access: Access },
    CreateToken(TokenRecord),
    RevokeToken { id: String },
}

/// What a change produced.
#[derive(Debug)]
pub(crate) enum AuthOutcome {
    User(UserInfo),
    Token(TokenInfo),
    Done,
}

/// Applies an [`AuthChange`].
#[derive(Message)]
#[rtype(result = "Result<AuthOutcome>")]
pub(crate) struct ChangeAuth(pub(crate) AuthChange);

impl Handler<ChangeAuth> for BrokerActor {
    type Result = Result<AuthOutcome>;

    fn handle(&mut self, msg: ChangeAuth, _ctx: &mut Context<Self>) -> Result<AuthOutcome> {
        let now = self.config.env.now_ms();
        let outcome = self.update_metadata(|m| {
            let auth = &mut m.auth;
            Ok(match msg.0 {
                AuthChange::CreateUser { name, hash, grants } => {
                    AuthOutcome::User(auth.create_user(&name, hash, grants, now)?)
                }
                AuthChange::UpdateUser { name, hash, enabled } => {
                    AuthOutcome::User(auth.update_user(&name, hash, enabled)?)
                }
                AuthChange::DeleteUser { name } => {
                    auth.delete_user(&name)?;
                    AuthOutcome::Done
                }
                AuthChange::Grant { user, access } => AuthOutcome::User(auth.grant(&user, &access)?),
                AuthChange::Revoke { user, access } => AuthOutcome::User(auth.revoke(&user, &access)?),
                AuthChange::CreateToken(record) => AuthOutcome::Token(auth.create_token(record)?),
                AuthChange::RevokeToken { id } => AuthOutcome::Token(auth.revoke_token(&id)?),
            })
        })?;
        self.auth.publish(&self.metadata.auth);
        Ok(outcome)
    }
}
