//! The parallel reader against the sequential one: the same items in the same order,
//! so the same findings, whatever the thread count, shape or compression.

use std::io::{Cursor, Write as _};

use pushback_model::Finding;
use pushback_watch::input::{EventReader, ParallelReader, Reader, ReaderSettings};
use pushback_watch::rule::RuleSet;
use pushback_watch::{Engine, EngineSettings, Format, Record, RecordError};

/// An Okta log of `n` records over `users` users, with a flood of denials (classic and
/// OIE) for every 97th user and a broken line every 1,000 records.
fn okta_log(n: usize, users: usize) -> String {
    let mut out = String::new();
    let mut t = 1_793_577_600_000i64;
    for i in 0..n {
        t += 250;
        let user = i % users;
        let flood = user.is_multiple_of(97) && (i / users) % 40 < 6;
        let (event_type, outcome, debug) = match (flood, i % 5) {
            (true, 0 | 2 | 4) => (
                "user.mfa.okta_verify.deny_push",
                r#"{"result":"SUCCESS"}"#,
                "{}",
            ),
            (true, _) => (
                "user.authentication.auth_via_mfa",
                r#"{"result":"FAILURE","reason":"INVALID_CREDENTIALS"}"#,
                r#"{"factor":"OKTA_VERIFY_PUSH"}"#,
            ),
            (false, 0) => ("user.authentication.sso", r#"{"result":"SUCCESS"}"#, "{}"),
            (false, 1) => (
                "user.authentication.auth_via_mfa",
                r#"{"result":"SUCCESS"}"#,
                r#"{"factor":"OKTA_VERIFY_PUSH"}"#,
            ),
            _ => ("policy.evaluate_sign_on", r#"{"result":"ALLOW"}"#, "{}"),
        };
        let secs = t / 1000;
        let published = format!(
            "2026-11-02T{:02}:{:02}:{:02}.{:03}Z",
            (secs / 3600) % 24,
            (secs / 60) % 60,
            secs % 60,
            t % 1000
        );
        if i % 1000 == 999 {
            out.push_str("{\"uuid\":\"broken\",\n");
            continue;
        }
        out.push_str(&format!(
            r#"{{"uuid":"e{i}","published":"{published}","eventType":"{event_type}","actor":{{"id":"00u{user}","type":"User","alternateId":"user{user}@example.com"}},"client":{{"ipAddress":"198.51.100.{}"}},"outcome":{outcome},"debugContext":{{"debugData":{debug}}},"padding":"{}"}}"#,
            user % 250,
            "x".repeat(i % 300)
        ));
        out.push('\n');
    }
    out
}

/// `log`'s records (the unbroken ones) as a JSON array, and `log` gzipped.
fn array_and_gzip(log: &str) -> (String, Vec<u8>) {
    let array = format!(
        "[\n{}\n]\n",
        log.lines()
            .filter(|l| !l.contains("broken"))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(log.as_bytes()).unwrap();
    (array, gz.finish().unwrap())
}

/// One reader's items, comparable: (number, line, events or the error text).
fn items(reader: impl Iterator<Item = Result<Record, RecordError>>) -> Vec<(u64, u64, String)> {
    reader
        .map(|item| match item {
            Ok(r) => (r.number, r.line, format!("{:?}", r.outcome)),
            Err(e) => (e.number, e.line, e.to_string()),
        })
        .collect()
}

fn findings(reader: impl Iterator<Item = Result<Record, RecordError>>) -> Vec<Finding> {
    let mut engine = Engine::new(RuleSet::builtin().unwrap(), EngineSettings::default());
    let mut out = Vec::new();
    for record in reader.flatten() {
        for e in record.outcome.into_events() {
            engine.observe_into(e, &mut out);
        }
    }
    out.extend(engine.finish());
    out
}

/// [`findings`], handing spent events back to the reader's threads as `pushback watch`
/// does; also how many were handed back and how many the engine evaluated.
fn findings_recycled(mut reader: Reader<Cursor<String>>) -> (Vec<Finding>, u64, u64) {
    let mut engine = Engine::new(RuleSet::builtin().unwrap(), EngineSettings::default());
    engine.keep_spent(true);
    let mut out = Vec::new();
    let mut recycled = 0;
    while let Some(item) = reader.next() {
        let Ok(record) = item else { continue };
        for e in record.outcome.into_events() {
            engine.observe_into(e, &mut out);
        }
        if engine.spent_len() >= 64 {
            let spent = engine.take_spent();
            recycled += spent.len() as u64;
            reader.recycle(spent);
        }
    }
    out.extend(engine.finish());
    recycled += engine.take_spent().len() as u64;
    (out, recycled, engine.stats().evaluated)
}

#[test]
fn findings_and_records_are_the_same_on_one_thread_and_on_several() {
    let log = okta_log(30_000, 400);
    let sequential = findings(EventReader::new(log.as_bytes(), ReaderSettings::default()));
    assert!(
        sequential
            .iter()
            .filter(|f| f.rule_id == "push_flood")
            .count()
            >= 3,
        "the input must hold floods: {sequential:?}"
    );
    for threads in [1, 2, 3] {
        let reader = Reader::new(Cursor::new(log.clone()), ReaderSettings::default(), threads);
        assert_eq!(findings(reader), sequential, "{threads} threads");
        let reader = Reader::new(Cursor::new(log.clone()), ReaderSettings::default(), threads);
        let (found, recycled, evaluated) = findings_recycled(reader);
        assert_eq!(
            found, sequential,
            "{threads} threads, spent events recycled"
        );
        assert_eq!(recycled, evaluated, "every evaluated event was handed back");
    }
    let want = items(EventReader::new(log.as_bytes(), ReaderSettings::default()));
    assert_eq!(want.len(), 30_000);
    assert_eq!(
        want.iter().filter(|(_, _, s)| s.contains("EOF")).count(),
        30
    );
    let mut reader = ParallelReader::new(Cursor::new(log.clone()), ReaderSettings::default(), 2);
    assert_eq!(reader.format(), None, "not known before a record was read");
    let first = reader.next();
    assert!(matches!(first, Some(Ok(_))));
    assert_eq!(reader.format(), Some(Format::Okta));
    assert_eq!(
        items(ParallelReader::new(
            Cursor::new(log),
            ReaderSettings::default(),
            4
        )),
        want
    );
}

#[test]
fn arrays_gzip_and_unrecognised_first_records_read_the_same() {
    let log = okta_log(5_000, 50);
    let (array, gz) = array_and_gzip(&log);
    let odd = format!("{{\"neither\":1}}\nnot json\n{log}");
    for input in [array.into_bytes(), gz, odd.into_bytes()] {
        let want = items(EventReader::new(&input[..], ReaderSettings::default()));
        let got = items(ParallelReader::new(
            Cursor::new(input),
            ReaderSettings::default(),
            2,
        ));
        assert_eq!(got, want);
    }
}

#[test]
fn entra_flows_are_counted_in_order_across_chunks() {
    // More rows than a chunk holds, each flow repeating its step in a later row.
    let declined = "MFA denied; user declined the authentication";
    let mut rows = Vec::new();
    for i in 0..3_000 {
        let step = format!("2019-10-18T09:{:02}:{:02}Z", (i / 60) % 60, i % 60);
        rows.push(crate::entra::mfa_row(
            500121,
            declined,
            &step,
            &format!("r{i}"),
        ));
        if i % 3 == 0 {
            rows.push(crate::entra::mfa_row(
                500121,
                declined,
                &step,
                &format!("again{i}"),
            ));
        }
    }
    let log = rows.join("\n");
    let want = items(EventReader::new(log.as_bytes(), ReaderSettings::default()));
    assert_eq!(
        want.iter()
            .filter(|(_, _, s)| s.contains("RepeatedStep"))
            .count(),
        1_000
    );
    let got = items(ParallelReader::new(
        Cursor::new(log),
        ReaderSettings::default(),
        2,
    ));
    assert_eq!(got, want);
}

/// `bytes` in a file of its own.
fn file_of(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file.flush().unwrap();
    file
}

#[test]
fn files_shared_out_in_blocks_read_the_same_at_every_block_size() {
    let settings = || ReaderSettings {
        max_record_bytes: 600,
        ..ReaderSettings::default()
    };
    let log = okta_log(300, 30);
    // Tiny blocks cost a handful of system calls each: a shorter log for them, with
    // some of the long lines.
    let short: String = log
        .lines()
        .enumerate()
        .filter(|(i, _)| *i < 10 || *i >= 290)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    for (log, block_sizes) in [(short, &[1, 7][..]), (log, &[64, 1_000, 1 << 20][..])] {
        // Blank and white-space lines, CRLF endings, lines longer than the limit (600
        // bytes), no newline at the very end.
        let mut odd = String::new();
        for (i, line) in log.lines().enumerate() {
            match i % 9 {
                0 => odd.push_str(&format!("{line}\r\n")),
                1 => odd.push_str(&format!("\n  \t\n{line}\n")),
                2 => odd.push_str(&format!("  {line}   \n")),
                _ => odd.push_str(&format!("{line}\n")),
            }
        }
        odd.pop();
        // A byte-order mark and blank lines before the first record, and two values on
        // the first line (the second is read as a line of its own).
        let first = log.lines().next().unwrap();
        let headed = format!("\u{feff}\n \n{first} {first}\n{log}");
        for input in [log.as_str(), odd.as_str(), headed.as_str()] {
            let want = items(EventReader::new(input.as_bytes(), settings()));
            assert!(want.iter().any(|(_, _, s)| s.contains("longer than")));
            let file = file_of(input.as_bytes());
            for &block_bytes in block_sizes {
                for workers in [1, 3] {
                    let settings = ReaderSettings {
                        block_bytes,
                        ..settings()
                    };
                    let reader =
                        ParallelReader::from_file(file.reopen().unwrap(), settings, workers);
                    assert_eq!(
                        reader.format(),
                        Some(Format::Okta),
                        "read in blocks: the format is known from the first line"
                    );
                    assert_eq!(
                        items(reader),
                        want,
                        "{block_bytes}-byte blocks, {workers} workers"
                    );
                }
            }
        }
    }
    // Findings, with spent events handed back, on a file large enough for many blocks.
    let log = okta_log(30_000, 400);
    let sequential = findings(EventReader::new(log.as_bytes(), ReaderSettings::default()));
    let file = file_of(log.as_bytes());
    for threads in [2, 3] {
        let settings = ReaderSettings {
            block_bytes: 100_000,
            ..ReaderSettings::default()
        };
        let mut reader = Reader::from_file(file.reopen().unwrap(), settings, threads);
        let mut engine = Engine::new(RuleSet::builtin().unwrap(), EngineSettings::default());
        let mut found = Vec::new();
        while let Some(item) = reader.next() {
            let Ok(record) = item else { continue };
            for e in record.outcome.into_events() {
                engine.observe_into(e, &mut found);
            }
            reader.recycle_from(&mut engine);
        }
        found.extend(engine.finish());
        assert_eq!(found, sequential, "{threads} threads");
    }
}

#[test]
fn files_that_do_not_suit_blocks_are_read_as_streams() {
    let log = okta_log(2_000, 50);
    let (array, gz) = array_and_gzip(&log);
    let unrecognised_first = format!("{{\"neither\":1}}\n{log}");
    let first = log.lines().next().unwrap();
    let unrecognised_then_okta = format!("{{\"neither\":1}} {first}\n{log}");
    let pretty_first = format!("{{\n\"uuid\": \"x\"\n}}\n{log}");
    let entra = crate::entra::mfa_row(500121, "MFA denied", "2019-10-18T09:00:00Z", "r1");
    let entra = format!("{entra}\n{entra}\n");
    for input in [
        array.into_bytes(),
        gz,
        unrecognised_first.into_bytes(),
        unrecognised_then_okta.into_bytes(),
        pretty_first.into_bytes(),
        entra.into_bytes(),
        log.lines().next().unwrap().as_bytes().to_vec(),
        Vec::new(),
    ] {
        let want = items(EventReader::new(&input[..], ReaderSettings::default()));
        let file = file_of(&input);
        let settings = ReaderSettings {
            block_bytes: 64,
            ..ReaderSettings::default()
        };
        let reader = ParallelReader::from_file(file.reopen().unwrap(), settings, 2);
        assert_eq!(
            reader.format(),
            None,
            "read as a stream: no format known yet"
        );
        assert_eq!(items(reader), want);
    }
}
