//! Splitting a byte stream into JSON records without loading it whole.
//!
//! The stream may be JSON lines, one or more top-level values (pretty-printed or not),
//! a JSON array of records, or an envelope object whose array holds the records
//! (`{"records": [...]}` from Event Hub, `{"value": [...]}` from Graph,
//! `{"response": {"authlogs": [...]}}` or `{"response": [...]}` from Duo), also inside
//! a top-level array. Envelopes are recognised by their key while the object is read,
//! so an envelope of any size streams in the memory of its largest record.
//!
//! The splitter is not a JSON parser: it follows strings, escapes and brackets, and
//! leaves the rest to serde. Two modes:
//!
//! - **lines**: chosen when the first top-level value is an object on one line. Each
//!   line is a record; a broken line costs only itself.
//! - **structure**: everything else. A record ends where its brackets balance. A
//!   mismatched bracket is reported for the record it occurs in and scanning goes on, so
//!   one broken element can swallow its neighbours; truncation at the end of the input is
//!   reported once.
//!
//! Memory is bounded: a record longer than `max_record` bytes is skipped (not stored)
//! and reported, bytes outside records are never stored, and in structure mode nesting
//! deeper than [`MAX_NESTING`] is counted rather than stored and reported. In lines mode
//! nesting is left to serde_json, which stops at 128 levels in the fields a normaliser
//! reads and skips unread fields without recursing.

use std::io::{self, BufRead};

/// Deepest nesting kept track of inside a record; deeper records are reported. serde_json
/// refuses more than 128 levels too.
pub const MAX_NESTING: usize = 128;

/// Envelopes nested in envelopes beyond this depth are read as plain records.
const MAX_ENVELOPE_FRAMES: usize = 16;

/// Container kinds on the stack.
const OBJ: u8 = b'{';
const ARR: u8 = b'[';
/// An envelope object: its values are skipped, except the array of records.
const ENV: u8 = b'E';
/// An array whose elements are records (top level or an envelope's).
const RECS: u8 = b'R';

/// A raw record: the bytes of one JSON value and where it started.
#[derive(Debug)]
pub(crate) struct Raw<'a> {
    pub bytes: &'a [u8],
    pub number: u64,
    pub line: u64,
}

/// Why a stretch of input is not a record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SplitProblem {
    /// The record is longer than the limit; it was skipped without being stored.
    #[error("record longer than {limit} bytes")]
    TooLarge { limit: usize },
    /// The record nests deeper than the limit.
    #[error("record nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    /// A `]` closed a `{`, or a `}` closed a `[`.
    #[error("mismatched brackets")]
    Unbalanced,
    /// The input ended inside this record.
    #[error("input ended inside the record")]
    Truncated,
    /// The input ended inside an array or envelope that never closed.
    #[error("input ended before the enclosing array or envelope closed")]
    Unclosed,
    /// A value that is not a JSON object where a record should be.
    #[error("not a JSON object")]
    NotAnObject,
    /// A closing bracket with nothing open.
    #[error("unexpected {0:?} outside any record")]
    Unexpected(char),
    /// Reading the input failed (including a corrupt gzip stream); nothing more is read.
    #[error("reading the input failed: {0}")]
    Io(#[from] io::Error),
}

/// A problem at a record position.
#[derive(Debug)]
pub(crate) struct SplitError {
    pub number: u64,
    pub line: u64,
    pub problem: SplitProblem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    First,
    Lines,
    Structure,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EnvKey {
    Records,
    Response,
    Authlogs,
}

/// The value being read at the moment.
#[derive(Debug)]
struct Rec {
    /// Stack depth outside the value: it ends when the stack is back to this length.
    base: usize,
    number: u64,
    line: u64,
    /// Bytes are being stored in `buf`.
    capture: bool,
    /// A value inside an envelope that is not a record: skipped without a report.
    silent: bool,
    /// A scalar (string, number, literal) where a record should be.
    scalar: bool,
    problem: Option<SplitProblem>,
    had_newline: bool,
    /// Levels beyond MAX_NESTING, counted only.
    overflow: u64,
}

pub(crate) struct Splitter<R> {
    input: R,
    st: State,
    finished: bool,
    /// Bytes of the input's buffer still lent out as the last record, consumed at the
    /// next call.
    lent: usize,
}

/// Everything but the input, so that a chunk borrowed from the input can be scanned
/// into it.
struct State {
    max_record: usize,
    mode: Mode,
    buf: Vec<u8>,
    /// Line of the read position (1-based).
    line: u64,
    /// Records started so far.
    records: u64,
    stack: Vec<u8>,
    rec: Option<Rec>,
    in_string: bool,
    escape: bool,
    expect_key: bool,
    /// The string being read is a key that may name an envelope array.
    key_candidate: bool,
    key_start: usize,
    env_key: Option<EnvKey>,
    response_depth: Option<usize>,
    pending: Option<Pending>,
    /// Bytes of a UTF-8 byte-order mark skipped at the start; 3 once past it.
    bom: usize,
}

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

enum Pending {
    Record {
        number: u64,
        line: u64,
    },
    /// A line lying whole in the input's buffer at `start..end`, lent out rather than
    /// copied.
    Lent {
        start: usize,
        end: usize,
        number: u64,
        line: u64,
    },
    Error(SplitError),
}

impl<R: BufRead> Splitter<R> {
    pub(crate) fn new(input: R, max_record: usize) -> Self {
        Self {
            input,
            st: State {
                max_record: max_record.max(2),
                mode: Mode::First,
                buf: Vec::new(),
                line: 1,
                records: 0,
                stack: Vec::new(),
                rec: None,
                in_string: false,
                escape: false,
                expect_key: false,
                key_candidate: false,
                key_start: 0,
                env_key: None,
                response_depth: None,
                pending: None,
                bom: 0,
            },
            finished: false,
            lent: 0,
        }
    }

    /// The next record or problem, or `None` at the end of the input.
    /// A splitter already in lines mode, for input that starts at the beginning of a
    /// line after the first value of a JSON-lines stream (so no byte-order mark and no
    /// first value to look at).
    pub(crate) fn lines(input: R, max_record: usize) -> Self {
        let mut splitter = Self::new(input, max_record);
        splitter.st.mode = Mode::Lines;
        splitter.st.bom = BOM.len();
        splitter
    }

    /// Whether the stream was settled as JSON lines (by its first value).
    pub(crate) fn in_lines_mode(&self) -> bool {
        self.st.mode == Mode::Lines
    }

    /// Records started and lines ended so far.
    pub(crate) fn counted(&self) -> (u64, u64) {
        (self.st.records, self.st.line - 1)
    }

    pub(crate) fn next_record(&mut self) -> Option<Result<Raw<'_>, SplitError>> {
        self.input.consume(std::mem::take(&mut self.lent));
        if self.finished {
            return None;
        }
        let found = match self.st.mode {
            Mode::Lines => self.next_line(),
            Mode::First | Mode::Structure => self.next_structured(),
        };
        match found {
            Ok(true) => {}
            Ok(false) => {
                self.finished = true;
                return None;
            }
            Err(e) => return Some(Err(self.io_error(e))),
        }
        match self.st.pending.take() {
            Some(Pending::Record { number, line }) => Some(Ok(Raw {
                bytes: &self.st.buf,
                number,
                line,
            })),
            Some(Pending::Lent {
                start,
                end,
                number,
                line,
            }) => {
                // The buffer still holds the line: nothing was consumed since.
                let held = self.input.fill_buf().map(|buf| end <= buf.len());
                match held {
                    Ok(true) => {}
                    Ok(false) => {
                        let e = io::Error::other("the read buffer changed under a record");
                        return Some(Err(self.io_error(e)));
                    }
                    Err(e) => return Some(Err(self.io_error(e))),
                }
                let buf = self.input.fill_buf().ok()?;
                Some(Ok(Raw {
                    bytes: &buf[start..end],
                    number,
                    line,
                }))
            }
            Some(Pending::Error(e)) => Some(Err(e)),
            None => None,
        }
    }

    fn io_error(&mut self, e: io::Error) -> SplitError {
        self.finished = true;
        SplitError {
            number: self.st.records + 1,
            line: self.st.line,
            problem: SplitProblem::Io(e),
        }
    }

    /// Reads lines until one is not blank and sets `pending`; false at the end.
    fn next_line(&mut self) -> io::Result<bool> {
        let st = &mut self.st;
        loop {
            st.buf.clear();
            // The common case: the whole line is in the buffer. Lend it out.
            let chunk = fill(&mut self.input)?;
            if let Some(k) = memchr::memchr(b'\n', chunk)
                && k <= st.max_record
            {
                let line = &chunk[..k];
                let line_no = st.line;
                st.line += 1;
                let Some(start) = line.iter().position(|b| !b.is_ascii_whitespace()) else {
                    self.input.consume(k + 1);
                    continue;
                };
                let end = line
                    .iter()
                    .rposition(|b| !b.is_ascii_whitespace())
                    .map_or(k, |e| e + 1);
                st.records += 1;
                st.pending = Some(Pending::Lent {
                    start,
                    end,
                    number: st.records,
                    line: line_no,
                });
                self.lent = k + 1;
                return Ok(true);
            }
            let mut overflow = false;
            let mut saw_any = false;
            loop {
                let chunk = fill(&mut self.input)?;
                if chunk.is_empty() {
                    break;
                }
                saw_any = true;
                let (take, newline) = match memchr::memchr(b'\n', chunk) {
                    Some(k) => (k, true),
                    None => (chunk.len(), false),
                };
                if !overflow {
                    if st.buf.len() + take <= st.max_record {
                        st.buf.extend_from_slice(&chunk[..take]);
                    } else {
                        overflow = true;
                        st.buf.clear();
                    }
                }
                self.input.consume(take + usize::from(newline));
                if newline {
                    break;
                }
            }
            if !saw_any {
                return Ok(false);
            }
            let line = st.line;
            st.line += 1;
            if overflow {
                st.records += 1;
                st.pending = Some(Pending::Error(SplitError {
                    number: st.records,
                    line,
                    problem: SplitProblem::TooLarge {
                        limit: st.max_record,
                    },
                }));
                return Ok(true);
            }
            let start = st.buf.iter().position(|b| !b.is_ascii_whitespace());
            let Some(start) = start else { continue };
            let end = st
                .buf
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
                .map_or(st.buf.len(), |e| e + 1);
            st.buf.copy_within(start..end, 0);
            st.buf.truncate(end - start);
            st.records += 1;
            st.pending = Some(Pending::Record {
                number: st.records,
                line,
            });
            return Ok(true);
        }
    }

    /// Scans until a record or a problem is pending; false at the end of the input.
    fn next_structured(&mut self) -> io::Result<bool> {
        self.st.buf.clear();
        loop {
            let chunk = fill(&mut self.input)?;
            if chunk.is_empty() {
                return Ok(self.st.end_of_input());
            }
            let (used, emitted) = self.st.scan(chunk);
            self.input.consume(used);
            if emitted {
                return Ok(true);
            }
        }
    }
}

impl State {
    fn top(&self) -> Option<u8> {
        self.stack.last().copied()
    }

    /// Whether a value starting here (outside any record) is a record.
    fn at_record_position(&self) -> bool {
        matches!(self.top(), None | Some(RECS))
    }

    fn start(&mut self, silent: bool, scalar: bool) {
        let number = if silent {
            0
        } else {
            self.records += 1;
            self.records
        };
        self.rec = Some(Rec {
            base: self.stack.len(),
            number,
            line: self.line,
            capture: !silent && !scalar,
            silent,
            scalar,
            problem: scalar.then_some(SplitProblem::NotAnObject),
            had_newline: false,
            overflow: 0,
        });
        self.buf.clear();
        self.env_key = None;
        self.response_depth = None;
    }

    /// Appends `chunk[*from..to]` to the record if it is being captured, and enforces
    /// the size limit.
    fn flush(&mut self, chunk: &[u8], from: &mut Option<usize>, to: usize) {
        let Some(f) = *from else { return };
        let Some(rec) = &mut self.rec else {
            *from = None;
            return;
        };
        if !rec.capture {
            *from = None;
            return;
        }
        if self.buf.len() + (to - f) > self.max_record {
            rec.capture = false;
            rec.problem = Some(SplitProblem::TooLarge {
                limit: self.max_record,
            });
            self.buf.clear();
            self.buf.shrink_to(self.max_record.min(1 << 20));
            *from = None;
            return;
        }
        self.buf.extend_from_slice(&chunk[f..to]);
        *from = Some(to);
    }

    /// The current value is complete: set `pending` (unless it was a silent skip).
    /// Returns whether something is pending.
    fn finish(&mut self) -> bool {
        let Some(rec) = self.rec.take() else {
            return false;
        };
        if self.mode == Mode::First && rec.base == 0 {
            self.mode = if rec.had_newline || rec.scalar {
                Mode::Structure
            } else {
                Mode::Lines
            };
        }
        if rec.silent {
            return false;
        }
        self.pending = Some(match rec.problem {
            None => Pending::Record {
                number: rec.number,
                line: rec.line,
            },
            Some(problem) => {
                self.buf.clear();
                Pending::Error(SplitError {
                    number: rec.number,
                    line: rec.line,
                    problem,
                })
            }
        });
        true
    }

    /// The key just read (the last bytes of `buf`), if it names an envelope array.
    fn check_key(&mut self) {
        let Some(rec) = &self.rec else { return };
        if !rec.capture || self.key_start + 2 > self.buf.len() {
            return;
        }
        let key = &self.buf[self.key_start + 1..self.buf.len() - 1];
        let depth = self.stack.len();
        self.env_key = if depth == rec.base + 1 {
            match key {
                b"records" | b"value" | b"authlogs" => Some(EnvKey::Records),
                b"response" => Some(EnvKey::Response),
                _ => None,
            }
        } else if Some(depth) == self.response_depth && key == b"authlogs" {
            Some(EnvKey::Authlogs)
        } else {
            None
        };
    }

    /// An envelope's array of records starts: the object(s) around it become envelope
    /// frames and the bytes read so far are dropped.
    fn enter_envelope(&mut self) {
        if let Some(rec) = self.rec.take() {
            for frame in &mut self.stack[rec.base..] {
                *frame = ENV;
            }
            self.records -= 1;
        }
        self.stack.push(RECS);
        self.buf.clear();
        self.env_key = None;
        self.response_depth = None;
        self.expect_key = false;
        self.mode = Mode::Structure;
    }

    /// Scans `chunk`; returns how much was used and whether something is pending.
    fn scan(&mut self, chunk: &[u8]) -> (usize, bool) {
        let mut i = 0;
        let mut from = self.rec.as_ref().and_then(|r| r.capture.then_some(0));
        while i < chunk.len() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    i += 1;
                    continue;
                }
                let Some(k) = memchr::memchr3(b'"', b'\\', b'\n', &chunk[i..]) else {
                    break;
                };
                let j = i + k;
                i = j + 1;
                match chunk[j] {
                    b'\\' => self.escape = true,
                    b'\n' => {
                        // Not valid inside a JSON string; serde will say so.
                        self.line += 1;
                        if let Some(rec) = &mut self.rec {
                            rec.had_newline = true;
                        }
                    }
                    _ => {
                        self.in_string = false;
                        if self.key_candidate {
                            self.key_candidate = false;
                            self.flush(chunk, &mut from, i);
                            self.check_key();
                        }
                        if let Some(rec) = &self.rec
                            && rec.scalar
                            && self.stack.len() == rec.base
                        {
                            return (i, self.finish());
                        }
                    }
                }
                continue;
            }

            let c = chunk[i];
            if self.bom < BOM.len() {
                if c == BOM[self.bom] {
                    self.bom += 1;
                    i += 1;
                    continue;
                }
                self.bom = BOM.len();
            }
            // A bare scalar in a record position ends at the first delimiter.
            if let Some(rec) = &self.rec
                && rec.scalar
                && matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
            {
                if self.finish() {
                    return (i, true);
                }
                continue;
            }
            match c {
                b'\n' => {
                    self.line += 1;
                    if let Some(rec) = &mut self.rec {
                        rec.had_newline = true;
                    }
                }
                b' ' | b'\t' | b'\r' => {}
                b'"' => {
                    if self.rec.is_none() && self.at_record_position() {
                        self.start(false, true);
                    }
                    self.in_string = true;
                    let key = self.expect_key && matches!(self.top(), Some(OBJ));
                    self.env_key = None;
                    if key
                        && let Some(rec) = &self.rec
                        && rec.capture
                        && (self.stack.len() == rec.base + 1
                            || Some(self.stack.len()) == self.response_depth)
                        && self.stack.len() < MAX_ENVELOPE_FRAMES
                    {
                        self.flush(chunk, &mut from, i);
                        self.key_start = self.buf.len();
                        self.key_candidate = true;
                    }
                }
                b'{' | b'[' => {
                    if self.rec.is_none() {
                        if self.stack.is_empty() && c == ARR {
                            self.stack.push(RECS);
                            self.mode = Mode::Structure;
                            i += 1;
                            continue;
                        }
                        let silent = !self.at_record_position();
                        self.start(silent, false);
                        if !silent {
                            from = Some(i);
                        }
                    } else if let Some(key) = self.env_key.take() {
                        let in_record_top = self
                            .rec
                            .as_ref()
                            .is_some_and(|r| self.stack.len() == r.base + 1);
                        if c == ARR {
                            self.enter_envelope();
                            from = None;
                            i += 1;
                            continue;
                        }
                        if key == EnvKey::Response && in_record_top {
                            self.response_depth = Some(self.stack.len() + 1);
                        }
                    }
                    let Some(rec) = &mut self.rec else {
                        i += 1;
                        continue;
                    };
                    if rec.overflow > 0 || self.stack.len() - rec.base >= MAX_NESTING {
                        rec.overflow += 1;
                        if rec.problem.is_none() {
                            rec.problem = Some(SplitProblem::TooDeep { limit: MAX_NESTING });
                        }
                        rec.capture = false;
                        from = None;
                        self.buf.clear();
                    } else {
                        self.stack.push(c);
                    }
                    self.expect_key = c == OBJ;
                }
                b'}' | b']' => {
                    self.env_key = None;
                    self.expect_key = false;
                    if let Some(rec) = &mut self.rec
                        && rec.overflow > 0
                    {
                        rec.overflow -= 1;
                        i += 1;
                        continue;
                    }
                    let Some(open) = self.stack.pop() else {
                        // A closer with nothing open, between records.
                        self.records += 1;
                        self.pending = Some(Pending::Error(SplitError {
                            number: self.records,
                            line: self.line,
                            problem: SplitProblem::Unexpected(char::from(c)),
                        }));
                        return (i + 1, true);
                    };
                    let matched = matches!((open, c), (OBJ | ENV, b'}') | (ARR | RECS, b']'));
                    if Some(self.stack.len()) < self.response_depth {
                        self.response_depth = None;
                    }
                    if let Some(rec) = &mut self.rec {
                        if !matched && rec.problem.is_none() {
                            rec.problem = Some(SplitProblem::Unbalanced);
                            rec.capture = false;
                            self.buf.clear();
                            from = None;
                        }
                        if self.stack.len() == rec.base {
                            self.flush(chunk, &mut from, i + 1);
                            if self.finish() {
                                return (i + 1, true);
                            }
                        }
                    } else if !matched {
                        // An envelope closed by the wrong bracket: report it once.
                        self.records += 1;
                        self.pending = Some(Pending::Error(SplitError {
                            number: self.records,
                            line: self.line,
                            problem: SplitProblem::Unbalanced,
                        }));
                        return (i + 1, true);
                    }
                }
                b':' => self.expect_key = false,
                b',' => {
                    self.env_key = None;
                    self.expect_key = matches!(self.top(), Some(OBJ | ENV));
                }
                _ => {
                    // Part of a number or literal.
                    self.env_key = None;
                    if self.rec.is_none() && self.at_record_position() {
                        self.start(false, true);
                    }
                }
            }
            i += 1;
        }
        self.flush(chunk, &mut from, chunk.len());
        (chunk.len(), false)
    }

    fn end_of_input(&mut self) -> bool {
        if let Some(rec) = self.rec.take() {
            let problem = if rec.scalar && !self.in_string && rec.overflow == 0 {
                SplitProblem::NotAnObject
            } else if rec.silent {
                SplitProblem::Unclosed
            } else {
                SplitProblem::Truncated
            };
            self.stack.clear();
            self.buf.clear();
            self.pending = Some(Pending::Error(SplitError {
                number: if rec.silent {
                    self.records + 1
                } else {
                    rec.number
                },
                line: rec.line,
                problem,
            }));
            return true;
        }
        if !self.stack.is_empty() {
            self.stack.clear();
            self.pending = Some(Pending::Error(SplitError {
                number: self.records + 1,
                line: self.line,
                problem: SplitProblem::Unclosed,
            }));
            return true;
        }
        false
    }
}

/// `fill_buf`, retried when interrupted.
fn fill<R: BufRead>(input: &mut R) -> io::Result<&[u8]> {
    while let Err(e) = input.fill_buf() {
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    input.fill_buf()
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read};

    use super::*;

    /// What a split produced, in a form easy to compare.
    #[derive(Debug, PartialEq, Eq)]
    enum Item {
        Rec(u64, u64, String),
        Err(u64, u64, String),
    }

    fn rec(n: u64, line: u64, s: &str) -> Item {
        Item::Rec(n, line, s.to_owned())
    }

    fn err(n: u64, line: u64, s: &str) -> Item {
        Item::Err(n, line, s.to_owned())
    }

    fn split_with(input: &[u8], chunk: usize, max: usize) -> Vec<Item> {
        let mut s = Splitter::new(BufReader::with_capacity(chunk, input), max);
        let mut out = Vec::new();
        while let Some(item) = s.next_record() {
            out.push(match item {
                Ok(r) => Item::Rec(r.number, r.line, String::from_utf8_lossy(r.bytes).into()),
                Err(e) => Item::Err(e.number, e.line, e.problem.to_string()),
            });
            assert!(out.len() < 10_000, "runaway");
        }
        out
    }

    /// Splits with several chunk sizes and checks they agree: records and keys that
    /// straddle reads must not change the outcome.
    fn split(input: &str, max: usize) -> Vec<Item> {
        let whole = split_with(input.as_bytes(), 64 * 1024, max);
        for chunk in [1, 2, 3, 7, 16] {
            assert_eq!(
                split_with(input.as_bytes(), chunk, max),
                whole,
                "chunk {chunk}"
            );
        }
        whole
    }

    #[test]
    fn json_lines_with_blank_lines_crlf_and_a_broken_line() {
        let got = split(
            "{\"a\":1}\r\n\n  {\"b\":\"}\"}\n{\"c\":\n{\"d\":[1]}\n",
            1024,
        );
        assert_eq!(
            got,
            [
                rec(1, 1, "{\"a\":1}"),
                rec(2, 3, "{\"b\":\"}\"}"),
                // Truncated: its own line only; serde will refuse it.
                rec(3, 4, "{\"c\":"),
                rec(4, 5, "{\"d\":[1]}"),
            ]
        );
    }

    #[test]
    fn array_elements_with_brackets_and_escapes_in_strings() {
        let got = split(
            "[\n {\"a\":\"x]}\\\"[{\"},\n {\"b\":{\"c\":[1,2]}}\n]\n",
            1024,
        );
        assert_eq!(
            got,
            [
                rec(1, 2, r#"{"a":"x]}\"[{"}"#),
                rec(2, 3, r#"{"b":{"c":[1,2]}}"#),
            ]
        );
    }

    #[test]
    fn pretty_printed_objects_one_after_another() {
        let got = split("{\n  \"a\": 1\n}\n{\n  \"b\": [\n 2\n ]\n}", 1024);
        assert_eq!(
            got,
            [
                rec(1, 1, "{\n  \"a\": 1\n}"),
                rec(2, 4, "{\n  \"b\": [\n 2\n ]\n}")
            ]
        );
    }

    #[test]
    fn envelopes_event_hub_graph_and_duo() {
        let got = split(r#"{"records":[{"a":1},{"b":2}]}"#, 1024);
        assert_eq!(got, [rec(1, 1, r#"{"a":1}"#), rec(2, 1, r#"{"b":2}"#)]);

        let got = split(
            r#"{"@odata.context":"x","value":[{"id":"1"}],"@odata.nextLink":"y"}"#,
            1024,
        );
        assert_eq!(got, [rec(1, 1, r#"{"id":"1"}"#)]);

        // Duo v2, with the metadata before and after the records, and `stat` first.
        let duo = r#"{"stat":"OK","response":{"metadata":{"next_offset":["1",{"x":[]}]},"authlogs":[{"txid":"t1"},{"txid":"t2"}],"more":{"y":1}}}"#;
        assert_eq!(
            split(duo, 1024),
            [rec(1, 1, r#"{"txid":"t1"}"#), rec(2, 1, r#"{"txid":"t2"}"#)]
        );
        // Duo v1: `response` is the list.
        assert_eq!(
            split(r#"{"response":[{"txid":"t"}],"stat":"OK"}"#, 1024),
            [rec(1, 1, r#"{"txid":"t"}"#)]
        );
        // Batches one per line, and an array of batches.
        let got = split(
            "{\"records\":[{\"a\":1}]}\n{\"records\":[{\"b\":2}]}\n",
            1024,
        );
        assert_eq!(got, [rec(1, 1, r#"{"a":1}"#), rec(2, 2, r#"{"b":2}"#)]);
        let got = split(
            r#"[{"records":[{"a":1}]},{"records":[{"b":2},{"c":3}]}]"#,
            1024,
        );
        assert_eq!(
            got,
            [
                rec(1, 1, r#"{"a":1}"#),
                rec(2, 1, r#"{"b":2}"#),
                rec(3, 1, r#"{"c":3}"#)
            ]
        );
    }

    #[test]
    fn a_record_that_only_has_envelope_like_keys_deeper_down_is_a_record() {
        let input = r#"{"a":{"records":[1]},"response":{"x":[2]},"value":"v"}"#;
        assert_eq!(split(input, 1024), [rec(1, 1, input)]);
    }

    #[test]
    fn oversized_records_are_skipped_and_the_stream_goes_on() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(100));
        let input = format!("[{{\"s\":1}},{big},{{\"t\":2}}]");
        assert_eq!(
            split(&input, 50),
            [
                rec(1, 1, r#"{"s":1}"#),
                err(2, 1, "record longer than 50 bytes"),
                rec(3, 1, r#"{"t":2}"#),
            ]
        );
        let input = format!("{{\"s\":1}}\n{big}\n{{\"t\":2}}\n");
        assert_eq!(
            split(&input, 50),
            [
                rec(1, 1, r#"{"s":1}"#),
                err(2, 2, "record longer than 50 bytes"),
                rec(3, 3, r#"{"t":2}"#),
            ]
        );
    }

    #[test]
    fn deep_nesting_is_counted_not_stored() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let input = format!("[{deep},{{\"t\":2}}]");
        let got = split_with(input.as_bytes(), 4096, 1 << 20);
        assert_eq!(
            got,
            [
                err(1, 1, "record nested deeper than 128 levels"),
                rec(2, 1, r#"{"t":2}"#),
            ]
        );
    }

    #[test]
    fn truncation_unclosed_arrays_and_bad_brackets() {
        assert_eq!(
            split(r#"[{"a":1},{"b":"#, 1024),
            [
                rec(1, 1, r#"{"a":1}"#),
                err(2, 1, "input ended inside the record")
            ]
        );
        assert_eq!(
            split(r#"[{"a":1},{"b":2}"#, 1024),
            [
                rec(1, 1, r#"{"a":1}"#),
                rec(2, 1, r#"{"b":2}"#),
                err(
                    3,
                    1,
                    "input ended before the enclosing array or envelope closed"
                ),
            ]
        );
        assert_eq!(
            split(r#"[{"a":[1}],{"b":2}]"#, 1024),
            [err(1, 1, "mismatched brackets"), rec(2, 1, r#"{"b":2}"#)]
        );
        assert_eq!(
            split("}\n{\"a\":1}\n", 1024),
            [
                err(1, 1, "unexpected '}' outside any record"),
                rec(2, 2, r#"{"a":1}"#)
            ]
        );
        assert_eq!(
            split(r#"{"a":"unterminated"#, 1024),
            [err(1, 1, "input ended inside the record")]
        );
    }

    #[test]
    fn scalars_where_records_belong() {
        assert_eq!(
            split(r#"[1, "x]", true, {"a":1}]"#, 1024),
            [
                err(1, 1, "not a JSON object"),
                err(2, 1, "not a JSON object"),
                err(3, 1, "not a JSON object"),
                rec(4, 1, r#"{"a":1}"#),
            ]
        );
        assert_eq!(split("", 1024), []);
        assert_eq!(split(" \n\n ", 1024), []);
        assert_eq!(split("\u{feff}{\"a\":1}", 1024), [rec(1, 1, r#"{"a":1}"#)]);
    }

    /// An endless array of small records: generated on the fly, never held whole.
    struct Endless {
        emitted: u64,
        limit: u64,
        pending: Vec<u8>,
    }

    impl Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.pending.is_empty() {
                if self.emitted == 0 {
                    self.pending.extend_from_slice(b"[");
                } else if self.emitted > self.limit {
                    return Ok(0);
                } else {
                    let sep = if self.emitted > 1 { "," } else { "" };
                    let rec = format!(
                        "{sep}{{\"n\":{},\"pad\":\"{}\"}}",
                        self.emitted,
                        "p".repeat(40)
                    );
                    self.pending.extend_from_slice(rec.as_bytes());
                }
                self.emitted += 1;
            }
            let n = out.len().min(self.pending.len());
            out[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn a_large_array_streams_in_constant_memory_even_if_it_never_closes() {
        let input = Endless {
            emitted: 0,
            limit: 200_000,
            pending: Vec::new(),
        };
        let mut s = Splitter::new(BufReader::new(input), 1 << 20);
        let (mut records, mut errors, mut widest) = (0u64, Vec::new(), 0usize);
        while let Some(item) = s.next_record() {
            match item {
                Ok(r) => {
                    records += 1;
                    assert_eq!(r.number, records);
                }
                Err(e) => errors.push(e.problem.to_string()),
            }
            widest = widest.max(s.st.buf.capacity()).max(s.st.stack.capacity());
        }
        assert_eq!(records, 200_000);
        assert_eq!(
            errors,
            ["input ended before the enclosing array or envelope closed"]
        );
        assert!(widest < 1024, "buffer grew to {widest} bytes");
    }
}
