//! A plain JSON-lines file read in blocks by the normalising threads themselves.
//!
//! [`ParallelReader::from_file`](super::ParallelReader::from_file) reads this way when
//! the file is not gzip, its first line settles the splitter in lines mode, and its
//! format normalises record by record (Okta, Duo). The first line (the *head*) is read
//! on the calling thread, as [`EventReader`](super::EventReader) would read it; the rest
//! of the file is cut into blocks ([`ReaderSettings::block_bytes`], by default
//! [`BLOCK_BYTES`]).
//!
//! - **A block owns the lines that start inside it.** Its worker skips the end of the
//!   line it starts in (unless that line starts exactly at the block), and reads on past
//!   the block's end to finish its last line. Every line is read by exactly one worker.
//! - **No thread copies records for another**: a worker reads its block with `pread`
//!   into its own buffer and normalises the lines where they lie, on the core that read
//!   them. With a splitting thread, every byte was copied once more and crossed cores.
//! - **Numbers and lines are counted from the block's start.** The calling thread takes
//!   blocks in order and adds what the blocks before held, so every item carries the
//!   number and line [`EventReader`](super::EventReader) gives it.
//! - **The calling thread helps.** When the block next in order is not ready and a
//!   buffer is free, it reads the next unclaimed block itself instead of sleeping: the
//!   two cores of a two-thread run stay busy.
//! - The file is read as long as it was when opened; lines appended later are not.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ReaderSettings;
use super::split::{Raw, SplitError, SplitProblem, Splitter};
use crate::source::Format;

/// Bytes of a file per block, by default.
pub const BLOCK_BYTES: u64 = 1 << 20;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Bytes read at a time past a block's end, looking for the end of its last line.
const TAIL_READ: usize = 4096;

/// A worker's read buffer.
const BUFFER: usize = 64 * 1024;

/// The bytes of a file from `pos` up to the end of the line holding byte `last` (its
/// newline included), or up to the end of the file.
struct Span<'f> {
    file: &'f File,
    pos: u64,
    last: u64,
    done: bool,
}

impl Read for Span<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        // Up to `last` in as few reads as the buffer allows; past it, in small steps
        // until the line ends, so a block reads little more than its own bytes.
        let want = match self.last.checked_sub(self.pos) {
            Some(ahead) => usize::try_from(ahead + 1).unwrap_or(usize::MAX),
            None => TAIL_READ,
        };
        let n = buf.len().min(want);
        let n = self.file.read_at(&mut buf[..n], self.pos)?;
        if n == 0 {
            self.done = true;
            return Ok(0);
        }
        let from = usize::try_from(self.last.saturating_sub(self.pos))
            .unwrap_or(usize::MAX)
            .min(n);
        let n = match memchr::memchr(b'\n', &buf[from..n]) {
            Some(k) => {
                self.done = true;
                from + k + 1
            }
            None => n,
        };
        self.pos += n as u64;
        Ok(n)
    }
}

/// The head of a file: everything up to the end of the line holding its first value.
pub(super) struct Head {
    pub bytes: Vec<u8>,
}

impl Head {
    /// Reads the head of `file` (from its start, whatever its cursor), or `None` when
    /// the file does not suit block reading: gzip, empty, or a first line longer than
    /// `max_record` (give or take a few bytes of white space).
    pub(super) fn read(file: &File, max_record: usize) -> io::Result<Option<Self>> {
        let cap = max_record.saturating_add(BUFFER);
        let mut bytes = Vec::new();
        let mut chunk = vec![0u8; BUFFER];
        let mut seen_value = false;
        loop {
            let n = file.read_at(&mut chunk, bytes.len() as u64)?;
            if n == 0 {
                // The whole file is one line: nothing to share out.
                return Ok(None);
            }
            let from = bytes.len();
            bytes.extend_from_slice(&chunk[..n]);
            if bytes.starts_with(&[0x1f, 0x8b]) {
                return Ok(None);
            }
            let mut at = from;
            if !seen_value {
                // A byte-order mark at the very start is not a value.
                let from = if from < BOM.len() && bytes.starts_with(&BOM) {
                    BOM.len()
                } else {
                    from
                };
                match bytes[from..].iter().position(|b| !b.is_ascii_whitespace()) {
                    Some(k) => {
                        seen_value = true;
                        at = from + k;
                    }
                    None => at = bytes.len(),
                }
            }
            if seen_value && let Some(k) = memchr::memchr(b'\n', &bytes[at..]) {
                bytes.truncate(at + k + 1);
                return Ok(Some(Self { bytes }));
            }
            if bytes.len() > cap {
                return Ok(None);
            }
        }
    }
}

/// The rest of a file after its head, shared out in blocks.
pub(super) struct Blocks {
    file: File,
    /// Where the first block starts: the end of the head.
    from: u64,
    /// The file's length when it was opened.
    len: u64,
    block: u64,
    next: AtomicU64,
    max_record: usize,
    pub format: Format,
}

impl Blocks {
    pub(super) fn new(
        file: File,
        head: &Head,
        format: Format,
        settings: &ReaderSettings,
    ) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self {
            file,
            from: head.bytes.len() as u64,
            len,
            block: settings.block_bytes.max(1),
            next: AtomicU64::new(0),
            max_record: settings.max_record_bytes,
            format,
        })
    }

    /// Where the chunk `seq` ends in the file (the head is chunk 0).
    pub(super) fn end_of(&self, seq: u64) -> u64 {
        seq.saturating_mul(self.block)
            .saturating_add(self.from)
            .min(self.len)
    }

    /// Claims the next block: its sequence number among the reader's chunks (the head
    /// is 0) and its byte range; `None` once the file is shared out.
    pub(super) fn claim(&self) -> Option<(u64, u64, u64)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let lo = self.from.checked_add(i.checked_mul(self.block)?)?;
        (lo < self.len).then(|| (i + 1, lo, lo.saturating_add(self.block).min(self.len)))
    }

    /// Hands `each` the records (or the reasons lines are not records) of the lines that
    /// start in `lo..hi`, numbered from the block's start, and stops after a read
    /// failure; returns how many records and whole lines the block held.
    pub(super) fn each_record(
        &self,
        lo: u64,
        hi: u64,
        mut each: impl FnMut(Result<Raw<'_>, SplitError>),
    ) -> io::Result<(u64, u64)> {
        let start = if lo == self.from {
            lo
        } else {
            // The line holding byte lo - 1 belongs to an earlier block.
            let mut rest = Span {
                file: &self.file,
                pos: lo - 1,
                last: lo - 1,
                done: false,
            };
            lo - 1 + io::copy(&mut rest, &mut io::sink())?
        };
        if start >= hi {
            return Ok((0, 0));
        }
        let span = Span {
            file: &self.file,
            pos: start,
            last: hi - 1,
            done: false,
        };
        let mut splitter = Splitter::lines(BufReader::with_capacity(BUFFER, span), self.max_record);
        while let Some(item) = splitter.next_record() {
            let failed = matches!(&item, Err(e) if matches!(e.problem, SplitProblem::Io(_)));
            each(item);
            if failed {
                break;
            }
        }
        Ok(splitter.counted())
    }
}
