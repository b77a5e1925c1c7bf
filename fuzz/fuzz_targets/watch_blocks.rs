//! A file shared out in blocks (`ParallelReader::from_file`) on arbitrary bytes: never
//! panics, and gives exactly the records and errors, numbers and lines of the streaming
//! reader, whatever the block size, with one or two normalising threads. The first byte
//! picks the format (guessed, Okta, Entra, Duo), the block size (1–64 bytes) and the
//! thread count.

#![no_main]

use std::io::{Seek, Write};
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;

use pushback_watch::Format;
use pushback_watch::input::{EventReader, ParallelReader, ReaderSettings, Record, RecordError};

/// One scratch file, rewritten for every input.
fn scratch() -> &'static Mutex<tempfile::NamedTempFile> {
    static FILE: OnceLock<Mutex<tempfile::NamedTempFile>> = OnceLock::new();
    FILE.get_or_init(|| Mutex::new(tempfile::NamedTempFile::new().expect("a scratch file")))
}

/// The items as comparable text.
fn items(reader: impl Iterator<Item = Result<Record, RecordError>>) -> Vec<String> {
    reader
        .map(|item| match item {
            Ok(r) => format!("{} {} {:?}", r.number, r.line, r.outcome),
            Err(e) => format!("{} {} {e}", e.number, e.line),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let settings = ReaderSettings {
        format: match selector & 3 {
            1 => Some(Format::Okta),
            2 => Some(Format::Entra),
            3 => Some(Format::Duo),
            _ => None,
        },
        max_record_bytes: 256,
        block_bytes: u64::from((selector >> 2) & 63) + 1,
        ..ReaderSettings::default()
    };
    let workers = if selector & 0x80 == 0 { 1 } else { 2 };
    let want = items(EventReader::new(data, settings.clone()));
    let mut scratch = scratch().lock().unwrap_or_else(|e| e.into_inner());
    let file = scratch.as_file_mut();
    file.set_len(0).expect("truncating the scratch file");
    file.rewind().expect("rewinding the scratch file");
    file.write_all(data).expect("writing the scratch file");
    let file = scratch.reopen().expect("reopening the scratch file");
    let got = items(ParallelReader::from_file(file, settings, workers));
    assert_eq!(got, want);
});
