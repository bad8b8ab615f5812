//! A segment's log file opened on demand ([`SegmentFile`]), and the per-partition record of which sealed
//! segments have theirs open ([`ColdFiles`]). The active segment keeps its file open; a sealed one is opened when
//! it is read and closed again once [`MAX_COLD_FILES`] more recently read sealed segments are open, so a partition
//! holds a fixed number of descriptors however many segments it has.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::env::{Env, LogFile};

/// Sealed segments per partition whose log files stay open after a read (the most recently read ones).
pub const MAX_COLD_FILES: usize = 1;

/// A segment's log file: open, or closed and reopened by the next use.
pub(crate) struct SegmentFile {
    env: Arc<dyn Env>,
    path: PathBuf,
    open: Mutex<Option<Arc<dyn LogFile>>>,
}

impl std::fmt::Debug for SegmentFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentFile").field("path", &self.path).field("open", &self.is_open()).finish()
    }
}

impl SegmentFile {
    /// Wraps a file already open at `path`.
    pub(crate) fn new(env: Arc<dyn Env>, path: PathBuf, file: Arc<dyn LogFile>) -> Self {
        SegmentFile { env, path, open: Mutex::new(Some(file)) }
    }

    /// The file, reopened (never created) if it was closed.
    pub(crate) fn get(&self) -> io::Result<Arc<dyn LogFile>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = open.as_ref() {
            return Ok(Arc::clone(file));
        }
        let file = self.env.open_file(&self.path, false)?;
        *open = Some(Arc::clone(&file));
        Ok(file)
    }

    /// Closes the file (a reader holding it keeps it until it is done).
    pub(crate) fn close(&self) {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Whether the file is open now.
    pub(crate) fn is_open(&self) -> bool {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }
}

/// The sealed segments of one partition whose files are open, least recently read first.
#[derive(Debug, Default)]
pub(crate) struct ColdFiles {
    order: Mutex<VecDeque<u64>>,
}

impl ColdFiles {
    /// Records a read of the sealed segment at `base`; answers the bases whose files should now be closed.
    pub(crate) fn touch(&self, base: u64) -> Vec<u64> {
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        order.retain(|&b| b != base);
        order.push_back(base);
        let excess = order.len().saturating_sub(MAX_COLD_FILES);
        order.drain(..excess).collect()
    }

    /// Forgets a segment (deleted, or active again after a truncation).
    pub(crate) fn forget(&self, base: u64) {
        self.order.lock().unwrap_or_else(|p| p.into_inner()).retain(|&b| b != base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_most_recently_read_stay_open() {
        let cold = ColdFiles::default();
        assert!(cold.touch(0).is_empty());
        assert_eq!(cold.touch(10), vec![0]);
        assert!(cold.touch(10).is_empty());
        assert_eq!(cold.touch(0), vec![10]);
        cold.forget(0);
        assert!(cold.touch(20).is_empty());
    }

    #[test]
    fn a_closed_file_reopens_on_use() {
        let env: Arc<dyn Env> = Arc::new(crate::SimEnv::new());
        let path = PathBuf::from("/d/0.log");
        env.create_dir_all(std::path::Path::new("/d")).expect("dir");
        let file = env.open_file(&path, true).expect("create");
        file.write_all_at(b"abc", 0).expect("write");
        let seg = SegmentFile::new(Arc::clone(&env), path, file);
        seg.close();
        assert!(!seg.is_open());
        let again = seg.get().expect("reopen");
        assert!(seg.is_open());
        let mut buf = [0u8; 3];
        assert_eq!(again.read_at(&mut buf, 0).expect("read"), 3);
        assert_eq!(&buf, b"abc");
    }
}
