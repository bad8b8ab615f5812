//! [`OsEnv`]: the real file system, through `pread`/`pwrite`, `fdatasync` and `flock`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::env::{DirLock, Env, LogFile};

/// Name of the lock file inside a locked directory.
pub const LOCK_FILE: &str = ".lock";

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEnv;

/// A file for positional I/O. Reads into fresh buffers go through the file's cursor (`seek` + `read_to_end`,
/// which fills uninitialised capacity, saving the zero-fill a positional read needs), serialized by `cursor`;
/// positional writes never move it. One descriptor per open file.
#[derive(Debug)]
struct OsFile {
    file: File,
    cursor: Mutex<()>,
}

impl LogFile for OsFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        FileExt::read_at(&self.file, buf, pos)
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.file, buf, pos)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn read_extend_at(&self, pos: u64, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        let old = buf.len();
        buf.reserve(len);
        let _cursor = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
        let mut reader = &self.file;
        let read = reader.seek(SeekFrom::Start(pos)).and_then(|_| reader.take(len as u64).read_to_end(buf));
        match read {
            Ok(n) if n == len => Ok(()),
            Ok(_) => {
                buf.truncate(old);
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than expected"))
            }
            Err(e) => {
                buf.truncate(old);
                Err(e)
            }
        }
    }
}

#[derive(Debug)]
struct OsLock {
    _file: File,
}

impl DirLock for OsLock {}

impl Env for OsEnv {
    /// Creates the missing directories and fsyncs the parent of each one created, so a crash cannot forget a
    /// partition or stream directory whose files were already synced.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        create_dir_all_synced(dir)
    }

    fn create_private_file(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path)?;
        Ok(Arc::new(OsFile { file, cursor: Mutex::new(()) }))
    }

    fn open_file(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new().read(true).write(true).create(create).truncate(false).open(path)?;
        Ok(Arc::new(OsFile { file, cursor: Mutex::new(()) }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLock>> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(dir.join(LOCK_FILE))?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(OsLock { _file: file })),
            Err(TryLockError::WouldBlock) => {
                Err(io::Error::new(io::ErrorKind::WouldBlock, "directory is locked by another owner"))
            }
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// Creates `dir` and its missing parents on the real file system, fsyncing the parent of every directory it
/// creates (a new directory entry is durable only once its parent is synced).
pub fn create_dir_all_synced(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all_synced(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(parent)?.sync_all()
}

/// [`Env::replace_file`] on the real file system: atomic, durable replacement of a whole file.
pub fn replace_file(path: &Path, bytes: &[u8], private: bool) -> io::Result<()> {
    OsEnv.replace_file(path, bytes, private)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_file_is_whole_and_private_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nested = dir.path().join("a").join("b");
        create_dir_all_synced(&nested).expect("create");
        assert!(nested.is_dir());
        let path = nested.join("key.pem");
        replace_file(&path, b"first", true).expect("write");
        replace_file(&path, b"second", true).expect("replace");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        assert!(!nested.join("key.pem.tmp").exists(), "no temporary file is left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
