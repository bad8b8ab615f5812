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
}
