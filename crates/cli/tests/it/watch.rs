//! `pushback watch`: a flood in an Okta export is found whichever way the export is
//! packed; exit codes say whether anything was found; bad records are counted and
//! shown, or fatal under `--strict`.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pushback");

/// An Okta System Log event (the fields the normaliser reads, as Okta writes them).
fn okta(uuid: &str, published: &str, event_type: &str, result: &str, user: &str) -> String {
    serde_json::json!({
        "uuid": uuid,
        "published": published,
        "eventType": event_type,
        "outcome": { "result": result },
        "actor": { "id": "00u1", "type": "User", "alternateId": user },
        "client": { "ipAddress": "198.51.100.7" },
        "authenticationContext": { "externalSessionId": "idx-session-1" },
        "debugContext": { "debugData": { "factor": "OKTA_VERIFY_PUSH" } }
    })
    .to_string()
}

/// Five denied pushes within four minutes, then an approval: a flood that worked.
fn flood() -> Vec<String> {
    let mut lines: Vec<String> = (0..5)
        .map(|i| {
            okta(
                &format!("deny-{i}"),
                &format!("2026-03-18T12:0{i}:00.000Z"),
                "user.mfa.okta_verify.deny_push",
                "FAILURE",
                "alice@example.com",
            )
        })
        .collect();
    lines.push(okta(
        "ok-1",
        "2026-03-18T12:05:00.000Z",
        "user.authentication.auth_via_mfa",
        "SUCCESS",
        "alice@example.com",
    ));
    lines
}

fn watch(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .arg("watch")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running pushback watch");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(bytes) = stdin {
        input.write_all(bytes).expect("writing stdin");
    }
    drop(input);
    child.wait_with_output().expect("pushback watch finishes")
}

fn write(path: &Path, bytes: &[u8]) -> String {
    std::fs::write(path, bytes).expect("writing an input file");
    path.display().to_string()
}

fn findings(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn rules(found: &[Value]) -> Vec<&str> {
    let mut ids: Vec<&str> = found
        .iter()
        .map(|f| f["rule_id"].as_str().expect("rule_id"))
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn a_flood_is_found_in_json_lines_a_json_array_gzip_and_stdin_alike() {
    let dir = tempfile::tempdir().expect("scratch directory");
    let lines = flood();
    let jsonl = format!("{}\n", lines.join("\n"));
    let array = format!("[\n{}\n]", lines.join(",\n"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(jsonl.as_bytes()).expect("gzip");
    let gz = gz.finish().expect("gzip");

    let inputs = [
        write(&dir.path().join("okta.jsonl"), jsonl.as_bytes()),
        write(&dir.path().join("okta.json"), array.as_bytes()),
        write(&dir.path().join("okta.jsonl.gz"), &gz),
    ];
    let mut seen = Vec::new();
    for input in &inputs {
        let out = watch(&["--output", "jsonl", input], None);
        assert_eq!(out.status.code(), Some(1), "{input}: findings exit 1");
        seen.push(findings(&out));
    }
    let out = watch(&["--output", "jsonl", "-"], Some(jsonl.as_bytes()));
    assert_eq!(out.status.code(), Some(1), "stdin");
    seen.push(findings(&out));

    for found in &seen {
        assert_eq!(found, &seen[0], "every packing gives the same findings");
    }
    assert_eq!(rules(&seen[0]), ["push_flood", "push_flood_then_success"]);
    let flood = seen[0]
        .iter()
        .find(|f| f["rule_id"] == "push_flood")
        .expect("push_flood");
    assert_eq!(flood["user"], "alice@example.com");
    assert_eq!(flood["source"], "okta");
    assert_eq!(flood["event_count"], 5);
    assert_eq!(flood["severity"], "high");
    assert_eq!(flood["event_ids"][0], "deny-0");
    let then = seen[0]
        .iter()
        .find(|f| f["rule_id"] == "push_flood_then_success")
        .expect("push_flood_then_success");
    assert_eq!(then["severity"], "critical");
}

#[test]
fn output_formats_carry_the_same_findings() {
    let dir = tempfile::tempdir().expect("scratch directory");
    let input = write(
        &dir.path().join("okta.jsonl"),
        flood().join("\n").as_bytes(),
    );
    let json = watch(&["--output", "json", &input], None);
    let array: Vec<Value> = serde_json::from_slice(&json.stdout).expect("a JSON array");
    assert_eq!(rules(&array), ["push_flood", "push_flood_then_success"]);

    let ocsf = findings(&watch(&["--output", "ocsf", &input], None));
    assert_eq!(ocsf.len(), 2);
    for f in &ocsf {
        assert_eq!(f["class_uid"], 2004, "OCSF Detection Finding");
        assert_eq!(f["type_uid"], 200401);
        assert!(f["finding_info"]["analytic"]["name"].is_string());
    }
    assert!(ocsf.iter().any(|f| f["severity_id"] == 5), "critical is 5");

    let table = watch(&["--output", "table", &input], None);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("SEVERITY"), "{text}");
    assert!(text.contains("push_flood_then_success") && text.contains("alice@example.com"));

    let md = watch(&["--output", "markdown", &input], None);
    let text = String::from_utf8_lossy(&md.stdout);
    assert!(text.starts_with("| severity | rule |"), "{text}");
    assert_eq!(text.lines().count(), 4, "header, rule line, two findings");
}

#[test]
fn a_quiet_log_exits_0_and_a_missing_file_exits_2() {
    let dir = tempfile::tempdir().expect("scratch directory");
    let quiet = okta(
        "ok-1",
        "2026-03-18T12:05:00.000Z",
        "user.authentication.auth_via_mfa",
        "SUCCESS",
        "bob@example.com",
    );
    let input = write(&dir.path().join("quiet.jsonl"), quiet.as_bytes());
    let out = watch(&["--output", "jsonl", &input], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());

    let missing = dir.path().join("nope.jsonl").display().to_string();
    let out = watch(&[&missing], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.jsonl"));
}

#[test]
fn bad_records_are_counted_and_skipped_or_fatal_under_strict() {
    let dir = tempfile::tempdir().expect("scratch directory");
    let mut lines = flood();
    lines.insert(2, "{\"uuid\": \"broken\", \"published\": ".to_owned());
    for i in 0..12 {
        lines.insert(3, format!("not json {i}"));
    }
    let input = write(&dir.path().join("okta.jsonl"), lines.join("\n").as_bytes());

    let out = watch(&["--output", "jsonl", &input], None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one bad line never aborts the run"
    );
    assert_eq!(
        rules(&findings(&out)),
        ["push_flood", "push_flood_then_success"]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = stderr.lines().filter(|l| l.starts_with("skipped ")).count();
    assert_eq!(shown, 10, "the first ten are shown:\n{stderr}");
    assert!(stderr.contains("(line 3)"), "{stderr}");
    assert!(stderr.contains("13 unreadable"), "then a total:\n{stderr}");

    let out = watch(&["--strict", &input], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "nothing is reported from a refused input"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--strict"));
}

/// Runs `pushback ARGS… DIR`, which must succeed; returns its stdout.
fn pushback_in(args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new(BIN)
        .args(args)
        .arg(dir)
        .output()
        .expect("running pushback");
    assert!(
        out.status.success(),
        "pushback {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `pushback bench watch`: a small generated log, read on one thread and on two, finds
/// exactly the injected floods; `pushback watch --threads` gives the same findings on
/// the same log whatever the thread count.
#[test]
fn bench_watch_finds_the_injected_floods_on_one_thread_and_on_two() {
    let dir = tempfile::tempdir().expect("scratch directory");
    pushback_in(
        &[
            "bench",
            "watch",
            "generate",
            "--events",
            "60000",
            "--users",
            "300",
            "--array-events",
            "20000",
            "--out",
        ],
        dir.path(),
    );
    let truth: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).expect("truth.json"))
            .expect("truth.json is JSON");
    let count = |v: &Value| v.as_array().map(Vec::len);
    assert_eq!(count(&truth["floods"]), Some(3));
    assert_eq!(count(&truth["near_misses"]), Some(3));

    for input in ["jsonl", "json"] {
        let stdout = pushback_in(
            &[
                "bench",
                "watch",
                "run",
                "--threads",
                "1,2",
                "--json",
                "--state",
                "--input",
                input,
            ],
            dir.path(),
        );
        let report: Value = serde_json::from_slice(&stdout).expect("a JSON report");
        let runs = report["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 2);
        for run in runs {
            assert_eq!(run["truth"]["ok"], true, "{run}");
            assert_eq!(
                run["truth"]["floods_found"], run["truth"]["floods"],
                "{run}"
            );
            assert_eq!(run["bad_records"], 0, "{run}");
            assert!(
                run["peak_rss_mib"].as_f64().is_some_and(|m| m > 1.0),
                "{run}"
            );
            // The state at the end of the input holds the users' windows, and a new
            // engine takes all of it up.
            assert!(run["state"]["groups"].as_u64() > Some(100), "{run}");
            assert!(run["state"]["bytes"].as_u64() > Some(1000), "{run}");
        }
        assert_eq!(runs[0]["findings"], runs[1]["findings"]);
    }

    let log = dir.path().join("okta.jsonl");
    let log = log.to_str().expect("a UTF-8 temporary path");
    let one = watch(&["--output", "jsonl", "--threads", "1", log], None);
    let two = watch(&["--output", "jsonl", "--threads", "2", log], None);
    assert_eq!(one.status.code(), Some(1));
    assert_eq!(one.stdout, two.stdout);
    let floods = String::from_utf8_lossy(&one.stdout)
        .lines()
        .filter(|l| l.contains("\"rule_id\":\"push_flood\""))
        .count();
    assert_eq!(floods, 3);
}
