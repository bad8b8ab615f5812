//! The file-system seam: every byte the log reads or writes goes through [`Env`] and [`LogFile`].
//!
//! [`crate::OsEnv`] is the real file system; [`crate::SimEnv`] is an in-memory one that can lose unsynced writes
//! (power loss), run out of space and fail syncs, so crash behaviour can be tested deterministically.

use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// An open file used by the log. Positional I/O only, so one handle can be shared by readers and the writer.
#[allow(clippy::len_without_is_empty)]
pub trait LogFile: Send + Sync + Debug {
    /// Reads at `pos` into `buf`; returns the bytes read (fewer only at the end of the file).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `pos`. On error some prefix may have been written.
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Current file length.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes written data durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;

    /// Reads exactly `len` bytes at `pos` into a new buffer. Implementations may avoid zero-filling it first.
    fn read_vec_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(len);
        self.read_extend_at(pos, len, &mut buf)?;
        Ok(buf)
    }

    /// Appends exactly `len` bytes read at `pos` to `buf` (into its spare capacity when it has some, so a buffer
    /// reserved once can be filled in steps without copying). On error `buf` keeps its old length.
    fn read_extend_at(&self, pos: u64, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        let old = buf.len();
        buf.resize(old + len, 0);
        let read = self.read_exact_at(&mut buf[old..], pos);
        if read.is_err() {
            buf.truncate(old);
        }
        read
    }

    /// Reads exactly `buf.len()` bytes at `pos`, failing with `UnexpectedEof` if the file is shorter.
    fn read_exact_at(&self, buf: &mut [u8], mut pos: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.read_at(&mut buf[done..], pos) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than expected")),
                Ok(n) => {
                    done += n;
                    pos += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Held while a directory is locked; dropping it releases the lock.
pub trait DirLock: Send + Sync + Debug {}

/// File-system operations the log needs, plus the clock it uses for time-based roll and retention.
pub trait Env: Send + Sync + Debug + 'static {
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Opens a file for reading and writing, creating it (empty) when `create` is set and it does not exist.
    fn open_file(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Atomically renames a file within a directory.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Names of the entries of a directory.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Makes the directory's entries (creations, removals, renames) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on the directory (via a `.lock` file); fails with `WouldBlock` when held elsewhere.
    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLock>>;
    /// Wall-clock time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// Opens a new file for writing that only its owner may read (mode 0600 on Unix), truncating it if it exists.
    /// The default opens it like [`Env::open_file`].
    fn create_private_file(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        self.open_file(path, true)
    }

    /// Replaces `path` with `bytes` atomically and durably: write `<path>.tmp`, fsync it, rename it over `path`,
    /// fsync the directory. After a crash `path` holds either the old or the new bytes, whole. Every file the
    /// broker replaces (metadata, checkpoints, snapshots, AMQP definitions, certificates) goes through this one
    /// algorithm. `private` makes the file readable by its owner only (keys).
    fn replace_file(&self, path: &Path, bytes: &[u8], private: bool) -> io::Result<()> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let file = if private { self.create_private_file(&tmp)? } else { self.open_file(&tmp, true)? };
        file.set_len(0)?;
        file.write_all_at(bytes, 0)?;
        file.sync_data()?;
        drop(file);
        self.rename(&tmp, path)?;
        self.sync_dir(dir)
    }
}
