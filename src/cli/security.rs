//! Security commands: `user create|list|show|passwd|enable|disable|grant|revoke|delete`, `token create|list|revoke`,
//! `login`, `logout`, `whoami`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use callboard::protocol::model::{Access, GlobalPermission, Grants, Permission, TokenInfo, UserInfo};
use callboard_client::Credentials;
use clap::{Args, Subcommand};
use serde_json::json;

use super::connect::ClientArgs;
use super::credentials::{CredentialsFile, StoredLogin, credentials_file, prompt_password};
use super::output::{done, print, table, time};

/// `callboard user ...`
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user (needs manage_users).
    Create {
        /// User name.
        name: String,
        /// The new user's password (at least 8 characters; prompted when omitted). `--password` is the login's.
        #[arg(long, env = "CALLBOARD_NEW_PASSWORD", hide_env_values = true)]
        new_password: Option<String>,
    },
    /// List users.
    List,
    /// Show a user and their grants.
    Show {
        /// User name.
        name: String,
    },
    /// Change a user's password (yours, or anyone's with manage_users).
    Passwd {
        /// User name.
        name: String,
        /// The new password (prompted when omitted).
        #[arg(long, env = "CALLBOARD_NEW_PASSWORD", hide_env_values = true)]
        new_password: Option<String>,
    },
    /// Enable a disabled user.
    Enable {
        /// User name.
        name: String,
    },
    /// Disable a user: their sessions are closed and they cannot log in.
    Disable {
        /// User name.
        name: String,
    },
    /// Grant a permission: on a topic (--stream and --topic), a stream (--stream), or broker-wide (neither).
    Grant(GrantArgs),
    /// Revoke a permission (the same flags as grant).
    Revoke(GrantArgs),
    /// Delete a user and their tokens.
    Delete {
        /// User name.
        name: String,
    },
}

/// What `user grant` / `user revoke` name: a broker-wide permission (manage_users, manage_streams, read_all,
/// write_all, read_metrics), or read, write or manage on the stream given by the common `--stream` option (default
/// `default`) or on one of its topics (`--topic`).
#[derive(Args, Debug)]
pub struct GrantArgs {
    /// User name.
    name: String,
    /// A topic of --stream (a topic grant wins over the stream's for that topic).
    #[arg(long)]
    topic: Option<String>,
    /// read, write or manage (on --stream or --topic); or broker-wide: manage_users, manage_streams, read_all,
    /// write_all, read_metrics.
    #[arg(long)]
    permission: String,
}

impl GrantArgs {
    fn access(&self, stream: &str) -> anyhow::Result<Access> {
        if let Some(global) = GlobalPermission::parse(&self.permission) {
            anyhow::ensure!(self.topic.is_none(), "{} is broker-wide: drop --topic", self.permission);
            return Ok(Access::Global(global));
        }
        let permission = Permission::parse(&self.permission).with_context(|| {
            format!(
                "unknown permission {:?}: read, write, manage (on --stream/--topic) or manage_users, \
                 manage_streams, read_all, write_all, read_metrics",
                self.permission
            )
        })?;
        Ok(match &self.topic {
            None => Access::Stream { stream: stream.into(), permission },
            Some(topic) => Access::Topic { stream: stream.into(), topic: topic.clone(), permission },
        })
    }
}

/// `callboard token ...`
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a personal access token; it is printed once.
    Create {
        /// A name for it (unique per user).
        name: String,
        /// Lifetime (e.g. 30d, 12h); without it the token lasts until revoked.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
        /// Create it for this user (needs manage_users).
        #[arg(long = "for-user")]
        for_user: Option<String>,
    },
    /// List your tokens (with manage_users: everyone's, or --for-user's).
    List {
        /// Only this user's.
        #[arg(long = "for-user")]
        for_user: Option<String>,
    },
    /// Revoke a token by id.
    Revoke {
        /// Token id (the 16 hex digits after `cbt_`).
        id: String,
    },
}

/// `callboard login` options.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// How long the stored token lasts.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30d")]
    expires_in: Duration,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs `user ...`.
pub async fn user(command: UserCommand, args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let client = args.connect("callboard-cli").await?;
    let out = args.output;
    match command {
        UserCommand::Create { name, new_password } => {
            let password = new_password_or_prompt(new_password, &name)?;
            let user = client.create_user(&name, &password, Grants::default()).await?;
            done(out, &user, &format!("created user {name} (no permissions yet: see `callboard user grant`)"))?;
        }
        UserCommand::List => print(out, &client.users().await?, |users| {
            let mut t = table(&["user", "enabled", "created", "grants"]);
            for u in users {
                t.add_row(vec![u.name.clone(), u.enabled.to_string(), time(u.created_ms), grants_text(&u.grants)]);
            }
            t
        })?,
        UserCommand::Show { name } => {
            let user = client.users().await?.into_iter().find(|u| u.name == name);
            let user = user.with_context(|| format!("no user {name:?}"))?;
            print(out, &user, user_table)?;
        }
        UserCommand::Passwd { name, new_password } => {
            let password = new_password_or_prompt(new_password, &name)?;
            let user = client.set_password(&name, &password).await?;
            done(out, &user, &format!("changed the password of {name}"))?;
        }
        UserCommand::Enable { name } => {
            let user = client.set_user_enabled(&name, true).await?;
            done(out, &user, &format!("enabled {name}"))?;
        }
        UserCommand::Disable { name } => {
            let user = client.set_user_enabled(&name, false).await?;
            done(out, &user, &format!("disabled {name}"))?;
        }
        UserCommand::Grant(grant) => {
            let user = client.grant(&grant.name, grant.access(&args.stream)?).await?;
            print(out, &user, user_table)?;
        }
        UserCommand::Revoke(grant) => {
            let user = client.revoke(&grant.name, grant.access(&args.stream)?).await?;
            print(out, &user, user_table)?;
        }
        UserCommand::Delete { name } => {
            client.delete_user(&name).await?;
            done(out, &json!({"ok": true, "deleted": name}), &format!("deleted user {name}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `token ...`.
pub async fn token(command: TokenCommand, args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let client = args.connect("callboard-cli").await?;
    let out = args.output;
    match command {
        TokenCommand::Create { name, expires_in, for_user } => {
            let created = client.create_token(&name, for_user.as_deref(), expires_in).await?;
            let expiry = created.info.expires_ms.map_or_else(|| "never".to_string(), time);
            let text = format!(
                "{}\n(token {} of {}, expires {expiry}; it is shown only now)",
                created.token, created.info.id, created.info.user
            );
            done(out, &created, &text)?;
        }
        TokenCommand::List { for_user } => {
            print(out, &client.tokens(for_user.as_deref()).await?, |tokens| tokens_table(tokens))?
        }
        TokenCommand::Revoke { id } => {
            client.revoke_token(&id).await?;
            done(out, &json!({"ok": true, "revoked": id}), &format!("revoked token {id}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `login`: logs in with a password, creates a token and stores it for this server.
pub async fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let client_args = &args.client;
    let user = match &client_args.user {
        Some(user) => user.clone(),
        None => prompt_line("user: ")?,
    };
    let password = match &client_args.password {
        Some(p) => p.clone(),
        None => prompt_password(&format!("password for {user}: "))?,
    };
    let mut config = client_args.anonymous_config("callboard-cli")?;
    config.credentials = Some(Credentials::Password { user: user.clone(), password });
    let client = client_args.connect_with(config).await?;
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "cli".into());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let created = client.create_token(&format!("login-{host}-{now}"), None, Some(args.expires_in)).await?;
    let path = credentials_file()?;
    let mut file = CredentialsFile::load(&path)?;
    let server = client_args.server_key();
    let stored = StoredLogin {
        user: user.clone(),
        token: created.token.clone(),
        token_id: created.info.id.clone(),
        expires_ms: created.info.expires_ms,
    };
    if let Some(old) = file.servers.insert(server.clone(), stored) {
        // The token this login replaces is of no more use; a failure to revoke it (expired, deleted) is harmless.
        let _ = client.revoke_token(&old.token_id).await;
    }
    file.save(&path)?;
    let expiry = created.info.expires_ms.map_or_else(|| "never".to_string(), time);
    let text =
        format!("logged in to {server} as {user} (token {}, expires {expiry}, in {})", created.info.id, path.display());
    done(client_args.output, &json!({"ok": true, "user": user, "token_id": created.info.id}), &text)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `logout`: revokes the token stored for this server and forgets it.
pub async fn logout(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let path = credentials_file()?;
    let mut file = CredentialsFile::load(&path)?;
    let server = args.server_key();
    let Some(stored) = file.servers.remove(&server) else {
        anyhow::bail!("not logged in to {server} (nothing in {})", path.display());
    };
    let mut config = args.anonymous_config("callboard-cli")?;
    config.credentials = Some(Credentials::Token(stored.token.clone()));
    match callboard_client::Client::connect(config).await {
        Ok(client) => client.revoke_token(&stored.token_id).await.context("revoking the token")?,
        // An expired or already revoked token cannot log in: it is forgotten all the same.
        Err(e) if e.code() == Some(callboard_client::ErrorCode::Unauthenticated) => {}
        Err(e) => return Err(e).context(format!("could not connect to {server} to revoke the token")),
    }
    file.save(&path)?;
    done(args.output, &json!({"ok": true}), &format!("logged out of {server} (token {} revoked)", stored.token_id))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `whoami`.
pub async fn whoami(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let client = args.connect("callboard-cli").await?;
    print(args.output, &client.whoami().await?, user_table)?;
    Ok(ExitCode::SUCCESS)
}

fn new_password_or_prompt(given: Option<String>, user: &str) -> anyhow::Result<String> {
    match given {
        Some(p) => Ok(p),
        None => prompt_password(&format!("new password for {user}: ")),
    }
}

fn prompt_line(prompt: &str) -> anyhow::Result<String> {
    use std::io::Write;
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let line = line.trim().to_string();
    anyhow::ensure!(!line.is_empty(), "no user given (use --user)");
    Ok(line)
}

fn user_table(u: &UserInfo) -> comfy_table::Table {
    let mut t = table(&["user", "enabled", "created", "grants"]);
    t.add_row(vec![u.name.clone(), u.enabled.to_string(), time(u.created_ms), grants_text(&u.grants)]);
    t
}

fn tokens_table(tokens: &[TokenInfo]) -> comfy_table::Table {
    let mut t = table(&["id", "name", "user", "created", "expires"]);
    for k in tokens {
        let expires = k.expires_ms.map_or_else(|| "never".to_string(), time);
        t.add_row(vec![k.id.clone(), k.name.clone(), k.user.clone(), time(k.created_ms), expires]);
    }
    t
}

/// `manage_users, orders: read+write, orders/payments: read`.
fn grants_text(g: &Grants) -> String {
    let perms =
        |set: &std::collections::BTreeSet<Permission>| set.iter().map(|p| p.as_str()).collect::<Vec<_>>().join("+");
    let mut parts: Vec<String> = g.global.iter().map(|p| p.as_str().to_string()).collect();
    parts.extend(g.streams.iter().map(|(s, set)| format!("{s}: {}", perms(set))));
    for (stream, topics) in &g.topics {
        parts.extend(topics.iter().map(|(t, set)| format!("{stream}/{t}: {}", perms(set))));
    }
    if parts.is_empty() { "-".into() } else { parts.join(", ") }
}
