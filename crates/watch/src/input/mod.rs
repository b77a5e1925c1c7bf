//! Reading exported or streamed logs: any [`Read`] in, one [`Record`] (or
//! [`RecordError`]) out per record, in constant memory.
//!
//! [`EventReader`] unwraps gzip when the input starts with gzip's magic bytes, splits the
//! stream into records (see [`split`] for the shapes it understands and how it recovers),
//! guesses the format from the first record it recognises unless
//! [`ReaderSettings::format`] says which, and normalises each record. Reading standard
//! input for `-` is the caller's business: any `Read` will do.
//!
//! A bad record is one `Err` item with its number, the line it started on and the
//! reason; the next item carries on after it. Only a failure to read the input itself
//! ([`SplitProblem::Io`], e.g. a corrupt gzip stream) ends the iteration.

mod blocks;
mod parallel;
mod split;

use std::io::{self, BufRead, BufReader, Chain, Cursor, Read};

use flate2::read::MultiGzDecoder;

pub use blocks::BLOCK_BYTES;
pub use parallel::{CHUNK_BYTES, CHUNK_RECORDS, ParallelReader};
pub use split::{MAX_NESTING, SplitProblem};

use crate::source::{self, Format, NormaliseError, NormaliseSettings, Normalised, Normaliser};
use split::Splitter;

/// How to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderSettings {
    /// The log format, or `None` to guess it from the first recognisable record.
    pub format: Option<Format>,
    /// Longest record accepted, in bytes; longer ones are skipped and reported. Okta
    /// and Entra records are a few kilobytes; the default is 1 MiB.
    pub max_record_bytes: usize,
    pub normalise: NormaliseSettings,
    /// Bytes per block when [`ParallelReader::from_file`] shares a file out in blocks.
    pub block_bytes: u64,
}

impl Default for ReaderSettings {
    fn default() -> Self {
        Self {
            format: None,
            max_record_bytes: 1 << 20,
            normalise: NormaliseSettings::default(),
            block_bytes: BLOCK_BYTES,
        }
    }
}

/// One record that was read and understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// 1-based position of the record in the input (envelopes are not counted, their
    /// records are).
    pub number: u64,
    /// 1-based line the record starts on (after decompression).
    pub line: u64,
    pub outcome: Normalised,
}

/// One record that could not be read or normalised.
#[derive(Debug, thiserror::Error)]
#[error("record {number} (line {line}): {problem}")]
pub struct RecordError {
    pub number: u64,
    pub line: u64,
    pub problem: RecordProblem,
}

impl RecordError {
    /// Whether reading stopped here (the input itself failed).
    pub fn is_fatal(&self) -> bool {
        matches!(self.problem, RecordProblem::Split(SplitProblem::Io(_)))
    }
}

/// Why a record failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordProblem {
    /// The stream could not be split here (size, nesting, brackets, truncation, I/O).
    #[error(transparent)]
    Split(SplitProblem),
    /// The record is JSON but not a record the normaliser can use.
    #[error(transparent)]
    Normalise(NormaliseError),
}

/// Records from a byte stream, normalised (see the module documentation).
pub struct EventReader<R> {
    state: State<R>,
    settings: ReaderSettings,
    normaliser: Option<Normaliser>,
}

enum State<R> {
    Unopened(R),
    Open(Box<Splitter<Input<R>>>),
    Failed,
}

impl<R: Read> EventReader<R> {
    pub fn new(input: R, settings: ReaderSettings) -> Self {
        let normaliser = settings
            .format
            .map(|f| Normaliser::new(f, &settings.normalise));
        Self {
            state: State::Unopened(input),
            settings,
            normaliser,
        }
    }

    /// The format being read: as set, or as guessed once a record was recognised.
    pub fn format(&self) -> Option<Format> {
        self.normaliser.as_ref().map(Normaliser::format)
    }

    fn open(&mut self) -> Result<(), RecordError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::Unopened(input) = state else {
            self.state = state;
            return Ok(());
        };
        let input = Input::open(input).map_err(|e| RecordError {
            number: 1,
            line: 1,
            problem: RecordProblem::Split(SplitProblem::Io(e)),
        })?;
        self.state = State::Open(Box::new(Splitter::new(
            input,
            self.settings.max_record_bytes,
        )));
        Ok(())
    }
}

impl<R: Read> Iterator for EventReader<R> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.open() {
            return Some(Err(e));
        }
        let State::Open(splitter) = &mut self.state else {
            return None;
        };
        let raw = match splitter.next_record()? {
            Ok(raw) => raw,
            Err(e) => {
                return Some(Err(RecordError {
                    number: e.number,
                    line: e.line,
                    problem: RecordProblem::Split(e.problem),
                }));
            }
        };
        let fail = |problem| RecordError {
            number: raw.number,
            line: raw.line,
            problem: RecordProblem::Normalise(problem),
        };
        if self.normaliser.is_none() {
            match source::detect(raw.bytes) {
                Some(format) => {
                    self.normaliser = Some(Normaliser::new(format, &self.settings.normalise));
                }
                None => {
                    // Say why, when the record is not even JSON.
                    let problem = match serde_json::from_slice::<serde::de::IgnoredAny>(raw.bytes) {
                        Err(e) => NormaliseError::Json(e),
                        Ok(_) => NormaliseError::UnknownFormat,
                    };
                    return Some(Err(fail(problem)));
                }
            }
        }
        let normaliser = self.normaliser.as_mut()?;
        Some(match normaliser.normalise(raw.bytes) {
            Ok(outcome) => Ok(Record {
                number: raw.number,
                line: raw.line,
                outcome,
            }),
            Err(e) => Err(fail(e)),
        })
    }
}

/// How many spent events [`Reader::recycle_from`] hands back at a time: enough that the
/// hand-over costs nothing per event, few enough that they hold little memory.
const RECYCLE_BATCH: usize = 512;

/// An [`EventReader`] on the calling thread, or a [`ParallelReader`]: the same items
/// in the same order either way.
pub enum Reader<R> {
    Sequential(EventReader<R>),
    Parallel(Box<ParallelReader>),
}

impl<R: Read + Send + 'static> Reader<R> {
    /// With `threads` ≤ 1 everything runs on the calling thread; with more, a splitting
    /// thread and `threads` normalising threads feed the caller.
    pub fn new(input: R, settings: ReaderSettings, threads: usize) -> Self {
        if threads <= 1 {
            Self::Sequential(EventReader::new(input, settings))
        } else {
            Self::Parallel(Box::new(ParallelReader::new(input, settings, threads)))
        }
    }
}

impl Reader<std::fs::File> {
    /// Like [`Reader::new`] over a file opened and not yet read from; with more than
    /// one thread, a
    /// plain JSON-lines file is shared out in blocks ([`ParallelReader::from_file`]).
    pub fn from_file(file: std::fs::File, settings: ReaderSettings, threads: usize) -> Self {
        if threads <= 1 {
            Self::Sequential(EventReader::new(file, settings))
        } else {
            Self::Parallel(Box::new(ParallelReader::from_file(file, settings, threads)))
        }
    }
}

impl<R: Read> Reader<R> {
    /// The format being read: as set, or as guessed once a record was recognised.
    pub fn format(&self) -> Option<Format> {
        match self {
            Self::Sequential(r) => r.format(),
            Self::Parallel(r) => r.format(),
        }
    }

    /// How far into a file shared out in blocks the records so far reach
    /// ([`ParallelReader::bytes_reached`]); `None` when reading a stream.
    pub fn bytes_reached(&self) -> Option<u64> {
        match self {
            Self::Sequential(_) => None,
            Self::Parallel(r) => r.bytes_reached(),
        }
    }

    /// Frees events the caller is done with on the thread that made them, where there
    /// is one ([`ParallelReader::recycle`]); with one thread they are simply dropped.
    /// Pair with [`crate::Engine::keep_spent`].
    pub fn recycle(&self, spent: crate::engine::Spent) {
        match self {
            Self::Sequential(_) => drop(spent),
            Self::Parallel(r) => r.recycle(spent),
        }
    }

    /// Has `engine` keep its evaluated events and, once a batch has gathered, hands them
    /// back to be freed where they were made ([`Reader::recycle`]). Call it after
    /// feeding each record to `engine`; with one thread it does nothing.
    pub fn recycle_from(&self, engine: &mut crate::Engine) {
        let Self::Parallel(r) = self else { return };
        engine.keep_spent(true);
        if engine.spent_len() >= RECYCLE_BATCH {
            r.recycle(engine.take_spent());
        }
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Sequential(r) => r.next(),
            Self::Parallel(r) => r.next(),
        }
    }
}

/// The input, gunzipped when it starts with gzip's magic bytes.
enum Input<R> {
    Plain(BufReader<Chain<Cursor<Vec<u8>>, R>>),
    Gzip(BufReader<MultiGzDecoder<Chain<Cursor<Vec<u8>>, R>>>),
}

const BUFFER: usize = 64 * 1024;

impl<R: Read> Input<R> {
    fn open(mut input: R) -> io::Result<Self> {
        let mut head = [0u8; 2];
        let mut got = 0;
        while got < head.len() {
            match input.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let gzip = head[..got] == [0x1f, 0x8b];
        let whole = Cursor::new(head[..got].to_vec()).chain(input);
        Ok(if gzip {
            Self::Gzip(BufReader::with_capacity(BUFFER, MultiGzDecoder::new(whole)))
        } else {
            Self::Plain(BufReader::with_capacity(BUFFER, whole))
        })
    }
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(r) => r.read(buf),
            Self::Gzip(r) => r.read(buf),
        }
    }
}

impl<R: Read> BufRead for Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Self::Plain(r) => r.fill_buf(),
            Self::Gzip(r) => r.fill_buf(),
        }
    }

    fn consume(&mut self, amt: usize) {
        match self {
            Self::Plain(r) => r.consume(amt),
            Self::Gzip(r) => r.consume(amt),
        }
    }
}
