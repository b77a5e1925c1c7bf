//! The README walkthrough against the real binary: serve, register an app, add a user,
//! enrol a device, approve with the right code, fail with a wrong one, manage and revoke
//! the device, verify the audit log, tamper with it, and check that no secret issued on
//! the way was ever logged or printed where it should not be.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::canary::{Secret, assert_nothing_leaks, digit_run};
use crate::harness::{Api, Run, Server};

const APP: &str = "Payroll";
const ACTION: &str = "Run the March payroll";

/// The word of `run`'s stdout that starts with `prefix`.
#[track_caller]
pub(crate) fn word_starting(run: &Run, prefix: &str) -> String {
    run.stdout
        .split_whitespace()
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| {
            panic!(
                "no {prefix}… in the output of `pushback {}`:\n{}",
                run.args, run.stdout
            )
        })
        .to_owned()
}

/// The secret part of `<prefix>.<id>.<secret>`.
#[track_caller]
fn key_secret(key: &str) -> String {
    let parts: Vec<&str> = key.splitn(3, '.').collect();
    assert_eq!(parts.len(), 3, "{key} is not <prefix>.<id>.<secret>");
    parts[2].to_owned()
}

/// Opens a challenge for alice; returns its id and the code for the login screen.
pub(crate) fn open_challenge(api: &Api, server: &Server, app_key: &str) -> (String, String) {
    let body = json!({
        "login_hint": "alice",
        "context": { "action": ACTION, "ip": "203.0.113.9", "location": "Berlin, DE", "user_agent": "Firefox/128.0" },
    });
    let opened = api.json(
        Method::POST,
        &format!("{}/v1/challenges", server.url),
        Some(app_key),
        Some(&body),
        200,
    );
    assert_eq!(opened["status"], "pending", "{opened}");
    assert_eq!(opened["mode"], "code", "{opened}");
    let code = opened["user_code"]
        .as_str()
        .expect("a user_code")
        .to_owned();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "user_code {code:?}"
    );
    (
        opened["auth_req_id"]
            .as_str()
            .expect("an auth_req_id")
            .to_owned(),
        code,
    )
}

fn status_of(api: &Api, server: &Server, app_key: &str, id: &str) -> Value {
    let polled = api.json(
        Method::GET,
        &format!("{}/v1/challenges/{id}", server.url),
        Some(app_key),
        None,
        200,
    );
    assert_eq!(polled["auth_req_id"], id);
    polled["status"].clone()
}

fn devices_of_alice(server: &mut Server) -> Vec<Value> {
    let listed = server
        .cli(&["admin", "device", "list", "alice"])
        .success()
        .json();
    listed["devices"]
        .as_array()
        .expect("a devices array")
        .clone()
}

#[test]
fn the_readme_walkthrough_works_and_leaks_nothing() {
    let api = Api::new();
    let mut server = Server::start(&api);
    let mut codes = Vec::new();

    // 1. An app, a user, an enrolment link, a device.
    let created = server
        .cli_printing_a_secret(&["admin", "app", "create", APP])
        .success();
    let app_key = word_starting(&created, "pbk.");
    server.cli(&["admin", "user", "create", "alice"]).success();

    // An ingest key for a log forwarder: it posts a batch, the wrong key posts nothing.
    let created = server
        .cli_printing_a_secret(&["admin", "ingest-key", "create", "okta-hook"])
        .success();
    let ingest_key = word_starting(&created, "pbi.");
    let batch = serde_json::json!({ "data": { "events": [{
        "uuid": "evt-1", "published": "2026-03-18T12:00:00.000Z",
        "eventType": "user.mfa.okta_verify.deny_push", "outcome": { "result": "FAILURE" },
        "actor": { "id": "00u1", "type": "User", "alternateId": "carol@example.com" }
    }] } });
    let ingest = format!("{}/v1/ingest/okta", server.url);
    let accepted = api.json(
        reqwest::Method::POST,
        &ingest,
        Some(&ingest_key),
        Some(&batch),
        202,
    );
    assert_eq!(accepted["accepted"], 1, "{accepted}");
    api.json(
        reqwest::Method::POST,
        &ingest,
        Some(&app_key),
        Some(&batch),
        401,
    );
    let findings = server.cli(&["admin", "findings", "--limit", "5"]).success();
    assert!(findings.json().is_object(), "{}", findings.stdout);
    let enrol = server
        .cli_printing_a_secret(&["admin", "enrol", "alice"])
        .success();
    let link = word_starting(&enrol, &format!("{}/enroll#", server.url));
    let (_, enrolment_token) = link.split_once("/enroll#").expect("a link with a token");

    let key_file = server.path("dev.json");
    let key_path = key_file.to_str().expect("a UTF-8 temp path").to_owned();
    let device = |args: &[&str]| -> Vec<String> {
        ["device", "--key-file", key_path.as_str()]
            .iter()
            .chain(args)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run = |server: &mut Server, args: Vec<String>| {
        server.cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let enrolled = run(&mut server, device(&["enroll", &link])).success();
    assert!(enrolled.stdout.contains("for alice"), "{}", enrolled.stdout);
    #[cfg(unix)]
    assert_eq!(
        crate::harness::mode(&key_file),
        0o600,
        "the device key file must be private"
    );
    let key_text = std::fs::read_to_string(&key_file).expect("the device key file");
    let key_json: Value = serde_json::from_str(&key_text).expect("the key file is JSON");
    let device_id = key_json["device_id"]
        .as_str()
        .expect("device_id")
        .to_owned();
    let private_key = key_json["private_key"]
        .as_str()
        .expect("private_key")
        .to_owned();
    assert_eq!(key_json["user"], "alice");
    for (what, secret) in [
        ("the admin key", key_secret(&server.admin_key)),
        ("the app key", key_secret(&app_key)),
        ("the enrolment token", enrolment_token.to_owned()),
    ] {
        assert!(
            !key_text.contains(&secret),
            "the device key file holds {what}"
        );
    }

    // 2. A challenge, seen on the device without its code, approved with the code.
    let (first, code) = open_challenge(&api, &server, &app_key);
    codes.push(code.clone());
    let pending = run(&mut server, device(&["pending"])).success();
    assert!(
        pending.stdout.contains(&format!("challenge {first}")),
        "{}",
        pending.stdout
    );
    assert!(
        pending
            .stdout
            .lines()
            .any(|l| l.trim_start().starts_with("app:") && l.trim_end().ends_with(APP)),
        "{}",
        pending.stdout
    );
    assert!(
        pending
            .stdout
            .lines()
            .any(|l| l.trim_start().starts_with("action:") && l.contains(ACTION)),
        "{}",
        pending.stdout
    );
    assert_eq!(
        digit_run(&pending.stdout, &code),
        None,
        "the device must never be shown the code:\n{}",
        pending.stdout
    );
    let approved = run(&mut server, device(&["approve", "--code", &code])).success();
    assert!(
        approved
            .stdout
            .contains(&format!("challenge {first}: approved")),
        "{}",
        approved.stdout
    );
    assert_eq!(status_of(&api, &server, &app_key, &first), "approved");

    // 3. A wrong code is refused and kills the challenge as a deny.
    let (second, code) = open_challenge(&api, &server, &app_key);
    codes.push(code.clone());
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().expect("digits") + 1) % 1_000_000
    );
    let refused = run(&mut server, device(&["approve", "--code", &wrong])).exits(2);
    assert!(
        refused.stderr.contains("did not accept"),
        "{}",
        refused.stderr
    );
    assert_eq!(status_of(&api, &server, &app_key, &second), "denied");

    // 4. The admin sees, renames and revokes the device; then it can do nothing.
    let devices = devices_of_alice(&mut server);
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0]["id"], device_id.as_str());
    assert_eq!(devices[0]["key_type"], "p256");
    assert_eq!(devices[0]["revoked_at"], Value::Null);
    server
        .cli(&["admin", "device", "rename", &device_id, "Phone"])
        .success();
    assert_eq!(devices_of_alice(&mut server)[0]["name"], "Phone");
    server
        .cli(&["admin", "device", "revoke", &device_id])
        .success();
    assert!(devices_of_alice(&mut server)[0]["revoked_at"].is_string());
    run(&mut server, device(&["pending"])).exits(2);

    // 5. The audit log verifies while the server runs …
    let database_url = server.database_url();
    let intact = server
        .cli(&["audit", "verify", "--database-url", &database_url])
        .success();
    assert!(intact.stdout.contains("intact"), "{}", intact.stdout);

    // … and, once it has stopped, an edited entry is named.
    let logs = server.stop();
    let db_path = database_url
        .strip_prefix("sqlite://")
        .expect("the server runs on SQLite");
    let changed = rusqlite::Connection::open(db_path)
        .expect("opening the database")
        .execute("UPDATE audit_log SET subject = 'mallory' WHERE seq = 2", [])
        .expect("tampering");
    assert_eq!(changed, 1, "seq 2 is sealed");
    let broken = server
        .cli(&["audit", "verify", "--database-url", &database_url])
        .exits(1);
    assert!(
        broken.stdout.contains("BROKEN") && broken.stdout.contains("seq 2"),
        "{}",
        broken.stdout
    );

    // 7. The canary: nothing secret in the logs or in what clients printed.
    let server_secret =
        std::fs::read(server.path("pushback.secret")).expect("the server secret file");
    assert!(server_secret.len() >= 32);
    let mut secrets = vec![
        Secret::text("the admin key's secret", [key_secret(&server.admin_key)]),
        Secret::text("the app key's secret", [key_secret(&app_key)]),
        Secret::text("the ingest key's secret", [key_secret(&ingest_key)]),
        Secret::text("the enrolment token", [enrolment_token.to_owned()]),
        Secret::text("the device's private key", [private_key]),
        Secret::text(
            "the server secret",
            [
                hex::encode(&server_secret),
                hex::encode_upper(&server_secret),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&server_secret),
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(&server_secret),
            ],
        ),
    ];
    secrets.extend(
        codes
            .iter()
            .map(|c| Secret::digits(format!("user_code {c}"), c)),
    );
    let mut printed = std::mem::take(&mut server.printed);
    assert!(
        logs.stderr.contains("TRACE") || logs.stderr.contains("DEBUG"),
        "the server logged at trace level:\n{}",
        logs.stderr
    );
    printed.push(crate::harness::Printed {
        what: "the server's stdout".into(),
        text: logs.stdout,
    });
    printed.push(crate::harness::Printed {
        what: "the server's stderr (logs)".into(),
        text: logs.stderr,
    });
    assert_nothing_leaks(&secrets, &printed);
}
