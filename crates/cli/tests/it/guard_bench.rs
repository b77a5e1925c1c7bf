//! `pushback bench guard`, small: full lifecycles against an in-process server (on
//! SQLite, and on PostgreSQL when it is configured) and against a running one
//! (`--url`). Every lifecycle must end approved; no figure is judged here.

use std::process::Command;

use serde_json::Value;

use crate::harness::{Api, Server};

const BIN: &str = env!("CARGO_BIN_EXE_pushback");
const SMALL: [&str; 7] = [
    "--users",
    "6",
    "--concurrency",
    "3",
    "--duration",
    "1s",
    "--json",
];

/// The JSON report, once the bench has run with no error.
#[track_caller]
fn checked(stdout: &str, stderr: &str) -> Value {
    let report: Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {stdout}\n{stderr}"));
    for field in ["lifecycles_per_sec", "p50_ms", "p95_ms", "p99_ms", "errors"] {
        assert!(report[field].is_number(), "{field} in {report}");
    }
    assert_eq!(report["errors"], 0, "{report}\n{stderr}");
    assert!(report["lifecycles"].as_u64() > Some(0), "{report}");
    report
}

#[test]
fn every_lifecycle_against_an_in_process_server_ends_approved() {
    let mut backends = vec![None];
    if let Ok(url) = std::env::var("PUSHBACK_TEST_POSTGRES_URL") {
        backends.push(Some(url));
    }
    for database in backends {
        let mut cmd = Command::new(BIN);
        cmd.args(["bench", "guard"]).args(SMALL);
        if let Some(url) = &database {
            cmd.args(["--database-url", url]);
        }
        let out = cmd.output().expect("running pushback");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stderr}");
        let report = checked(&stdout, &stderr);
        let want = if database.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        assert_eq!(report["backend"], want, "{report}");
        // PostgreSQL's new WAL files during the window, where the role may list them
        // (the test role is a superuser); nothing to count on SQLite.
        let wal = &report["wal_files_created"];
        match database {
            Some(_) => assert!(wal.is_i64(), "{report}"),
            None => assert!(wal.is_null(), "{report}"),
        }
    }
}

#[test]
fn every_lifecycle_against_a_running_server_ends_approved() {
    let api = Api::new();
    let mut server = Server::start(&api);
    let url = server.url.clone();
    // The harness hands the admin key over as PUSHBACK_ADMIN_KEY.
    let args: Vec<&str> = ["bench", "guard", "--url", url.as_str()]
        .into_iter()
        .chain(SMALL)
        .collect();
    let run = server.cli(&args);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let report = checked(&run.stdout, &run.stderr);
    assert_eq!(report["backend"], url.as_str(), "{report}");

    // A second run on the same server names its users afresh.
    let again = server.cli(&args);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    checked(&again.stdout, &again.stderr);

    // The loader speaks plain HTTP/1.1: an https:// target is refused before any user
    // is seeded (seeding first would fail on TLS instead).
    let https = url.replacen("http://", "https://", 1);
    let refused = server.cli(&[
        "bench",
        "guard",
        "--url",
        https.as_str(),
        "--users",
        "2",
        "--concurrency",
        "1",
    ]);
    assert_ne!(refused.code, Some(0), "{}", refused.stdout);
    assert!(
        refused.stderr.contains("plain HTTP/1.1"),
        "{}",
        refused.stderr
    );
    server.stop();
}
