//! `pushback serve` stopped mid-flood and started again on the same database: the
//! flood is reported once, with the denies from before the stop; and `pushback watch`
//! on the same records reports the same finding as the running service did.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::harness::{Api, Server};
use crate::walkthrough::word_starting;

const BIN: &str = env!("CARGO_BIN_EXE_pushback");

/// Live detection that judges an event a second after it happened, and saves its
/// state after every batch.
const CONFIG: &str = "[watch]\n\
                      disorder_tolerance_ms = 1000\n\
                      tick_interval_ms = 100\n\
                      state_save_interval_ms = 0\n";

/// An Okta denied push for dave, dated now.
fn deny(i: usize) -> Value {
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("a formattable time");
    json!({
        "uuid": format!("dave-deny-{i}"),
        "published": now,
        "eventType": "user.mfa.okta_verify.deny_push",
        "outcome": { "result": "FAILURE" },
        "actor": { "id": "00u9", "type": "User", "alternateId": "dave@example.com" },
        "client": { "ipAddress": "198.51.100.7" }
    })
}

fn post(api: &Api, server: &Server, key: &str, events: &[Value]) {
    let accepted = api.json(
        reqwest::Method::POST,
        &format!("{}/v1/ingest/okta", server.url),
        Some(key),
        Some(&Value::Array(events.to_vec())),
        202,
    );
    assert_eq!(accepted["accepted"], events.len(), "{accepted}");
}

fn floods(api: &Api, server: &Server) -> Vec<Value> {
    let found = api.json(
        reqwest::Method::GET,
        &format!("{}/v1/findings?rule_id=push_flood", server.url),
        Some(&server.admin_key),
        None,
        200,
    );
    found["findings"].as_array().cloned().unwrap_or_default()
}

/// The floods stored, once there is one (the engine judges an event a second after
/// its time); what there is after a minute otherwise.
fn first_floods(api: &Api, server: &Server) -> Vec<Value> {
    for _ in 0..600 {
        let found = floods(api, server);
        if !found.is_empty() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    floods(api, server)
}

#[test]
fn a_flood_across_a_restart_is_reported_once_and_as_pushback_watch_reports_it() {
    let api = Api::new();
    let mut server = Server::start_with_config(&api, CONFIG);
    let created = server
        .cli_printing_a_secret(&["admin", "ingest-key", "create", "okta-forwarder"])
        .success();
    let key = word_starting(&created, "pbi.");

    let mut denies: Vec<Value> = (0..3).map(deny).collect();
    post(&api, &server, &key, &denies);
    // The state saved at the stop holds the three, judged into dave's window or still
    // waiting their turn.
    server.restart(&api);
    assert!(
        floods(&api, &server).is_empty(),
        "three denies are no flood"
    );

    // Two more, as they happen after the restart.
    denies.extend((3..5).map(deny));
    post(&api, &server, &key, &denies[3..]);
    let found = first_floods(&api, &server);
    assert_eq!(found.len(), 1, "{found:#?}");
    let flood = &found[0];
    assert_eq!(flood["user"], "dave@example.com");
    assert_eq!(
        flood["event_count"], 5,
        "the denies from before the stop count"
    );
    // In time order; denies in the same millisecond in a fixed order of their own.
    let mut ids: Vec<&str> = flood["event_ids"]
        .as_array()
        .expect("event ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "dave-deny-0",
            "dave-deny-1",
            "dave-deny-2",
            "dave-deny-3",
            "dave-deny-4"
        ]
    );

    // Another orderly restart: the episode is still the one stored.
    server.restart(&api);
    assert_eq!(floods(&api, &server).len(), 1);

    // The same records through `pushback watch`: the same finding.
    let file = server.path("dave.jsonl");
    let lines: Vec<String> = denies.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n") + "\n").expect("writing the export");
    let out = Command::new(BIN)
        .args(["watch", "--output", "jsonl"])
        .arg(&file)
        .env_clear()
        .env("NO_COLOR", "1")
        .output()
        .expect("running pushback watch");
    assert_eq!(out.status.code(), Some(1), "findings exit 1");
    let batch: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .filter(|f: &Value| f["rule_id"] == "push_flood")
        .collect();
    assert_eq!(batch.len(), 1, "{batch:#?}");
    for field in [
        "rule_id",
        "user",
        "severity",
        "window_start",
        "window_end",
        "event_count",
        "event_ids",
    ] {
        assert_eq!(batch[0][field], flood[field], "{field}");
    }
    server.stop();
}
