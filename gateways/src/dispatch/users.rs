//! The security APIs over TCP/QUIC: who am I, users, grants and personal access tokens. `Login` and
//! `LoginWithToken` are the session's own (they change the connection's principal).

use std::time::Duration;

use callboard_actors::auth::Principal;
use callboard_actors::{Broker, BrokerError};
use callboard_protocol::model::GlobalPermission;
use callboard_protocol::wire::{
    ApiKey, CreateToken, CreateUser, DeleteUser, Empty, Grant, ListTokens, ListUsers, Revoke, RevokeToken, UpdateUser,
    WhoAmI,
};

use super::{Dispatched, control};

/// Dispatches a security API; `None` when `api` is not one.
pub(super) fn dispatch(broker: &Broker, p: &Principal, api: ApiKey, c: u64, body: &[u8]) -> Option<Dispatched> {
    Some(match api {
        ApiKey::WhoAmI => control(broker, p, c, body, |b, p, _: WhoAmI| async move { b.user(p.user()) }),
        ApiKey::CreateUser => control(broker, p, c, body, |b, _, r: CreateUser| async move {
            b.create_user(&r.name, &r.password, r.grants).await
        }),
        ApiKey::ListUsers => control(broker, p, c, body, |b, _, _: ListUsers| async move { Ok(b.users()) }),
        ApiKey::UpdateUser => control(broker, p, c, body, |b, _, r: UpdateUser| async move {
            b.update_user(&r.name, r.password.as_deref(), r.enabled).await
        }),
        ApiKey::DeleteUser => {
            control(
                broker,
                p,
                c,
                body,
                |b, _, r: DeleteUser| async move { b.delete_user(&r.name).await.map(|()| Empty {}) },
            )
        }
        ApiKey::Grant => control(broker, p, c, body, |b, _, r: Grant| async move { b.grant(&r.user, r.access).await }),
        ApiKey::Revoke => {
            control(broker, p, c, body, |b, _, r: Revoke| async move { b.revoke(&r.user, r.access).await })
        }
        ApiKey::CreateToken => control(broker, p, c, body, |b, p, r: CreateToken| async move {
            let user = r.user.unwrap_or_else(|| p.user().to_string());
            p.require_self_or_admin(&user)?;
            b.create_token(&user, &r.name, r.expires_in_ms.map(Duration::from_millis)).await
        }),
        ApiKey::ListTokens => control(broker, p, c, body, |b, p, r: ListTokens| async move {
            match r.user {
                Some(user) => {
                    p.require_self_or_admin(&user)?;
                    Ok(b.tokens(Some(&user)))
                }
                None if p.has(GlobalPermission::ManageUsers) => Ok(b.tokens(None)),
                None => Ok(b.tokens(Some(p.user()))),
            }
        }),
        ApiKey::RevokeToken => control(broker, p, c, body, |b, p, r: RevokeToken| async move {
            let owner = b.tokens(None).into_iter().find(|t| t.id == r.id).map(|t| t.user);
            match owner {
                Some(owner) => p.require_self_or_admin(&owner)?,
                None => return Err(BrokerError::TokenNotFound(r.id)),
            }
            b.revoke_token(&r.id).await.map(|_| Empty {})
        }),
        _ => return None,
    })
}
