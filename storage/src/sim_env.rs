//! [`SimEnv`]: an in-memory file system for fault-injection tests.
//!
//! It keeps two views of every file and directory: what the running process sees, and what is durable. `sync_data`
//! makes a file's contents durable, `sync_dir` makes a directory's entries durable, and [`SimEnv::crash`] throws away
//! everything not yet synced, as a power loss would. It can also run out of space (ENOSPC) and fail syncs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::env::{DirLock, Env, LogFile};

const ENOSPC: i32 = 28;

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// Bytes `start..end` whose fsync failed. Linux marks such pages clean, so they stay readable in the page cache
    /// but no later fsync writes them: until they are truncated away they never become durable (what the disk
    /// holds there is modelled as zeros).
    lost: Option<(usize, usize)>,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    next_inode: u64,
    inodes: HashMap<u64, Inode>,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    locks: HashSet<PathBuf>,
    capacity: Option<u64>,
    fail_sync: bool,
    now_ms: i64,
}

impl State {
    fn used(&self) -> u64 {
        self.inodes.values().map(|i| i.data.len() as u64).sum()
    }
}

/// An in-memory, crashable file system. Clones share the same state.
#[derive(Debug, Clone)]
pub struct SimEnv {
    state: Arc<Mutex<State>>,
}

impl Default for SimEnv {
    fn default() -> Self {
        Self::new()
    }
}

/// How [`SimEnv::crash_with`] treats bytes appended to a file but not yet synced.
#[derive(Debug, Clone, Copy)]
pub enum CrashMode {
    /// Every unsynced write is lost.
    DropUnsynced,
    /// An appended-but-unsynced tail survives partly: `keep_per_mille`/1000 of it (a torn write).
    TornTail {
        /// Fraction of the unsynced tail kept, in thousandths.
        keep_per_mille: u32,
    },
}

impl SimEnv {
    /// An empty file system whose clock starts at 1 000 000 ms.
    pub fn new() -> Self {
        let state = State { now_ms: 1_000_000, ..State::default() };
        SimEnv { state: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Simulates a power loss: every write and directory change not yet synced is lost, locks are released and
    /// handles opened before the crash stop working.
    pub fn crash(&self) {
        self.crash_with(CrashMode::DropUnsynced);
    }

    /// Simulates a power loss with the given treatment of unsynced appends.
    pub fn crash_with(&self, mode: CrashMode) {
        let mut st = self.lock();
        st.generation += 1;
        st.locks.clear();
        st.names = st.durable_names.clone();
        let live: HashSet<u64> = st.names.values().copied().collect();
        st.inodes.retain(|id, _| live.contains(id));
        for inode in st.inodes.values_mut() {
            inode.lost = None;
            let keep = match mode {
                CrashMode::TornTail { keep_per_mille }
                    if inode.data.len() > inode.durable.len() && inode.data.starts_with(&inode.durable) =>
                {
                    let extra = inode.data.len() - inode.durable.len();
                    inode.durable.len() + extra * keep_per_mille.min(1000) as usize / 1000
                }
                _ => {
                    inode.data = inode.durable.clone();
                    continue;
                }
            };
            inode.data.truncate(keep);
            inode.durable = inode.data.clone();
        }
    }

    /// Limits the total bytes all files may hold; writes past it fail with ENOSPC. `None` removes the limit.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.lock().capacity = bytes;
    }

    /// Makes every `sync_data` and `sync_dir` fail with an I/O error while set.
    pub fn set_fail_sync(&self, fail: bool) {
        self.lock().fail_sync = fail;
    }

    /// Sets the clock.
    pub fn set_now_ms(&self, now_ms: i64) {
        self.lock().now_ms = now_ms;
    }

    /// Advances the clock.
    pub fn advance_ms(&self, ms: i64) {
        self.lock().now_ms += ms;
    }

    /// The current (volatile) contents of a file, if it exists.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.lock();
        st.names.get(path).and_then(|id| st.inodes.get(id)).map(|i| i.data.clone())
    }

    /// Overwrites bytes of a file in both views, as bit rot on the medium would.
    pub fn corrupt(&self, path: &Path, pos: usize, bytes: &[u8]) {
        let mut st = self.lock();
        let Some(id) = st.names.get(path).copied() else { return };
        if let Some(inode) = st.inodes.get_mut(&id) {
            for view in [&mut inode.data, &mut inode.durable] {
                let end = (pos + bytes.len()).min(view.len());
                if pos < end {
                    view[pos..end].copy_from_slice(&bytes[..end - pos]);
                }
            }
        }
    }

    /// Paths of all files, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        self.lock().names.keys().cloned().collect()
    }
}

#[derive(Debug)]
struct SimFile {
    env: SimEnv,
    inode: u64,
    generation: u64,
}

impl SimFile {
    fn with<R>(&self, f: impl FnOnce(&mut State, u64) -> io::Result<R>) -> io::Result<R> {
        let mut st = self.env.lock();
        if st.generation != self.generation || !st.inodes.contains_key(&self.inode) {
            return Err(io::Error::other("file handle from before a simulated crash"));
        }
        f(&mut st, self.inode)
    }
}

fn inode(st: &mut State, id: u64) -> &mut Inode {
    st.inodes.entry(id).or_default()
}

impl LogFile for SimFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.with(|st, id| {
            let data = &inode(st, id).data;
            let start = (pos as usize).min(data.len());
            let n = buf.len().min(data.len() - start);
            buf[..n].copy_from_slice(&data[start..start + n]);
            Ok(n)
        })
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.with(|st, id| {
            let pos = pos as usize;
            let current = inode(st, id).data.len();
            let growth = (pos + buf.len()).saturating_sub(current) as u64;
            let mut allowed = buf.len();
            if let Some(cap) = st.capacity {
                let free = cap.saturating_sub(st.used());
                if growth > free {
                    allowed = (current + free as usize).saturating_sub(pos).min(buf.len());
                }
            }
            let data = &mut inode(st, id).data;
            if data.len() < pos + allowed {
                data.resize(pos + allowed, 0);
            }
            data[pos..pos + allowed].copy_from_slice(&buf[..allowed]);
            if allowed < buf.len() {
                return Err(io::Error::from_raw_os_error(ENOSPC));
            }
            Ok(())
        })
    }

    fn len(&self) -> io::Result<u64> {
        self.with(|st, id| Ok(inode(st, id).data.len() as u64))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(|st, id| {
            let i = inode(st, id);
            i.data.resize(len as usize, 0);
            // Truncating drops the pages whose writeback failed; what is below the cut keeps its fate.
            i.lost = i.lost.and_then(|(s, e)| (s < len as usize).then_some((s, e.min(len as usize))));
            Ok(())
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.with(|st, id| {
            let fail = st.fail_sync;
            let i = inode(st, id);
            if fail {
                let (start, end) = (i.durable.len().min(i.data.len()), i.data.len());
                let (start, end) = i.lost.map_or((start, end), |(s, e)| (s.min(start), e.max(end)));
                i.lost = (start < end).then_some((start, end));
                return Err(io::Error::other("injected fsync failure"));
            }
            i.durable = i.data.clone();
            if let Some((start, end)) = i.lost {
                let end = end.min(i.durable.len());
                if start < end {
                    i.durable[start..end].fill(0);
                }
            }
            Ok(())
        })
    }
}

#[derive(Debug)]
struct SimLock {
    env: SimEnv,
    dir: PathBuf,
    generation: u64,
}

impl DirLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut st = self.env.lock();
        if st.generation == self.generation {
            st.locks.remove(&self.dir);
        }
    }
}

impl Env for SimEnv {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn open_file(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let mut st = self.lock();
        let id = match st.names.get(path) {
            Some(id) => *id,
            None if create => {
                st.next_inode += 1;
                let id = st.next_inode;
                st.inodes.insert(id, Inode::default());
                st.names.insert(path.to_path_buf(), id);
                id
            }
            None => return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display()))),
        };
        Ok(Arc::new(SimFile { env: self.clone(), inode: id, generation: st.generation }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        match st.names.remove(path) {
            Some(_) => Ok(()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display()))),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.lock();
        let id = st
            .names
            .remove(from)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{} not found", from.display())))?;
        st.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.lock();
        Ok(st
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .collect())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        if st.fail_sync {
            return Err(io::Error::other("injected fsync failure"));
        }
        st.durable_names.retain(|p, _| p.parent() != Some(dir));
        let entries: Vec<(PathBuf, u64)> =
            st.names.iter().filter(|(p, _)| p.parent() == Some(dir)).map(|(p, id)| (p.clone(), *id)).collect();
        st.durable_names.extend(entries);
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLock>> {
        let mut st = self.lock();
        if !st.locks.insert(dir.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "directory is locked by another owner"));
        }
        Ok(Box::new(SimLock { env: self.clone(), dir: dir.to_path_buf(), generation: st.generation }))
    }

    fn now_ms(&self) -> i64 {
        self.lock().now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_keeps_only_synced_state() {
        let env = SimEnv::new();
        let dir = Path::new("/d");
        let a = env.open_file(&dir.join("a"), true).expect("open");
        a.write_all_at(b"hello", 0).expect("write");
        a.sync_data().expect("sync");
        env.crash();
        assert!(env.read_file(&dir.join("a")).is_none(), "entry was never made durable");

        let a = env.open_file(&dir.join("a"), true).expect("open");
        a.write_all_at(b"hello", 0).expect("write");
        a.sync_data().expect("sync");
        env.sync_dir(dir).expect("sync dir");
        a.write_all_at(b" world", 5).expect("write");
        env.crash();
        assert_eq!(env.read_file(&dir.join("a")).as_deref(), Some(&b"hello"[..]));
        assert!(a.len().is_err(), "old handles die with the crash");
    }

    #[test]
    fn capacity_gives_enospc_after_a_partial_write() {
        let env = SimEnv::new();
        env.set_capacity(Some(4));
        let f = env.open_file(Path::new("/d/f"), true).expect("open");
        let err = f.write_all_at(b"abcdef", 0).expect_err("full");
        assert_eq!(err.raw_os_error(), Some(ENOSPC));
        assert_eq!(f.len().expect("len"), 4);
    }
}
