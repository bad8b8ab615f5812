//! The `log-start-offset` checkpoint: the log start offset set by `delete_records_before`, written atomically
//! (temporary file, fsync, rename, fsync of the directory).

use std::path::Path;

use tracing::warn;

use crate::env::Env;
use crate::error::{Result, StorageError};

/// File name of the checkpoint.
pub(crate) const LOG_START_FILE: &str = "log-start-offset";
const TMP_SUFFIX: &str = ".tmp";

/// Reads the checkpoint; a missing file is `None`, an unreadable one is reported and ignored.
pub(crate) fn read(env: &dyn Env, dir: &Path) -> Option<u64> {
    let path = dir.join(LOG_START_FILE);
    let file = env.open_file(&path, false).ok()?;
    let mut buf = [0u8; 64];
    let n = file.read_at(&mut buf, 0).ok()?;
    let parsed = std::str::from_utf8(&buf[..n]).ok().and_then(parse);
    if parsed.is_none() {
        warn!(file = %path.display(), "log start checkpoint is unreadable; using the first segment's base offset");
    }
    parsed
}

fn parse(text: &str) -> Option<u64> {
    let mut parts = text.split_whitespace();
    let (version, offset, crc) = (parts.next()?, parts.next()?, parts.next()?);
    if version != "v1" || parts.next().is_some() {
        return None;
    }
    let crc: u32 = crc.parse().ok()?;
    (crc32c::crc32c(offset.as_bytes()) == crc).then(|| offset.parse().ok()).flatten()
}

/// Atomically replaces the checkpoint.
pub(crate) fn write(env: &dyn Env, dir: &Path, offset: u64) -> Result<()> {
    let path = dir.join(LOG_START_FILE);
    let text = offset.to_string();
    let body = format!("v1 {text} {}\n", crc32c::crc32c(text.as_bytes()));
    env.replace_file(&path, body.as_bytes(), false).map_err(|e| StorageError::io(&path, e))
}

/// Whether a directory entry is a leftover temporary checkpoint.
pub(crate) fn is_temporary(name: &str) -> bool {
    name == format!("{LOG_START_FILE}{TMP_SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimEnv;

    #[test]
    fn round_trip_and_damage() {
        let env = SimEnv::new();
        let dir = Path::new("/p");
        assert_eq!(read(&env, dir), None);
        write(&env, dir, 12345).expect("write");
        assert_eq!(read(&env, dir), Some(12345));
        env.crash();
        assert_eq!(read(&env, dir), Some(12345), "the checkpoint is durable once written");
        env.corrupt(&dir.join(LOG_START_FILE), 3, b"9");
        assert_eq!(read(&env, dir), None);
    }
}
