//! Which credentials a client command logs in with, first match wins:
//!
//! 1. `--token` / `CALLBOARD_TOKEN`;
//! 2. `--user` with `--password` / `CALLBOARD_USER` with `CALLBOARD_PASSWORD` (the password is prompted on a terminal
//!    when only the user is given);
//! 3. the token `callboard login` stored for this server in `~/.config/callboard/credentials.toml`
//!    (`$XDG_CONFIG_HOME/callboard/` when set);
//! 4. for a server on this machine (a loopback address), the broker's own `DATA_DIR/admin-credentials` when this user
//!    can read it (`--data-dir`, default `./callboard-data`), as `rabbitmqctl` uses the local Erlang cookie.
//!
//! Without any, the command still connects and the broker answers `unauthenticated`; the error says how to log in.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use callboard_client::Credentials;
use serde::{Deserialize, Serialize};

/// The file `callboard login` keeps its tokens in, per server.
pub fn credentials_file() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").filter(|v| !v.is_empty()).context("HOME is not set")?;
            PathBuf::from(home).join(".config")
        }
    };
    Ok(base.join("callboard").join("credentials.toml"))
}

/// A token stored by `callboard login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredLogin {
    /// The user it acts as.
    pub user: String,
    /// The token (`cbt_…`).
    pub token: String,
    /// Its id (for `logout`).
    pub token_id: String,
    /// When it expires (ms since the epoch), if ever.
    #[serde(default)]
    pub expires_ms: Option<i64>,
}

/// `credentials.toml`: one [`StoredLogin`] per server address.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CredentialsFile {
    /// Keyed by the server as given to `--server` (or `quic://ADDR`).
    #[serde(default)]
    pub servers: BTreeMap<String, StoredLogin>,
}

impl CredentialsFile {
    /// Reads the file; a missing file is empty.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("{} is not valid", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the file readable by this user only (directory 0700, file 0600), replacing it atomically.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let dir = path.parent().context("credentials file has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        restrict(dir, 0o700)?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, toml::to_string(self)?).with_context(|| format!("writing {}", tmp.display()))?;
        restrict(&tmp, 0o600)?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("restricting {}", path.display()))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

/// The broker's first-start `admin-credentials` file (TOML `user`, `password`).
#[derive(Deserialize)]
struct AdminFile {
    user: String,
    password: String,
}

/// What the login options and environment say, before falling back to stored credentials.
pub struct Given<'a> {
    /// `--token`.
    pub token: Option<&'a str>,
    /// `--user`.
    pub user: Option<&'a str>,
    /// `--password`.
    pub password: Option<&'a str>,
    /// `--data-dir`.
    pub data_dir: &'a Path,
    /// The server key (`--server`, or `quic://ADDR`).
    pub server: String,
    /// The host the command connects to.
    pub host: &'a str,
}

/// Resolves the credentials a command logs in with (see the module header); `None` when there are none.
pub fn resolve(given: &Given<'_>) -> anyhow::Result<Option<Credentials>> {
    if let Some(token) = given.token {
        return Ok(Some(Credentials::Token(token.to_string())));
    }
    if let Some(user) = given.user {
        let password = match given.password {
            Some(p) => p.to_string(),
            None => prompt_password(&format!("password for {user}: "))?,
        };
        return Ok(Some(Credentials::Password { user: user.into(), password }));
    }
    anyhow::ensure!(given.password.is_none(), "--password (CALLBOARD_PASSWORD) needs --user (CALLBOARD_USER)");
    if let Some(stored) = CredentialsFile::load(&credentials_file()?)?.servers.remove(&given.server) {
        return Ok(Some(Credentials::Token(stored.token)));
    }
    if is_loopback(given.host) {
        let path = callboard::auth::admin_credentials_path(given.data_dir);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let admin: AdminFile = toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
            tracing::debug!(file = %path.display(), "logging in with the broker's admin credentials");
            return Ok(Some(Credentials::Password { user: admin.user, password: admin.password }));
        }
    }
    Ok(None)
}

/// Reads a password without echo from the terminal, or one line of standard input when it is not a terminal.
pub fn prompt_password(prompt: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).context("reading the password");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(!password.is_empty(), "no password given (use --password, or type it on standard input)");
    Ok(password)
}

/// `true` for `localhost` and loopback IP addresses.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host part of `host:port` (`[v6]:port` too).
pub fn host_of(addr: &str) -> &str {
    match addr.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for (addr, expected) in [
            ("127.0.0.1:7070", true),
            ("localhost:7070", true),
            ("[::1]:7070", true),
            ("10.0.0.1:7070", false),
            ("broker.example.com:7070", false),
        ] {
            assert_eq!(is_loopback(host_of(addr)), expected, "{addr}");
        }
    }

    #[test]
    fn credentials_file_round_trips_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("callboard/credentials.toml");
        let mut file = CredentialsFile::default();
        let login = StoredLogin { user: "u".into(), token: "cbt_x".into(), token_id: "x".into(), expires_ms: Some(1) };
        file.servers.insert("127.0.0.1:7070".into(), login);
        file.save(&path).unwrap();
        let back = CredentialsFile::load(&path).unwrap();
        assert_eq!(back.servers["127.0.0.1:7070"].token, "cbt_x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
