//! `pushback watch FILES…`: findings from exported identity-provider logs.
//!
//! Each input is streamed through the reader (format guessed per input unless
//! `--format`), normalised, and fed to a detection engine. Inputs of the same format
//! share one engine, in the order given, so day-by-day exports of one IdP continue each
//! other's windows; different IdPs get engines of their own, because the engine orders
//! events by time within a bounded disorder tolerance and one IdP's file read after
//! another's would arrive "late".
//!
//! Exit status: 0 without findings, 1 with findings, 2 on error (a bad input, a bad
//! rule, or a bad record under `--strict`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IsTerminal as _, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use pushback_model::{Finding, Timestamp};
use pushback_watch::input::{ParallelReader, Reader, ReaderSettings};
use pushback_watch::rule::RuleSet;
use pushback_watch::{Engine, EngineSettings, Format};

use crate::output;

/// How findings are written to stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// An aligned table (the default on a terminal).
    Table,
    /// One JSON finding per line (the default when stdout is not a terminal).
    Jsonl,
    /// One JSON array.
    Json,
    /// OCSF 1.1 Detection Finding (class 2004), one per line.
    Ocsf,
    /// A Markdown table.
    Markdown,
}

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// Log files (JSON lines or JSON arrays, optionally .gz), or `-` for stdin.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The log format of every input; guessed per input from its first record if unset.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// How to print findings; default: table on a terminal, else jsonl.
    #[arg(long)]
    pub output: Option<Output>,
    /// A directory of Sigma rules (*.yml) that add to or override the built-in ones.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Stop at the first unreadable record (exit 2) instead of counting and skipping it.
    #[arg(long)]
    pub strict: bool,
    /// How late (event time) a record may arrive and still be judged in order.
    #[arg(long, default_value = "5m", value_parser = crate::duration::parse)]
    pub disorder_tolerance: std::time::Duration,
    /// Longest record accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_record_bytes: usize,
    /// Threads that normalise records, beside the one that runs the rules (1: everything
    /// on one thread); default: the available cores, at most 8. They read a plain
    /// JSON-lines file in blocks themselves; anything else (stdin, gzip, arrays, Entra)
    /// one more thread splits for them. Findings are the same whatever the number.
    #[arg(long)]
    pub threads: Option<usize>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
        .map_err(|e: pushback_watch::source::UnknownFormat| e.to_string())
}

/// Bad records shown in full; the rest are only counted.
const SHOWN_BAD_RECORDS: u64 = 10;
/// Inputs at least this large (or stdin) get a progress bar on a terminal.
const PROGRESS_FROM_BYTES: u64 = 16 << 20;

#[derive(Debug, Default)]
struct Totals {
    records: u64,
    events: u64,
    skipped: u64,
    bad: u64,
    late: u64,
    evicted: u64,
}

pub fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let rules = match &args.rules {
        Some(dir) => RuleSet::builtin_with_dir(dir)
            .with_context(|| format!("loading rules from {}", dir.display()))?,
        None => RuleSet::builtin().context("loading the built-in rules")?,
    };
    let engine_settings = EngineSettings {
        disorder_tolerance_ms: i64::try_from(args.disorder_tolerance.as_millis())
            .context("--disorder-tolerance is too long")?,
        ..EngineSettings::default()
    };
    let threads = args.threads.unwrap_or_else(default_threads).max(1);
    let mut engines: BTreeMap<&'static str, Engine> = BTreeMap::new();
    let mut findings = Vec::new();
    let mut totals = Totals::default();
    for path in &args.inputs {
        let (file, size) = open(path)?;
        let name = path.display().to_string();
        let progress = progress_bar(size);
        let counted = |inner: Box<dyn Read + Send>| -> Box<dyn Read + Send> {
            Box::new(Counted {
                inner,
                bar: progress.clone(),
            })
        };
        let settings = ReaderSettings {
            format: args.format,
            max_record_bytes: args.max_record_bytes,
            ..ReaderSettings::default()
        };
        // A file is shared out in blocks among the normalising threads where it suits.
        let mut reader = match file {
            Some(file) if threads > 1 => Reader::Parallel(Box::new(ParallelReader::from_file_or(
                file,
                settings,
                threads,
                |file| counted(Box::new(file)),
            ))),
            Some(file) => Reader::new(counted(Box::new(file)), settings, threads),
            None => Reader::new(counted(Box::new(io::stdin())), settings, threads),
        };
        while let Some(item) = reader.next() {
            if let Some(reached) = reader.bytes_reached() {
                progress.set_position(reached);
            }
            match item {
                Ok(record) => {
                    totals.records += 1;
                    let Some(format) = reader.format() else {
                        continue;
                    };
                    let engine = engines
                        .entry(format.as_str())
                        .or_insert_with(|| Engine::new(rules.clone(), engine_settings.clone()));
                    let mut any = false;
                    for event in record.outcome.into_events() {
                        any = true;
                        totals.events += 1;
                        engine.observe_into(event, &mut findings);
                    }
                    reader.recycle_from(engine);
                    if !any {
                        totals.skipped += 1;
                    }
                    if totals.records % 4096 == 0 {
                        progress.set_message(format!("{} records", totals.records));
                    }
                }
                Err(e) if e.is_fatal() => {
                    progress.finish_and_clear();
                    bail!("{name}: {e}");
                }
                Err(e) => {
                    totals.records += 1;
                    totals.bad += 1;
                    if args.strict {
                        progress.finish_and_clear();
                        bail!("{name}: {e} (--strict)");
                    }
                    if totals.bad <= SHOWN_BAD_RECORDS {
                        progress.suspend(|| eprintln!("skipped {name}: {e}"));
                    }
                }
            }
        }
        progress.finish_and_clear();
    }
    for engine in engines.values_mut() {
        findings.extend(engine.finish());
        let stats = engine.stats();
        totals.late += stats.late;
        totals.evicted += stats.evicted_groups;
    }
    findings.sort_by(|a, b| {
        (a.window_start, &a.rule_id, &a.user).cmp(&(b.window_start, &b.rule_id, &b.user))
    });
    summarise(&totals, findings.len());
    let format = args.output.unwrap_or(if io::stdout().is_terminal() {
        Output::Table
    } else {
        Output::Jsonl
    });
    render(format, &findings)?;
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The available cores, at most [`MAX_DEFAULT_THREADS`].
fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_DEFAULT_THREADS)
}

/// More normalising threads than this rarely help: the engine runs on one.
const MAX_DEFAULT_THREADS: usize = 8;

/// The file at `path` and its size; no file for `-` (standard input).
fn open(path: &Path) -> anyhow::Result<(Option<File>, Option<u64>)> {
    if path == Path::new("-") {
        return Ok((None, None));
    }
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().ok().map(|m| m.len());
    Ok((Some(file), size))
}

fn progress_bar(size: Option<u64>) -> ProgressBar {
    let big = size.is_none_or(|s| s >= PROGRESS_FROM_BYTES);
    if !big || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match size {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {binary_bytes_per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    bar
}

/// Counts the bytes read into the progress bar.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

fn summarise(t: &Totals, findings: usize) {
    let mut line = format!(
        "{} records, {} events, {} not relevant, {} unreadable",
        t.records, t.events, t.skipped, t.bad
    );
    if t.late > 0 {
        line.push_str(&format!(
            ", {} too late to judge in order (raise --disorder-tolerance)",
            t.late
        ));
    }
    if t.evicted > 0 {
        line.push_str(&format!(", {} groups evicted", t.evicted));
    }
    line.push_str(&format!("; {findings} findings"));
    eprintln!("{line}");
}

fn render(format: Output, findings: &[Finding]) -> anyhow::Result<()> {
    match format {
        Output::Jsonl => {
            for f in findings {
                output::line(&serde_json::to_string(f)?);
            }
        }
        Output::Json => output::line(&serde_json::to_string_pretty(findings)?),
        Output::Ocsf => {
            for f in findings {
                output::line(&serde_json::to_string(&ocsf(f))?);
            }
        }
        Output::Table => {
            for row in table(findings) {
                output::line(&row);
            }
        }
        Output::Markdown => {
            for row in markdown(findings) {
                output::line(&row);
            }
        }
    }
    Ok(())
}

fn rfc3339(t: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.millis()) * 1_000_000)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.millis().to_string())
}

/// The columns the table and Markdown outputs show.
fn columns(f: &Finding) -> [String; 7] {
    [
        f.severity.as_str().to_owned(),
        f.rule_id.clone(),
        f.user.clone().unwrap_or_else(|| {
            f.group
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        }),
        f.source.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        rfc3339(f.window_start),
        rfc3339(f.window_end),
        f.event_count.to_string(),
    ]
}

const HEADERS: [&str; 7] = ["SEVERITY", "RULE", "USER", "SOURCE", "FROM", "TO", "EVENTS"];

fn table(findings: &[Finding]) -> Vec<String> {
    if findings.is_empty() {
        return vec!["no findings".to_owned()];
    }
    let rows: Vec<[String; 7]> = findings.iter().map(columns).collect();
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let fmt = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![fmt(&HEADERS.map(str::to_owned))];
    out.extend(rows.iter().map(|r| fmt(r)));
    out
}

fn markdown(findings: &[Finding]) -> Vec<String> {
    let mut out = vec![
        format!("| {} |", HEADERS.join(" | ").to_lowercase()),
        format!("|{}", " --- |".repeat(HEADERS.len())),
    ];
    for f in findings {
        let cells = columns(f).map(|c| c.replace('|', "\\|"));
        out.push(format!("| {} |", cells.join(" | ")));
    }
    out
}

/// A finding as an OCSF 1.1 Detection Finding (category 2 Findings, class 2004,
/// activity 1 Create).
fn ocsf(f: &Finding) -> serde_json::Value {
    let severity_id = match f.severity {
        pushback_model::Severity::Info => 1,
        pushback_model::Severity::Low => 2,
        pushback_model::Severity::Medium => 3,
        pushback_model::Severity::High => 4,
        pushback_model::Severity::Critical => 5,
    };
    let mut observables = Vec::new();
    if let Some(user) = &f.user {
        // type_id 4: User Name.
        observables.push(serde_json::json!({ "name": "user", "type_id": 4, "value": user }));
    }
    for (field, value) in &f.group {
        if field == "src_ip" {
            // type_id 2: IP Address.
            observables.push(serde_json::json!({ "name": field, "type_id": 2, "value": value }));
        }
    }
    serde_json::json!({
        "category_uid": 2,
        "class_uid": 2004,
        "activity_id": 1,
        "type_uid": 200401,
        "severity_id": severity_id,
        "status_id": 1,
        "time": f.window_end.millis(),
        "message": format!("{}: {} events", f.title, f.event_count),
        "metadata": {
            "version": "1.1.0",
            "product": { "name": "pushback", "vendor_name": "pushback" },
            "log_provider": f.source.map(|s| s.as_str()),
        },
        "finding_info": {
            "uid": format!("{}:{}:{}", f.rule_id, f.user.as_deref().unwrap_or("-"), f.window_start.millis()),
            "title": f.title,
            "analytic": { "name": f.rule_id, "type_id": 1, "type": "Rule" },
            "first_seen_time": f.window_start.millis(),
            "last_seen_time": f.window_end.millis(),
            "related_events": f.event_ids.iter().map(|id| serde_json::json!({ "uid": id })).collect::<Vec<_>>(),
            "types": f.tags,
        },
        "observables": observables,
        "count": f.event_count,
    })
}
