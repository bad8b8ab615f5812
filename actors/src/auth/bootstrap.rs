//! First-start bootstrap: a broker whose metadata holds no user (a new data directory, or one made before users
//! existed) creates `admin` with every global permission. Its password is `BrokerConfig::admin_password`
//! (`CALLBOARD_ADMIN_PASSWORD` for `callboard serve`) or a random one written to `DATA_DIR/admin-credentials`
//! (mode 0600, TOML `user = "admin"` / `password = "…"`) before the user is saved; only the file's path is logged.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use callboard_protocol::model::Grants;
use tracing::info;

use super::secret::{Secret, hash_password, random_password};
use super::store::{AuthMeta, validate_password};
use crate::error::{BrokerError, Result};

/// Name of the bootstrap user.
pub const ADMIN_USER: &str = "admin";
/// File the generated admin password is written to, inside the data directory.
pub const ADMIN_CREDENTIALS_FILE: &str = "admin-credentials";

/// The path of the admin credentials file of `data_dir`.
pub fn admin_credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ADMIN_CREDENTIALS_FILE)
}

/// Creates the admin when `auth` has no user; `true` when it did (the caller saves the metadata).
pub(crate) fn bootstrap(auth: &mut AuthMeta, data_dir: &Path, password: Option<&Secret>, now_ms: i64) -> Result<bool> {
    if !auth.users.is_empty() {
        return Ok(false);
    }
    let password = match password {
        Some(given) => {
            validate_password(given.expose())
                .map_err(|e| BrokerError::InvalidConfig(format!("the configured admin password: {e}")))?;
            info!(user = ADMIN_USER, "created the admin user with the configured password");
            given.clone()
        }
        None => {
            let generated = Secret::new(random_password());
            let path = admin_credentials_path(data_dir);
            write_credentials(&path, generated.expose())?;
            info!(user = ADMIN_USER, file = %path.display(), "created the admin user; its password is in this file");
            generated
        }
    };
    let hash = hash_password(password.expose())?;
    auth.create_user(ADMIN_USER, hash, Grants::admin(), now_ms)?;
    Ok(true)
}

/// Writes the credentials file with mode 0600 and syncs it.
fn write_credentials(path: &Path, password: &str) -> Result<()> {
    let io = |e| BrokerError::io(path, e);
    let mut file =
        std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(path).map_err(io)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    writeln!(file, "# Callboard's bootstrap admin (written on first start; changing the password does not update it)")
        .map_err(io)?;
    writeln!(file, "user = \"{ADMIN_USER}\"\npassword = \"{password}\"").map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_password_goes_to_a_private_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut auth = AuthMeta::default();
        assert!(bootstrap(&mut auth, dir.path(), None, 1).expect("bootstrap"));
        let path = admin_credentials_path(dir.path());
        let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).expect("read");
        let password = text.lines().find_map(|l| l.strip_prefix("password = \"")).expect("password line");
        let password = password.trim_end_matches('"');
        assert!(super::super::secret::verify_password(password, &auth.users[0].password_hash));
        assert!(!bootstrap(&mut auth, dir.path(), None, 2).expect("again"), "only once");
        let mut given = AuthMeta::default();
        assert!(bootstrap(&mut given, dir.path(), Some(&Secret::new("short")), 1).is_err());
    }
}
