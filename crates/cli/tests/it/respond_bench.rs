//! `pushback bench respond`, small: every "not me" and every posted flood ends in a
//! revoke call at the local Okta, through the service as `pushback serve` builds it —
//! on SQLite, and on PostgreSQL when it is configured. The disorder tolerance is
//! generous (20 s): a machine busy with the other tests may take seconds to hand an
//! ingested batch to the engine, and an event older than the tolerance by then would
//! be judged late.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pushback");

fn run(extra: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args([
            "bench",
            "respond",
            "--reports",
            "6",
            "--floods",
            "4",
            "--concurrency",
            "3",
            "--disorder-tolerance",
            "20s",
            "--json",
        ])
        .args(extra)
        .output()
        .expect("running pushback");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

#[test]
fn every_report_and_every_flood_ends_in_a_revoke_call() {
    let mut reports = vec![run(&[])];
    if let Ok(url) = std::env::var("PUSHBACK_TEST_POSTGRES_URL") {
        reports.push(run(&["--database-url", &url]));
    }
    for report in reports {
        let results = report["results"].as_array().expect("results");
        assert_eq!(results.len(), 2, "{report}");
        for r in results {
            assert_eq!(r["revoked"], r["sent"], "{report}");
            assert!(r["sent"].as_u64() > Some(0), "{report}");
        }
    }
}
