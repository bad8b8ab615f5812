//! [`FaultEnv`]: a fault-injection hook for tests. It wraps the file-system layer partition logs use and, on
//! command, fails or panics inside writes and syncs, so supervision and recovery can be exercised end to end.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use callboard_storage::{DirLock, Env, LogFile, OsEnv};

#[derive(Debug, Default)]
struct Switches {
    fail_writes: AtomicBool,
    fail_syncs: AtomicBool,
    no_space: AtomicBool,
    panic_writes: AtomicU32,
    injected: AtomicU32,
    /// While set, syncs of files whose name starts with it wait (a stalled disk); `held` counts the waiting ones.
    hold: Mutex<Option<String>>,
    released: Condvar,
    held: AtomicU32,
}

/// A file-system layer that can be told to fail. Clones share the switches.
#[derive(Debug, Clone)]
pub struct FaultEnv {
    inner: Arc<dyn Env>,
    switches: Arc<Switches>,
}

impl Default for FaultEnv {
    fn default() -> Self {
        Self::new(Arc::new(OsEnv))
    }
}

impl FaultEnv {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Env>) -> Self {
        FaultEnv { inner, switches: Arc::default() }
    }

    /// Makes every write fail with an I/O error while set.
    pub fn fail_writes(&self, on: bool) {
        self.switches.fail_writes.store(on, Ordering::SeqCst);
    }

    /// Makes every write fail with ENOSPC (a full disk) while set.
    pub fn no_space(&self, on: bool) {
        self.switches.no_space.store(on, Ordering::SeqCst);
    }

    /// Makes every sync fail with an I/O error while set.
    pub fn fail_syncs(&self, on: bool) {
        self.switches.fail_syncs.store(on, Ordering::SeqCst);
    }

    /// While set (`Some(prefix)`), every sync of a file whose name starts with `prefix` blocks until it is
    /// cleared (`None`): a disk that stalls, to show what must not wait on a sync keeps going.
    pub fn hold_syncs(&self, prefix: Option<&str>) {
        *self.switches.hold.lock().unwrap_or_else(|p| p.into_inner()) = prefix.map(str::to_string);
        if prefix.is_none() {
            self.switches.released.notify_all();
        }
    }

    /// Syncs blocked by [`FaultEnv::hold_syncs`] right now.
    pub fn held_syncs(&self) -> u32 {
        self.switches.held.load(Ordering::SeqCst)
    }

    /// Makes the next `count` writes panic.
    pub fn panic_next_writes(&self, count: u32) {
        self.switches.panic_writes.store(count, Ordering::SeqCst);
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u32 {
        self.switches.injected.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct FaultFile {
    inner: Arc<dyn LogFile>,
    name: String,
    switches: Arc<Switches>,
}

impl FaultFile {
    fn before_write(&self) -> io::Result<()> {
        let s = &self.switches;
        if s.panic_writes.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            s.injected.fetch_add(1, Ordering::SeqCst);
            panic!("injected panic in a write");
        }
        if s.no_space.load(Ordering::SeqCst) {
            s.injected.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::from_raw_os_error(28));
        }
        if s.fail_writes.load(Ordering::SeqCst) {
            s.injected.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::other("injected write failure"));
        }
        Ok(())
    }
}

impl LogFile for FaultFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.inner.read_at(buf, pos)
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.before_write()?;
        self.inner.write_all_at(buf, pos)
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        let s = &self.switches;
        let held = |hold: &Option<String>| hold.as_deref().is_some_and(|p| self.name.starts_with(p));
        let mut hold = s.hold.lock().unwrap_or_else(|p| p.into_inner());
        if held(&hold) {
            s.held.fetch_add(1, Ordering::SeqCst);
            while held(&hold) {
                hold = s.released.wait(hold).unwrap_or_else(|p| p.into_inner());
            }
            s.held.fetch_sub(1, Ordering::SeqCst);
        }
        drop(hold);
        if self.switches.fail_syncs.load(Ordering::SeqCst) {
            self.switches.injected.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::other("injected sync failure"));
        }
        self.inner.sync_data()
    }

    fn read_vec_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        self.inner.read_vec_at(pos, len)
    }

    fn read_extend_at(&self, pos: u64, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        self.inner.read_extend_at(pos, len, buf)
    }
}

impl Env for FaultEnv {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn open_file(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let inner = self.inner.open_file(path, create)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Arc::new(FaultFile { inner, name, switches: Arc::clone(&self.switches) }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLock>> {
        self.inner.lock_dir(dir)
    }

    fn now_ms(&self) -> i64 {
        self.inner.now_ms()
    }
}
