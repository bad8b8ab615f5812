//! [`Walker`]: steps batch by batch through a segment file through a read-ahead window, bounding every length by
//! the file size before reading it.

use std::io;

use callboard_protocol::batch::{BatchHeader, HEADER_LEN};

use crate::env::LogFile;

/// What lies at the walker's position.
#[derive(Debug)]
pub(crate) enum Step {
    /// The end of the range was reached exactly.
    End,
    /// A batch header that parses and whose batch fits in the range.
    Batch(BatchHeader),
    /// Something that is not a whole batch: a torn tail or a corrupt header.
    Bad(String),
}

/// Reads batches of one segment file sequentially.
pub(crate) struct Walker<'a> {
    file: &'a dyn LogFile,
    pub(crate) pos: u64,
    end: u64,
    window: Vec<u8>,
    window_start: u64,
    window_cap: usize,
}

impl<'a> Walker<'a> {
    /// A walker over `[start, end)` that reads at least `window_cap` bytes at a time.
    pub(crate) fn new(file: &'a dyn LogFile, start: u64, end: u64, window_cap: usize) -> Self {
        Walker { file, pos: start, end, window: Vec::new(), window_start: 0, window_cap }
    }

    fn fill(&mut self, pos: u64, len: usize) -> io::Result<&[u8]> {
        let window_end = self.window_start + self.window.len() as u64;
        if pos < self.window_start || pos + len as u64 > window_end {
            let n = (len.max(self.window_cap) as u64).min(self.end - pos) as usize;
            self.window.resize(n, 0);
            self.file.read_exact_at(&mut self.window, pos)?;
            self.window_start = pos;
        }
        let at = (pos - self.window_start) as usize;
        Ok(&self.window[at..at + len])
    }

    /// Reads and checks the header at the current position.
    pub(crate) fn header(&mut self) -> io::Result<Step> {
        if self.pos >= self.end {
            return Ok(Step::End);
        }
        let left = self.end - self.pos;
        if left < HEADER_LEN as u64 {
            return Ok(Step::Bad(format!("{left} trailing bytes, less than a batch header")));
        }
        let pos = self.pos;
        let header = match BatchHeader::parse(self.fill(pos, HEADER_LEN)?) {
            Ok(h) => h,
            Err(e) => return Ok(Step::Bad(e.to_string())),
        };
        if header.total_len() as u64 > left {
            return Ok(Step::Bad(format!(
                "batch of {} bytes runs past the end ({left} bytes left)",
                header.total_len()
            )));
        }
        Ok(Step::Batch(header))
    }

    /// The whole batch at the current position (`len` from its header).
    pub(crate) fn body(&mut self, len: usize) -> io::Result<&[u8]> {
        let pos = self.pos;
        self.fill(pos, len)
    }

    /// Moves past a batch of `len` bytes.
    pub(crate) fn advance(&mut self, len: usize) {
        self.pos += len as u64;
    }
}
