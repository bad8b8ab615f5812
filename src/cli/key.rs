//! `callboard key ...`: the master key of encryption at rest. `generate` writes a new random key file (mode 0600);
//! `rotate` re-wraps every encrypted topic's data key under a new master key in a stopped broker's data directory
//! (no data file is rewritten). The current key comes from `--master-key-file` or `CALLBOARD_MASTER_KEY`, as for
//! `callboard serve`; keys are never printed, only their fingerprints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use callboard::actors::encryption::{MasterKey, rotate_master_key};
use clap::Subcommand;

/// Environment variable holding the master key itself (hex or base64), when no key file is given.
pub const MASTER_KEY_ENV: &str = "CALLBOARD_MASTER_KEY";

/// `callboard key ...`
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Write a new random master key (64 hex digits) to a file created with mode 0600; prints its fingerprint.
    Generate {
        /// The key file to create (never overwritten).
        file: PathBuf,
    },
    /// Re-wrap the data keys of every encrypted topic under a new master key. The broker must be stopped; start it
    /// again with the new key. Data files are not rewritten.
    Rotate {
        /// Data directory of the (stopped) broker.
        #[arg(long, env = "CALLBOARD_DATA_DIR", default_value = "callboard-data")]
        data_dir: PathBuf,
        /// The current master key file (else CALLBOARD_MASTER_KEY).
        #[arg(long, env = "CALLBOARD_MASTER_KEY_FILE")]
        master_key_file: Option<PathBuf>,
        /// The new master key file.
        #[arg(long)]
        new_master_key_file: PathBuf,
    },
}

/// The master key from `file`, else from `CALLBOARD_MASTER_KEY`, else none.
pub fn master_key(file: Option<&Path>) -> anyhow::Result<Option<MasterKey>> {
    if let Some(path) = file {
        return Ok(Some(MasterKey::from_file(path)?));
    }
    match std::env::var(MASTER_KEY_ENV) {
        Ok(text) if !text.trim().is_empty() => {
            Ok(Some(MasterKey::parse(text.as_bytes()).with_context(|| format!("reading {MASTER_KEY_ENV}"))?))
        }
        _ => Ok(None),
    }
}

/// Runs a key command.
pub fn run(command: KeyCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeyCommand::Generate { file } => {
            let key = MasterKey::generate()?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut out = options.open(&file).with_context(|| format!("creating {}", file.display()))?;
            writeln!(out, "{}", key.to_hex()).and_then(|()| out.sync_all())?;
            println!("wrote a new master key to {} (fingerprint {})", file.display(), key.fingerprint());
        }
        KeyCommand::Rotate { data_dir, master_key_file, new_master_key_file } => {
            let old = master_key(master_key_file.as_deref())?.with_context(|| {
                format!("the current master key is needed: --master-key-file FILE or {MASTER_KEY_ENV}")
            })?;
            let new = MasterKey::from_file(&new_master_key_file)?;
            let rotation = rotate_master_key(&data_dir, &old, &new)
                .with_context(|| format!("rotating the master key of {}", data_dir.display()))?;
            for topic in &rotation.rewrapped {
                println!("re-wrapped the data key of {topic}");
            }
            for topic in &rotation.already_current {
                println!("{topic} is already under the new key");
            }
            println!(
                "{} data keys now under master key {} (was {}); start the broker with the new key",
                rotation.rewrapped.len() + rotation.already_current.len(),
                new.fingerprint(),
                old.fingerprint()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
