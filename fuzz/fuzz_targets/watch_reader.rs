//! The streaming reader on arbitrary bytes (JSON lines, arrays, envelopes, gzip): never
//! panics, numbers records in increasing order, stops after a fatal error, and gives
//! the same answers whatever sizes the input arrives in (unless it ends in a fatal error:
//! how much of a corrupt gzip stream decodes before the error depends on read sizes).
//! The first byte picks the format (guessed, Okta, Entra, Duo) and how the input
//! trickles in.

#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;

use pushback_watch::Format;
use pushback_watch::input::{EventReader, ReaderSettings};

/// Hands out at most `step` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The records and errors as text, and whether reading ended in a fatal error.
fn run(input: impl Read, settings: &ReaderSettings) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut last_number = 0;
    let mut fatal = false;
    for item in EventReader::new(input, settings.clone()) {
        assert!(!fatal, "nothing follows a fatal error");
        let (number, text) = match item {
            Ok(record) => (record.number, format!("{record:?}")),
            Err(e) => {
                fatal = e.is_fatal();
                (e.number, e.to_string())
            }
        };
        assert!(number >= last_number, "record numbers never go back");
        last_number = number;
        out.push(text);
    }
    (out, fatal)
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
        max_record_bytes: 4096,
        ..ReaderSettings::default()
    };
    let (whole, whole_fatal) = run(data, &settings);
    let step = usize::from(selector >> 2) % 13 + 1;
    let (trickled, trickled_fatal) = run(Trickle { data, step }, &settings);
    if !whole_fatal && !trickled_fatal {
        assert_eq!(trickled, whole);
    }
});
