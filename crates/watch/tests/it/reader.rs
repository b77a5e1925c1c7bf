//! The reader as a user meets it: gzip, format guessing and overriding, and bad
//! records reported with their place while the rest of the input is still read.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use pushback_model::EventKind;
use pushback_watch::Format;
use pushback_watch::input::{ReaderSettings, RecordProblem, SplitProblem};

use crate::support::{corpus, read, read_with};

const DUO: &str = "elastic-integrations/cisco_duo_auth_test-auth.log";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn gzip_is_recognised_by_its_magic_bytes() {
    let plain = corpus(DUO);
    let zipped = gzip(&plain);
    let a = read(&plain);
    let b = read(&zipped);
    assert_eq!(b.format, Some(Format::Duo));
    assert!(b.errors.is_empty(), "{:?}", b.error_texts());
    assert_eq!(b.events().count(), 21);
    assert_eq!(
        a.events().cloned().collect::<Vec<_>>(),
        b.events().cloned().collect::<Vec<_>>()
    );
    // Two gzip members back to back (as `cat a.gz b.gz` makes) are read as one stream.
    let mut twice = zipped.clone();
    twice.extend_from_slice(&zipped);
    assert_eq!(read(&twice).events().count(), 42);
}

#[test]
fn a_corrupt_gzip_stream_stops_the_reader_with_one_error() {
    let mut zipped = gzip(&corpus(DUO));
    let mid = zipped.len() / 2;
    zipped.truncate(mid);
    let run = read(&zipped);
    assert_eq!(run.errors.len(), 1, "{:?}", run.error_texts());
    assert!(run.errors[0].is_fatal());
    assert!(run.records.len() < 19);
}

#[test]
fn bad_records_are_reported_with_their_line_and_reading_goes_on() {
    let good = String::from_utf8(corpus(DUO)).unwrap();
    let good: Vec<&str> = good.lines().collect();
    let huge = format!(
        "{{\"txid\":\"h\",\"isotimestamp\":\"2021-07-23T07:19:34Z\",\"user\":{{\"name\":\"{}\"}}}}",
        "x".repeat(5000)
    );
    let deep = format!(
        "{{\"txid\":\"d\",\"timestamp\":1627024774,\"user\":{{\"name\":\"deep\"}},\"x\":{}1{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let mut input = Vec::new();
    for line in [
        good[4],                                                                   // 1: fine
        r#"{"txid":"t","isotimestamp":"2021-07-23T07:19:34"#,                      // 2: truncated
        r#"{"txid":"t","isotimestamp":"2021-07-23T07:19:34Z","user":"narroway"}"#, // 3: wrong type
        &huge,                                                                     // 4: too long
        &deep, // 5: deep, but only in a field nobody reads: fine
        r#"{"txid":"t","timestamp":1627024774,"user":{"name":"narroway"}}"#, // 6: fine
    ] {
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
    }
    // 7: invalid UTF-8 inside a string.
    input.extend_from_slice(
        b"{\"txid\":\"t\",\"timestamp\":1627024774,\"user\":{\"name\":\"\xff\xfe\"}}\n",
    );
    input.extend_from_slice(good[1].as_bytes()); // 8: fine, no final newline
    let settings = ReaderSettings {
        max_record_bytes: 4096,
        ..ReaderSettings::default()
    };
    let run = read_with(&input, settings);
    let lines: Vec<u64> = run.records.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [1, 5, 6, 8]);
    let errors: Vec<(u64, u64)> = run.errors.iter().map(|e| (e.number, e.line)).collect();
    assert_eq!(errors, [(2, 2), (3, 3), (4, 4), (7, 7)]);
    let texts = run.error_texts();
    assert!(texts[0].contains("EOF while parsing"), "{}", texts[0]);
    assert!(
        texts[1].contains("invalid type: string \"narroway\""),
        "{}",
        texts[1]
    );
    assert_eq!(texts[2], "record 4 (line 4): record longer than 4096 bytes");
    assert!(texts[3].contains("invalid unicode"), "{}", texts[3]);
    assert!(run.errors.iter().all(|e| !e.is_fatal()));
    assert_eq!(
        run.kinds(),
        [
            EventKind::PushDenied,
            EventKind::Other,
            EventKind::Other,
            EventKind::MfaSuccess
        ]
    );
    // In an array, where the splitter tracks brackets, nesting past 128 levels is
    // reported; the next element is still read.
    let input = format!("[{deep},\n{}]", good[4]);
    let run = read(input.as_bytes());
    assert_eq!(
        run.error_texts(),
        ["record 1 (line 1): record nested deeper than 128 levels"]
    );
    assert_eq!(run.kinds(), [EventKind::PushDenied]);
}

#[test]
fn an_array_that_never_closes_still_yields_its_records() {
    let good = String::from_utf8(corpus(DUO)).unwrap();
    let body: Vec<&str> = good.lines().take(3).collect();
    let input = format!("[\n{}\n", body.join(",\n"));
    let run = read(input.as_bytes());
    assert_eq!(run.records.len(), 3);
    assert_eq!(run.errors.len(), 1);
    assert!(matches!(
        run.errors[0].problem,
        RecordProblem::Split(SplitProblem::Unclosed)
    ));
}

#[test]
fn the_format_is_guessed_from_the_first_recognisable_record_or_set() {
    // A leading record of no known shape is reported; the next one decides.
    let mut input = b"{\"hello\":\"world\"}\nnot json\n".to_vec();
    input.extend_from_slice(&corpus(DUO));
    let run = read(&input);
    assert_eq!(run.format, Some(Format::Duo));
    let texts = run.error_texts();
    assert_eq!(
        texts[0],
        "record 1 (line 1): not an Okta, Entra or Duo record"
    );
    assert!(
        texts[1].starts_with("record 2 (line 2): expected ident"),
        "{}",
        texts[1]
    );
    assert_eq!(run.records.len(), 19);

    // Told it is Okta, Duo records are missing Okta's fields, one error each.
    let settings = ReaderSettings {
        format: Some(Format::Okta),
        ..ReaderSettings::default()
    };
    let run = read_with(&corpus(DUO), settings);
    assert_eq!(run.format, Some(Format::Okta));
    assert_eq!(run.errors.len(), 19);
    assert!(run.error_texts()[0].ends_with("missing eventType"));
}
