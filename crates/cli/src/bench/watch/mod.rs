//! `pushback bench watch`: detection throughput over a generated Okta System Log, with
//! the answers known.
//!
//! - `generate --events N --users U --out DIR` writes `okta.jsonl` (N events, one per
//!   line) and `truth.json`, plus `okta.json` (a JSON array of `--array-events`
//!   events, generated on their own) and `truth-array.json`; see [`generate`].
//! - `run DIR [--threads 1,2] [--input jsonl|json] [--json]` reads the log once per
//!   thread count the way `pushback watch` does (file bytes → split → normalise →
//!   engine with the built-in rules → findings), times it end to end, reads the peak
//!   resident memory, and checks the findings against the truth: every injected flood
//!   reported as `push_flood` for its user with its window (first to fifth denial), no
//!   other `push_flood`, and no finding of any rule for a near-miss user.
//!
//! Peak memory is the process's `VmHWM` from `/proc/self/status`, reset before each
//! measurement by writing `5` to `/proc/self/clear_refs` (Linux), so each row shows its
//! own peak, generator and earlier rows excluded. Where the reset is refused the row says
//! `(since start)`.

pub mod generate;

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Serialize;

use pushback_model::Finding;
use pushback_watch::input::{Reader, ReaderSettings};
use pushback_watch::rule::RuleSet;
use pushback_watch::{Engine, EngineSettings};

use crate::output;
use generate::{Spec, Truth};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Write a synthetic Okta log with injected floods and near misses, and its truth.
    Generate {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 5_000)]
        users: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Events in the JSON-array copy (`okta.json`); 0 for none.
        #[arg(long, default_value_t = 200_000)]
        array_events: u64,
        /// Where to write (created if missing). Keep it out of the repository.
        #[arg(long)]
        out: PathBuf,
    },
    /// Time detection over a generated log and check its findings against the truth.
    Run {
        /// A directory written by `generate`.
        dir: PathBuf,
        /// Thread counts to measure, one run each (1: everything on one thread).
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        /// Which copy to read: `jsonl` (okta.jsonl) or `json` (the array, okta.json).
        #[arg(long, default_value = "jsonl")]
        input: InputKind,
        /// Measure every thread count this many times, in turn; the summary gives the
        /// median (the machine is shared, so single runs are noisy).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Also measure what `serve` does every `state_save_interval_ms`: save the
        /// engine's state at the end of the input (before the final judgement), and
        /// take it up in a new engine. Outside the timed part, but its text counts in the
        /// peak RSS.
        #[arg(long)]
        state: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    Jsonl,
    Json,
}

impl InputKind {
    fn files(self) -> (&'static str, &'static str) {
        match self {
            Self::Jsonl => ("okta.jsonl", "truth.json"),
            Self::Json => ("okta.json", "truth-array.json"),
        }
    }
}

/// Runs a `bench watch` command; false when a run's findings missed the truth.
pub fn run(command: Command) -> anyhow::Result<bool> {
    match command {
        Command::Generate {
            events,
            users,
            seed,
            array_events,
            out,
        } => {
            fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let spec = Spec {
                events,
                users,
                seed,
            };
            write_log(&out, "okta.jsonl", "truth.json", &spec, false)?;
            if array_events > 0 {
                let spec = Spec {
                    events: array_events,
                    ..spec
                };
                write_log(&out, "okta.json", "truth-array.json", &spec, true)?;
            }
            Ok(true)
        }
        Command::Run {
            dir,
            threads,
            input,
            repeat,
            state,
            json,
        } => {
            let (log, truth) = input.files();
            let truth: Truth = serde_json::from_slice(
                &fs::read(dir.join(truth))
                    .with_context(|| format!("reading {}", dir.join(truth).display()))?,
            )
            .context("reading the truth file")?;
            let path = dir.join(log);
            let bytes = fs::metadata(&path)
                .with_context(|| format!("opening {}", path.display()))?
                .len();
            let mut rows = Vec::new();
            for &t in std::iter::repeat_n(&threads, repeat.max(1)).flatten() {
                let row = measure(&path, bytes, input, t.max(1), &truth, state)?;
                if let (Some(st), false) = (&row.state, json) {
                    eprintln!(
                        "engine state at the end: {} bytes, {} groups, {} events held; saved in {:.1} ms, taken up in {:.1} ms",
                        st.bytes, st.groups, st.held_events, st.save_ms, st.restore_ms
                    );
                }
                if !json {
                    eprintln!(
                        "{} threads: {:.0} events/s, peak {:.1} MiB, truth {}",
                        row.threads,
                        row.events_per_sec,
                        row.peak_rss_mib,
                        if row.truth.ok { "ok" } else { "MISSED" }
                    );
                }
                rows.push(row);
            }
            let ok = rows.iter().all(|r| r.truth.ok);
            let summary: Vec<Summary> = threads
                .iter()
                .map(|&t| summarise(&rows, t.max(1)))
                .collect();
            if json {
                output::line(&serde_json::to_string_pretty(
                    &serde_json::json!({ "runs": rows, "median": summary }),
                )?);
            } else {
                print_table(&rows);
                if repeat > 1 {
                    output::line("");
                    output::line(
                        "| threads | runs | median events/s | min | max | median peak RSS MiB |",
                    );
                    output::line("| ---: | ---: | ---: | ---: | ---: | ---: |");
                    for s in &summary {
                        output::line(&format!(
                            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.1} |",
                            s.threads,
                            s.runs,
                            s.events_per_sec,
                            s.min_events_per_sec,
                            s.max_events_per_sec,
                            s.peak_rss_mib
                        ));
                    }
                }
            }
            Ok(ok)
        }
    }
}

fn write_log(dir: &Path, log: &str, truth: &str, spec: &Spec, array: bool) -> anyhow::Result<()> {
    let path = dir.join(log);
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let t = generate::write(spec, &mut out, array)
        .with_context(|| format!("writing {}", path.display()))?;
    let truth_path = dir.join(truth);
    fs::write(&truth_path, serde_json::to_string_pretty(&t)?)
        .with_context(|| format!("writing {}", truth_path.display()))?;
    eprintln!(
        "{}: {} events, {} floods, {} near misses ({})",
        path.display(),
        t.events,
        t.floods.len(),
        t.near_misses.len(),
        truth_path.display()
    );
    Ok(())
}

#[derive(Debug, Serialize)]
struct Row {
    input: InputKind,
    threads: usize,
    records: u64,
    bytes: u64,
    /// Events handed to the engine (records watch cares about).
    engine_events: u64,
    bad_records: u64,
    seconds: f64,
    events_per_sec: f64,
    mib_per_sec: f64,
    peak_rss_mib: f64,
    /// Whether the peak was reset before this row (else it covers the whole process).
    peak_reset: bool,
    findings: usize,
    push_flood_findings: usize,
    truth: Check,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<StateCost>,
}

/// What saving and restoring the engine's state cost at the end of the input.
#[derive(Debug, Serialize)]
struct StateCost {
    bytes: usize,
    groups: usize,
    held_events: usize,
    save_ms: f64,
    restore_ms: f64,
}

#[derive(Debug, Default, Serialize)]
struct Check {
    ok: bool,
    floods: usize,
    floods_found: usize,
    /// Floods not reported (user and first denial).
    missed: Vec<String>,
    /// `push_flood` findings that match no injected flood.
    unexpected: Vec<String>,
    near_misses: usize,
    /// Findings of any rule for a near-miss user.
    near_miss_findings: Vec<String>,
}

fn measure(
    path: &Path,
    bytes: u64,
    input: InputKind,
    threads: usize,
    truth: &Truth,
    measure_state: bool,
) -> anyhow::Result<Row> {
    let peak_reset = reset_peak_rss();
    let rules = RuleSet::builtin().context("loading the built-in rules")?;
    #[allow(clippy::disallowed_methods)] // a benchmark measures elapsed time by definition
    let started = std::time::Instant::now();
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut engine = Engine::new(rules, EngineSettings::default());
    let mut findings: Vec<Finding> = Vec::new();
    let (mut records, mut events, mut bad) = (0u64, 0u64, 0u64);
    let mut reader = Reader::from_file(file, ReaderSettings::default(), threads);
    while let Some(item) = reader.next() {
        records += 1;
        match item {
            Ok(record) => {
                for event in record.outcome.into_events() {
                    events += 1;
                    engine.observe_into(event, &mut findings);
                }
                reader.recycle_from(&mut engine);
            }
            Err(e) if e.is_fatal() => bail!("{}: {e}", path.display()),
            Err(_) => bad += 1,
        }
    }
    let mut elapsed = started.elapsed();
    let state = if measure_state {
        Some(state_cost(&engine)?)
    } else {
        None
    };
    #[allow(clippy::disallowed_methods)] // a benchmark measures elapsed time by definition
    let finishing = std::time::Instant::now();
    findings.extend(engine.finish());
    elapsed += finishing.elapsed();
    let peak = peak_rss_bytes().context("reading VmHWM from /proc/self/status")?;
    let secs = elapsed.max(Duration::from_micros(1)).as_secs_f64();
    let check = check(&findings, truth);
    Ok(Row {
        input,
        threads,
        records,
        bytes,
        engine_events: events,
        bad_records: bad,
        seconds: secs,
        events_per_sec: records as f64 / secs,
        mib_per_sec: bytes as f64 / secs / f64::from(1 << 20),
        peak_rss_mib: peak as f64 / f64::from(1 << 20),
        peak_reset,
        findings: findings.len(),
        push_flood_findings: findings
            .iter()
            .filter(|f| f.rule_id == "push_flood")
            .count(),
        truth: Check {
            // A generated log has no broken records; one is a generator bug.
            ok: check.ok && bad == 0,
            ..check
        },
        state,
    })
}

/// Saves `engine`'s state and takes it up in a new engine, timing both.
#[allow(clippy::disallowed_methods)] // a benchmark measures elapsed time by definition
fn state_cost(engine: &Engine) -> anyhow::Result<StateCost> {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let saving = std::time::Instant::now();
    let text = engine.save_state();
    let save_ms = ms(saving.elapsed());
    let mut fresh = Engine::new(
        RuleSet::builtin().context("loading the built-in rules")?,
        EngineSettings::default(),
    );
    let restoring = std::time::Instant::now();
    let restored = fresh
        .restore_state(&text)
        .context("taking up the saved state")?;
    let restore_ms = ms(restoring.elapsed());
    if restored.dropped_windows > 0 {
        bail!("{} windows were not taken up", restored.dropped_windows);
    }
    let stats = fresh.stats();
    Ok(StateCost {
        bytes: text.len(),
        groups: stats.groups,
        held_events: restored.events,
        save_ms,
        restore_ms,
    })
}

/// The median run of one thread count.
#[derive(Debug, Serialize)]
struct Summary {
    threads: usize,
    runs: usize,
    events_per_sec: f64,
    min_events_per_sec: f64,
    max_events_per_sec: f64,
    peak_rss_mib: f64,
}

fn summarise(rows: &[Row], threads: usize) -> Summary {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let of: Vec<&Row> = rows.iter().filter(|r| r.threads == threads).collect();
    let rates: Vec<f64> = of.iter().map(|r| r.events_per_sec).collect();
    Summary {
        threads,
        runs: of.len(),
        events_per_sec: median(rates.clone()),
        min_events_per_sec: rates.iter().copied().fold(f64::INFINITY, f64::min),
        max_events_per_sec: rates.iter().copied().fold(0.0, f64::max),
        peak_rss_mib: median(of.iter().map(|r| r.peak_rss_mib).collect()),
    }
}

/// Compares the findings with what was injected (see the module documentation).
fn check(findings: &[Finding], truth: &Truth) -> Check {
    let floods: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.rule_id == "push_flood")
        .collect();
    let matches = |f: &Finding, flood: &generate::Flood| {
        f.user.as_deref() == Some(flood.user.as_str())
            && f.window_start.millis() == flood.first_denial_ms
            && f.window_end.millis() == flood.fifth_denial_ms
            && f.event_count == 5
    };
    let missed: Vec<String> = truth
        .floods
        .iter()
        .filter(|flood| !floods.iter().any(|f| matches(f, flood)))
        .map(|flood| format!("{} at {}", flood.user, flood.first_denial))
        .collect();
    let unexpected: Vec<String> = floods
        .iter()
        .filter(|f| !truth.floods.iter().any(|flood| matches(f, flood)))
        .map(|f| describe(f))
        .collect();
    let near_miss_findings: Vec<String> = findings
        .iter()
        .filter(|f| {
            truth
                .near_misses
                .iter()
                .any(|n| f.user.as_deref() == Some(n.user.as_str()))
        })
        .map(describe)
        .collect();
    Check {
        ok: missed.is_empty() && unexpected.is_empty() && near_miss_findings.is_empty(),
        floods: truth.floods.len(),
        floods_found: truth.floods.len() - missed.len(),
        missed,
        unexpected,
        near_misses: truth.near_misses.len(),
        near_miss_findings,
    }
}

fn describe(f: &Finding) -> String {
    format!(
        "{} {} at {} ({} events)",
        f.rule_id,
        f.user.as_deref().unwrap_or("-"),
        generate::rfc3339(f.window_start.millis()),
        f.event_count
    )
}

fn print_table(rows: &[Row]) {
    output::line(
        "| input | threads | events | seconds | events/s | MiB/s | peak RSS MiB | findings (push_flood) | floods found | near misses reported | truth |",
    );
    output::line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for r in rows {
        output::line(&format!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.0} | {:.1}{} | {} ({}) | {}/{} | {} | {} |",
            match r.input {
                InputKind::Jsonl => "okta.jsonl",
                InputKind::Json => "okta.json",
            },
            r.threads,
            r.records,
            r.seconds,
            r.events_per_sec,
            r.mib_per_sec,
            r.peak_rss_mib,
            if r.peak_reset { "" } else { " (since start)" },
            r.findings,
            r.push_flood_findings,
            r.truth.floods_found,
            r.truth.floods,
            r.truth.near_miss_findings.len(),
            if r.truth.ok { "ok" } else { "MISSED" },
        ));
    }
    for r in rows {
        for m in &r.truth.missed {
            eprintln!("{} threads: missed flood {m}", r.threads);
        }
        for u in &r.truth.unexpected {
            eprintln!("{} threads: unexpected {u}", r.threads);
        }
        for n in &r.truth.near_miss_findings {
            eprintln!("{} threads: near miss reported: {n}", r.threads);
        }
    }
}

/// Resets the kernel's peak-RSS mark for this process (`clear_refs` value 5, Linux
/// 4.0+); false where that is not possible.
fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `VmHWM`: the peak resident set size, in bytes.
fn peak_rss_bytes() -> anyhow::Result<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM line")?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .context("VmHWM is not a number")?;
    Ok(kib * 1024)
}
