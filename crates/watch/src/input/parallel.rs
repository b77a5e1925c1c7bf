//! Reading on several threads: [`ParallelReader`] yields exactly what [`EventReader`]
//! yields, in the same order, with splitting and normalising moved off the calling
//! thread.
//!
//! ```text
//!            chunks of raw records            normalised chunks
//! splitter ──(seq 0, 1, 2, …)──► worker 1 ─┐
//!  thread   bounded channel  └─► worker 2 ─┼─► caller: reorders by seq ─► items
//!     ▲                          worker N ─┘             │
//!     └──────────── emptied chunk buffers ◄──────────────┘
//! ```
//!
//! - One thread unwraps gzip, splits the stream into records and packs them into
//!   chunks (up to [`CHUNK_RECORDS`] records or [`CHUNK_BYTES`] bytes), each with a
//!   sequence number. It also guesses the format from the first recognisable record,
//!   as [`EventReader`] does.
//! - Worker threads normalise whole chunks.
//! - The calling thread (the iterator) takes chunks back in sequence order, so records
//!   come out in input order and a detection engine fed from it sees the same events in
//!   the same order as with [`EventReader`]: findings are identical.
//! - **Memory is bounded**: a fixed number of chunk buffers circulates (twice the
//!   workers plus two). The splitter must take an emptied buffer back before it packs
//!   the next chunk, so it never runs more than that many chunks ahead of the caller,
//!   and buffers are reused rather than reallocated.
//! - **Entra ID** records are normalised on the calling thread, in order: counting each
//!   MFA step once per sign-in flow ([`crate::source::flow`]) depends on the rows seen
//!   before. Splitting still runs on its own thread. Okta and Duo normalise each
//!   record on its own and use the workers.
//!
//! Dropping the reader early stops the threads: each notices its channel closed at its
//! next send or receive. A worker that panics ends the stream with a fatal
//! [`SplitProblem::Io`] error rather than with records silently missing.
//!
//! ```
//! use pushback_watch::input::{EventReader, ParallelReader, ReaderSettings};
//!
//! let mut log = String::new();
//! for i in 0..10_000 {
//!     log.push_str(&format!(
//!         r#"{{"txid":"t{i}","isotimestamp":"2021-07-23T07:19:34Z","event_type":"authentication","factor":"duo_push","result":"denied","reason":"user_mistake","user":{{"name":"u{}"}}}}"#,
//!         i % 7
//!     ));
//!     log.push('\n');
//! }
//! let lines = |r: Result<pushback_watch::Record, _>| r.map(|r| r.line).ok();
//! let parallel: Vec<_> = ParallelReader::new(std::io::Cursor::new(log.clone()), ReaderSettings::default(), 2)
//!     .map(lines)
//!     .collect();
//! let sequential: Vec<_> = EventReader::new(log.as_bytes(), ReaderSettings::default())
//!     .map(lines)
//!     .collect();
//! assert_eq!(parallel.len(), 10_000);
//! assert_eq!(parallel, sequential);
//! ```

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use super::blocks::{Blocks, Head};
use super::split::{Raw, Splitter};
use super::{Input, ReaderSettings, Record, RecordError, RecordProblem, SplitProblem};
use crate::engine::Spent;
use crate::source::{self, Format, NormaliseError, Normalised, Normaliser};

/// Most records packed into one chunk.
pub const CHUNK_RECORDS: usize = 1024;
/// A chunk is sent once it holds this many bytes of records (or [`CHUNK_RECORDS`]).
pub const CHUNK_BYTES: usize = 1 << 20;

/// Records from a byte stream, split and normalised on other threads (see the module
/// documentation). Items and their order are those of [`EventReader`](super::EventReader).
pub struct ParallelReader {
    done: Receiver<Done>,
    buffers: SyncSender<Vec<u8>>,
    /// Spent events on their way back to a worker to be freed ([`ParallelReader::recycle`]).
    spent: SyncSender<Spent>,
    /// Chunks that arrived before their turn.
    early: BTreeMap<u64, Done>,
    next: u64,
    current: Option<Current>,
    format: Option<Format>,
    settings: ReaderSettings,
    /// For formats normalised in order on this thread (Entra).
    in_order: Option<Normaliser>,
    failed: bool,
    /// Records and lines of the chunks handed out so far that counted from their start.
    counted: (u64, u64),
    /// For a file shared out in blocks: reading blocks on this thread while it would
    /// otherwise wait.
    help: Option<Box<Help>>,
    /// How far into that file the chunks handed out so far reach.
    reached: u64,
}

/// What the calling thread needs to read a block itself when the chunk it waits for is
/// not ready and a buffer is free: rather than sleep (and be woken up a moment later),
/// it does a worker's job.
struct Help {
    blocks: Arc<Blocks>,
    buffers: Arc<Mutex<Receiver<Vec<u8>>>>,
    normaliser: Normaliser,
}

impl Help {
    /// A block read here, if a buffer is free and a block is left.
    fn read_one(&mut self) -> Option<Done> {
        let bytes = self.buffers.try_lock().ok()?.try_recv().ok()?;
        let claim = self.blocks.claim()?;
        Some(read_block(
            &self.blocks,
            claim,
            bytes,
            &mut self.normaliser,
            &mut Spent::new(),
        ))
    }
}

/// Raw records on their way to a worker.
struct Chunk {
    seq: u64,
    /// The format, once known; every `Raw` item of the chunk is of it.
    format: Option<Format>,
    bytes: Vec<u8>,
    items: Vec<Item>,
}

enum Item {
    Raw {
        start: usize,
        end: usize,
        number: u64,
        line: u64,
    },
    Failed(RecordError),
}

impl Item {
    /// `raw` appended to a chunk's `bytes`, as the item pointing at it.
    fn packed(bytes: &mut Vec<u8>, raw: &Raw<'_>) -> Self {
        let start = bytes.len();
        bytes.extend_from_slice(raw.bytes);
        Item::Raw {
            start,
            end: bytes.len(),
            number: raw.number,
            line: raw.line,
        }
    }

    /// The item's number and line.
    fn position(&self) -> (u64, u64) {
        match self {
            Item::Raw { number, line, .. } => (*number, *line),
            Item::Failed(e) => (e.number, e.line),
        }
    }
}

/// A chunk back from a worker: one outcome per `Raw` item, in order, unless the format
/// is normalised on the calling thread (then `outcomes` is empty).
struct Done {
    chunk: Chunk,
    outcomes: Vec<Result<Normalised, NormaliseError>>,
    /// Records and lines a block held, for the chunks after it: its items are numbered
    /// from its start ([`blocks`](super::blocks)). Zero for chunks numbered from the
    /// start of the input.
    counts: (u64, u64),
}

/// The chunk being handed out.
struct Current {
    /// Added to its items' numbers and lines: what the blocks before it held.
    offset: (u64, u64),
    format: Option<Format>,
    bytes: Vec<u8>,
    items: std::vec::IntoIter<Item>,
    outcomes: std::vec::IntoIter<Result<Normalised, NormaliseError>>,
}

impl ParallelReader {
    /// Starts a splitting thread and `workers` normalising threads (at least one) over
    /// `input`.
    pub fn new<R: Read + Send + 'static>(
        input: R,
        settings: ReaderSettings,
        workers: usize,
    ) -> Self {
        let workers = workers.max(1);
        let in_flight = 2 * workers + 2;
        let (buffers_tx, buffers_rx) = sync_channel::<Vec<u8>>(in_flight);
        for _ in 0..in_flight {
            // The channel holds exactly `in_flight`; nothing else sends yet.
            let _ = buffers_tx.try_send(Vec::new());
        }
        let (work_tx, work_rx) = sync_channel::<Chunk>(workers);
        let (done_tx, done_rx) = sync_channel::<Done>(in_flight);
        let (spent_tx, spent_rx) = sync_channel::<Spent>(in_flight);
        let spent_rx = Arc::new(Mutex::new(spent_rx));

        let split_settings = settings.clone();
        thread::Builder::new()
            .name("watch-split".into())
            .spawn(move || split(input, &split_settings, &buffers_rx, &work_tx))
            .map_err(|e| spawn_failed(&done_tx, e))
            .ok();
        let work_rx = Arc::new(Mutex::new(work_rx));
        for i in 0..workers {
            let work_rx = Arc::clone(&work_rx);
            let spent_rx = Arc::clone(&spent_rx);
            let done_tx_worker = done_tx.clone();
            let normalise = settings.normalise.clone();
            let spawned = thread::Builder::new()
                .name(format!("watch-normalise-{i}"))
                .spawn(move || work(&work_rx, &spent_rx, &done_tx_worker, &normalise));
            if let Err(e) = spawned {
                spawn_failed(&done_tx, e);
            }
        }
        drop(done_tx);
        Self::fed_by(done_rx, buffers_tx, spent_tx, settings)
    }

    /// A reader taking chunks from `done`, handing emptied buffers back to `buffers`
    /// and spent events to `spent`, at the start of the input.
    fn fed_by(
        done: Receiver<Done>,
        buffers: SyncSender<Vec<u8>>,
        spent: SyncSender<Spent>,
        settings: ReaderSettings,
    ) -> Self {
        Self {
            done,
            buffers,
            spent,
            early: BTreeMap::new(),
            next: 0,
            current: None,
            format: settings.format,
            settings,
            in_order: None,
            failed: false,
            counted: (0, 0),
            help: None,
            reached: 0,
        }
    }

    /// Like [`Self::new`] over `file`, opened and not yet read from; but a plain
    /// JSON-lines file of a format normalised record by record (Okta, Duo) is read in
    /// blocks by the normalising threads themselves, with no splitting thread
    /// ([`blocks`](super::blocks)): the same items in the same order, with less copying
    /// and no thread in the way. Anything else is read as [`Self::new`] reads it.
    pub fn from_file(file: std::fs::File, settings: ReaderSettings, workers: usize) -> Self {
        Self::from_file_or(file, settings, workers, |file| file)
    }

    /// [`Self::from_file`], reading a file that does not suit blocks as a stream
    /// through `stream(file)` (which may count the bytes read, say).
    pub fn from_file_or<R: Read + Send + 'static>(
        file: std::fs::File,
        settings: ReaderSettings,
        workers: usize,
        stream: impl FnOnce(std::fs::File) -> R,
    ) -> Self {
        match Self::head(&file, &settings) {
            Ok(Some((head, format, first))) => match Blocks::new(file, &head, format, &settings) {
                Ok(blocks) => Self::in_blocks(blocks, first, settings, workers),
                Err(e) => Self::failed(e, settings),
            },
            // The head was read with `pread`: the file's cursor has not moved.
            Ok(None) => Self::new(stream(file), settings, workers),
            Err(e) => Self::failed(e, settings),
        }
    }

    /// The head of `file` split and normalised here, when the rest can be read in
    /// blocks: the head, the format and the head's chunk.
    fn head(
        file: &std::fs::File,
        settings: &ReaderSettings,
    ) -> io::Result<Option<(Head, Format, Done)>> {
        let Some(head) = Head::read(file, settings.max_record_bytes)? else {
            return Ok(None);
        };
        let mut splitter = Splitter::new(
            io::BufReader::new(head.bytes.as_slice()),
            settings.max_record_bytes,
        );
        let mut format = settings.format;
        let (mut bytes, mut items, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
        let mut normaliser = None;
        while let Some(raw) = splitter.next_record() {
            // A broken first line, or one that names no format: read it all as `new`
            // does, which knows how to go on.
            let Ok(raw) = raw else { return Ok(None) };
            format = format.or_else(|| source::detect(raw.bytes));
            let Some(known) = format else { return Ok(None) };
            let normaliser =
                normaliser.get_or_insert_with(|| Normaliser::new(known, &settings.normalise));
            outcomes.push(normaliser.normalise(raw.bytes));
            items.push(Item::packed(&mut bytes, &raw));
        }
        let Some(format) = format.filter(|f| independent(*f)) else {
            return Ok(None);
        };
        if !splitter.in_lines_mode() {
            return Ok(None);
        }
        let lines = memchr::memchr_iter(b'\n', &head.bytes).count() as u64;
        let records = items.len() as u64;
        let chunk = Chunk {
            seq: 0,
            format: Some(format),
            bytes,
            items,
        };
        Ok(Some((
            head,
            format,
            Done {
                chunk,
                outcomes,
                counts: (records, lines),
            },
        )))
    }

    /// Workers that read `blocks` themselves; `first` is the head's chunk.
    fn in_blocks(blocks: Blocks, first: Done, settings: ReaderSettings, workers: usize) -> Self {
        let workers = workers.max(1);
        // More blocks in flight than chunks in `new`: a worker that is descheduled
        // in the middle of a block holds the caller up until it runs again, and the
        // other workers should not run out of buffers meanwhile (measured: the two
        // cores busy 1.72-1.87 of the time against 1.75-1.78 with 2 per worker + 2, for
        // about 2 MiB more at peak; BENCHMARKS.md).
        let in_flight = 8 * workers;
        let (buffers_tx, buffers_rx) = sync_channel::<Vec<u8>>(in_flight);
        for _ in 0..in_flight {
            let _ = buffers_tx.try_send(Vec::new());
        }
        let (done_tx, done_rx) = sync_channel::<Done>(in_flight);
        let (spent_tx, spent_rx) = sync_channel::<Spent>(in_flight);
        let spent_rx = Arc::new(Mutex::new(spent_rx));
        let buffers_rx = Arc::new(Mutex::new(buffers_rx));
        let blocks = Arc::new(blocks);
        for i in 0..workers {
            let (blocks, buffers_rx, spent_rx) = (
                Arc::clone(&blocks),
                Arc::clone(&buffers_rx),
                Arc::clone(&spent_rx),
            );
            let done_tx_worker = done_tx.clone();
            let normalise = settings.normalise.clone();
            let spawned = thread::Builder::new()
                .name(format!("watch-normalise-{i}"))
                .spawn(move || {
                    read_blocks(&blocks, &buffers_rx, &spent_rx, &done_tx_worker, &normalise)
                });
            if let Err(e) = spawned {
                spawn_failed(&done_tx, e);
            }
        }
        drop(done_tx);
        let help = Help {
            normaliser: Normaliser::new(blocks.format, &settings.normalise),
            blocks: Arc::clone(&blocks),
            buffers: buffers_rx,
        };
        let mut reader = Self::fed_by(done_rx, buffers_tx, spent_tx, settings);
        reader.early.insert(0, first);
        reader.format = Some(blocks.format);
        reader.help = Some(Box::new(help));
        reader
    }

    /// A reader whose only item is the fatal error `e`.
    fn failed(e: io::Error, settings: ReaderSettings) -> Self {
        let (done_tx, done_rx) = sync_channel::<Done>(1);
        spawn_failed(&done_tx, e);
        let (buffers, _) = sync_channel(0);
        let (spent, _) = sync_channel(0);
        Self::fed_by(done_rx, buffers, spent, settings)
    }

    /// The format being read: as set, or as guessed once a record was recognised.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// For a file shared out in blocks, how far into it the records handed out so far
    /// reach (for progress); `None` when reading a stream.
    pub fn bytes_reached(&self) -> Option<u64> {
        self.help.as_ref().map(|_| self.reached)
    }

    /// Hands events the caller is done with to a normalising thread to be freed there.
    ///
    /// Their strings were allocated on those threads; freeing them on the calling
    /// thread makes the system allocator hand memory across threads, which cost about
    /// a third of the second core (BENCHMARKS.md). Never blocks: when the workers are
    /// behind, the events are freed here.
    pub fn recycle(&self, spent: Spent) {
        // Events normalised on this thread (Entra) are freed here, where they were made.
        if !spent.is_empty() && self.in_order.is_none() {
            // Refused (full, or the workers gone): dropped here instead.
            let _ = self.spent.try_send(spent);
        }
    }

    /// The next chunk in sequence, waiting for it if need be; `None` when every thread
    /// has finished.
    fn next_chunk(&mut self) -> Option<Done> {
        loop {
            if let Some(done) = self.early.remove(&self.next) {
                self.next += 1;
                return Some(done);
            }
            if let Some(help) = &mut self.help {
                match self.done.try_recv() {
                    Ok(done) => {
                        self.early.insert(done.chunk.seq, done);
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => return None,
                    Err(TryRecvError::Empty) => {
                        if let Some(done) = help.read_one() {
                            self.early.insert(done.chunk.seq, done);
                            continue;
                        }
                    }
                }
            }
            match self.done.recv() {
                Ok(done) => {
                    self.early.insert(done.chunk.seq, done);
                }
                Err(_) => return None,
            }
        }
    }
}

impl Iterator for ParallelReader {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            if let Some(cur) = &mut self.current {
                match cur.items.next() {
                    Some(Item::Failed(e)) => {
                        self.failed = e.is_fatal();
                        return Some(Err(RecordError {
                            number: e.number + cur.offset.0,
                            line: e.line + cur.offset.1,
                            ..e
                        }));
                    }
                    Some(Item::Raw {
                        start,
                        end,
                        number,
                        line,
                    }) => {
                        let (number, line) = (number + cur.offset.0, line + cur.offset.1);
                        let outcome = match cur.outcomes.next() {
                            Some(outcome) => outcome,
                            None => {
                                let format = cur.format?;
                                let normaliser = self.in_order.get_or_insert_with(|| {
                                    Normaliser::new(format, &self.settings.normalise)
                                });
                                normaliser.normalise(cur.bytes.get(start..end)?)
                            }
                        };
                        return Some(match outcome {
                            Ok(outcome) => Ok(Record {
                                number,
                                line,
                                outcome,
                            }),
                            Err(problem) => Err(RecordError {
                                number,
                                line,
                                problem: RecordProblem::Normalise(problem),
                            }),
                        });
                    }
                    None => {
                        if let Some(cur) = self.current.take() {
                            // The splitter may have stopped already; then nobody needs it.
                            let _ = self.buffers.try_send(cur.bytes);
                        }
                    }
                }
            }
            let Some(done) = self.next_chunk() else {
                self.failed = true;
                if self.early.is_empty() {
                    return None;
                }
                // A thread ended without handing over its chunk.
                return Some(Err(RecordError {
                    number: 0,
                    line: 0,
                    problem: RecordProblem::Split(SplitProblem::Io(io::Error::other(
                        "a reading thread stopped unexpectedly",
                    ))),
                }));
            };
            if done.chunk.format.is_some() {
                self.format = done.chunk.format;
            }
            if let Some(help) = &self.help {
                self.reached = help.blocks.end_of(done.chunk.seq);
            }
            let offset = self.counted;
            self.counted.0 += done.counts.0;
            self.counted.1 += done.counts.1;
            self.current = Some(Current {
                offset,
                format: done.chunk.format,
                bytes: done.chunk.bytes,
                items: done.chunk.items.into_iter(),
                outcomes: done.outcomes.into_iter(),
            });
        }
    }
}

/// Whether a format's records normalise independently of each other (so on any worker).
fn independent(format: Format) -> bool {
    match format {
        Format::Okta | Format::Duo => true,
        Format::Entra => false,
    }
}

/// Reports a thread that could not be started as a fatal error at the start.
fn spawn_failed(done: &SyncSender<Done>, e: io::Error) {
    let chunk = Chunk {
        seq: 0,
        format: None,
        bytes: Vec::new(),
        items: vec![Item::Failed(RecordError {
            number: 1,
            line: 1,
            problem: RecordProblem::Split(SplitProblem::Io(e)),
        })],
    };
    let _ = done.try_send(Done {
        chunk,
        outcomes: Vec::new(),
        counts: (0, 0),
    });
}

/// The splitting thread: packs records into chunks until the input ends, fails, or the
/// reader is dropped.
fn split<R: Read>(
    input: R,
    settings: &ReaderSettings,
    buffers: &Receiver<Vec<u8>>,
    work: &SyncSender<Chunk>,
) {
    let mut format = settings.format;
    let mut seq = 0u64;
    let mut splitter = match Input::open(input) {
        Ok(input) => Some(Splitter::new(input, settings.max_record_bytes)),
        Err(e) => {
            let failed = RecordError {
                number: 1,
                line: 1,
                problem: RecordProblem::Split(SplitProblem::Io(e)),
            };
            let _ = work.send(Chunk {
                seq,
                format,
                bytes: Vec::new(),
                items: vec![Item::Failed(failed)],
            });
            None
        }
    };
    while let Some(s) = splitter.as_mut() {
        let Ok(mut bytes) = buffers.recv() else {
            return;
        };
        bytes.clear();
        let mut items = Vec::with_capacity(CHUNK_RECORDS);
        let mut ended = false;
        while items.len() < CHUNK_RECORDS && bytes.len() < CHUNK_BYTES {
            match s.next_record() {
                None => {
                    ended = true;
                    break;
                }
                Some(Ok(raw)) => {
                    if format.is_none() {
                        format = source::detect(raw.bytes);
                        if format.is_none() {
                            items.push(Item::Failed(unrecognised(raw.bytes, raw.number, raw.line)));
                            continue;
                        }
                    }
                    items.push(Item::packed(&mut bytes, &raw));
                }
                Some(Err(e)) => {
                    let fatal = matches!(e.problem, SplitProblem::Io(_));
                    items.push(Item::Failed(RecordError {
                        number: e.number,
                        line: e.line,
                        problem: RecordProblem::Split(e.problem),
                    }));
                    if fatal {
                        ended = true;
                        break;
                    }
                }
            }
        }
        if !items.is_empty() {
            let chunk = Chunk {
                seq,
                format,
                bytes,
                items,
            };
            if work.send(chunk).is_err() {
                return;
            }
            seq += 1;
        }
        if ended {
            splitter = None;
        }
    }
}

/// The error for a record seen before the format is known that names no format.
fn unrecognised(bytes: &[u8], number: u64, line: u64) -> RecordError {
    // Say why, when the record is not even JSON.
    let problem = match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Err(e) => NormaliseError::Json(e),
        Ok(_) => NormaliseError::UnknownFormat,
    };
    RecordError {
        number,
        line,
        problem: RecordProblem::Normalise(problem),
    }
}

/// A normalising thread: takes chunks until the splitter is done or the reader dropped.
///
/// Events the caller has finished with ([`ParallelReader::recycle`]) are freed here,
/// one before each record is normalised, so the allocator reuses their memory for the
/// next event's strings at once.
fn work(
    chunks: &Mutex<Receiver<Chunk>>,
    spent: &Mutex<Receiver<Spent>>,
    done: &SyncSender<Done>,
    settings: &source::NormaliseSettings,
) {
    let mut normaliser: Option<Normaliser> = None;
    loop {
        let received = chunks.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(chunk) = received else { return };
        let mut spent = spent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_recv()
            .unwrap_or_default();
        let (seq, at) = (
            chunk.seq,
            chunk.items.first().map_or((0, 0), Item::position),
        );
        let done_chunk = guarded(seq, at, || {
            let mut outcomes = Vec::new();
            if let Some(format) = chunk.format.filter(|f| independent(*f)) {
                let n = match &mut normaliser {
                    Some(n) if n.format() == format => n,
                    slot => slot.insert(Normaliser::new(format, settings)),
                };
                outcomes.reserve(chunk.items.len());
                for item in &chunk.items {
                    if let Item::Raw { start, end, .. } = *item {
                        drop(spent.pop());
                        outcomes.push(n.normalise(&chunk.bytes[start..end]));
                    }
                }
            }
            Done {
                chunk,
                outcomes,
                counts: (0, 0),
            }
        });
        drop(spent);
        if done.send(done_chunk).is_err() {
            return;
        }
    }
}

/// Runs `normalise`, which makes the [`Done`] of chunk `seq`. If it panics, the chunk's
/// only item is a fatal error at `at` (number, line): the caller stops there, as the
/// module documentation promises, instead of waiting for a chunk that never comes.
fn guarded(seq: u64, at: (u64, u64), normalise: impl FnOnce() -> Done) -> Done {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(normalise)).unwrap_or_else(|_| {
        let failed = RecordError {
            number: at.0,
            line: at.1,
            problem: RecordProblem::Split(SplitProblem::Io(io::Error::other(
                "a normalising thread failed",
            ))),
        };
        Done {
            chunk: Chunk {
                seq,
                format: None,
                bytes: Vec::new(),
                items: vec![Item::Failed(failed)],
            },
            outcomes: Vec::new(),
            counts: (0, 0),
        }
    })
}

/// A normalising thread reading blocks of a file itself ([`ParallelReader::from_file`]):
/// takes a buffer (so it never runs more than the buffers ahead of the caller), claims
/// the next block, and hands its records back, until the file is shared out or the
/// reader dropped.
fn read_blocks(
    blocks: &Blocks,
    buffers: &Mutex<Receiver<Vec<u8>>>,
    spent: &Mutex<Receiver<Spent>>,
    done: &SyncSender<Done>,
    settings: &source::NormaliseSettings,
) {
    let mut normaliser = Normaliser::new(blocks.format, settings);
    loop {
        let received = buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(bytes) = received else { return };
        let Some((seq, lo, hi)) = blocks.claim() else {
            return;
        };
        let mut spent = spent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_recv()
            .unwrap_or_default();
        let done_block = read_block(blocks, (seq, lo, hi), bytes, &mut normaliser, &mut spent);
        drop(spent);
        if done.send(done_block).is_err() {
            return;
        }
    }
}

/// Splits and normalises the block `seq` (`lo..hi` of the file) into `bytes`' chunk,
/// freeing one of `spent` before each record.
fn read_block(
    blocks: &Blocks,
    (seq, lo, hi): (u64, u64, u64),
    bytes: Vec<u8>,
    normaliser: &mut Normaliser,
    spent: &mut Spent,
) -> Done {
    // Items are numbered from the block's start: a panic is reported at its first line.
    guarded(seq, (1, 1), || {
        let (mut items, mut outcomes) = (Vec::new(), Vec::new());
        let counted = blocks.each_record(lo, hi, |item| match item {
            Ok(raw) => {
                drop(spent.pop());
                // Normalised here, where the line lies: the chunk holds no bytes.
                items.push(Item::Raw {
                    start: 0,
                    end: 0,
                    number: raw.number,
                    line: raw.line,
                });
                outcomes.push(normaliser.normalise(raw.bytes));
            }
            Err(e) => items.push(Item::Failed(RecordError {
                number: e.number,
                line: e.line,
                problem: RecordProblem::Split(e.problem),
            })),
        });
        let counts = counted.unwrap_or_else(|e| {
            items.push(Item::Failed(RecordError {
                number: items.len() as u64 + 1,
                line: 1,
                problem: RecordProblem::Split(SplitProblem::Io(e)),
            }));
            (0, 0)
        });
        let chunk = Chunk {
            seq,
            format: Some(blocks.format),
            bytes,
            items,
        };
        Done {
            chunk,
            outcomes,
            counts,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty(seq: u64, counts: (u64, u64)) -> Done {
        Done {
            chunk: Chunk {
                seq,
                format: None,
                bytes: Vec::new(),
                items: Vec::new(),
            },
            outcomes: Vec::new(),
            counts,
        }
    }

    #[test]
    fn a_worker_that_panics_hands_back_a_fatal_error_in_its_chunks_place() {
        let done = guarded(7, (42, 40), || panic!("a normaliser's bug"));
        assert_eq!(done.chunk.seq, 7, "the caller is waiting for this chunk");
        match &done.chunk.items[..] {
            [Item::Failed(e)] => {
                assert!(e.is_fatal(), "{e}");
                assert_eq!((e.number, e.line), (42, 40));
            }
            _ => panic!("one fatal error expected"),
        }
        assert!(done.outcomes.is_empty());
        let fine = guarded(3, (1, 1), || empty(3, (5, 6)));
        assert_eq!((fine.chunk.seq, fine.counts), (3, (5, 6)));
    }
}
