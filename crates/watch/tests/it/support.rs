//! Reading files and collecting what the reader made of them.

use std::path::PathBuf;

use pushback_model::{AuthEvent, EventKind};
use pushback_watch::input::{EventReader, ReaderSettings, RecordError};
use pushback_watch::{Format, Normalised, Skip};

pub fn corpus(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Everything one input produced, in order.
#[derive(Debug, Default)]
pub struct Run {
    pub format: Option<Format>,
    /// Per record: its line and events (empty for a skip).
    pub records: Vec<(u64, Vec<AuthEvent>)>,
    pub skips: Vec<(u64, Skip)>,
    pub errors: Vec<RecordError>,
}

impl Run {
    pub fn events(&self) -> impl Iterator<Item = &AuthEvent> {
        self.records.iter().flat_map(|(_, e)| e)
    }

    pub fn kinds(&self) -> Vec<EventKind> {
        self.events().map(|e| e.kind).collect()
    }

    /// The first event of the record that starts on `line`.
    pub fn at_line(&self, line: u64) -> &AuthEvent {
        self.records
            .iter()
            .find(|(l, e)| *l == line && !e.is_empty())
            .map(|(_, e)| &e[0])
            .unwrap_or_else(|| panic!("no event from line {line}"))
    }

    pub fn error_texts(&self) -> Vec<String> {
        self.errors.iter().map(ToString::to_string).collect()
    }
}

pub fn read_with(input: &[u8], settings: ReaderSettings) -> Run {
    let mut reader = EventReader::new(input, settings);
    let mut run = Run::default();
    for item in reader.by_ref() {
        match item {
            Ok(record) => match record.outcome {
                Normalised::Events(events) => {
                    run.records
                        .push((record.line, events.into_iter().map(|e| *e).collect()));
                }
                Normalised::Skipped(skip) => {
                    run.records.push((record.line, Vec::new()));
                    run.skips.push((record.line, skip));
                }
            },
            Err(e) => run.errors.push(e),
        }
    }
    run.format = reader.format();
    run
}

pub fn read(input: &[u8]) -> Run {
    read_with(input, ReaderSettings::default())
}
