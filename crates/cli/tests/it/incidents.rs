//! Incidents from the command line: a device answers "not me", the playbook opens an
//! incident, and an admin lists, reads, acknowledges and resolves it with `pushback
//! incidents`, lifts what the playbook imposed with `pushback admin`, and has
//! `pushback report incident` tell who answers for it, from the database.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::canary::{Secret, assert_nothing_leaks};
use crate::harness::{Api, Printed, Run, ScratchPostgres, Server};
use crate::walkthrough::{open_challenge, word_starting};

/// The registry application the app below is named after (by its name).
const APP: &str = "Corporate VPN";

fn registry() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/governance/registry.yaml")
        .display()
        .to_string()
}

/// What [`alice_reports_not_me`] made.
struct NotMe {
    device: String,
    /// Secrets issued on the way, for the canary.
    secrets: Vec<Secret>,
}

/// An app, alice with an enrolled device, a prompt from the app, and alice's "not me".
fn alice_reports_not_me(api: &Api, server: &mut Server) -> NotMe {
    let created = server
        .cli_printing_a_secret(&["admin", "app", "create", APP])
        .success();
    let app_key = word_starting(&created, "pbk.");
    server.cli(&["admin", "user", "create", "alice"]).success();
    let enrol = server
        .cli_printing_a_secret(&["admin", "enrol", "alice"])
        .success();
    let link = word_starting(&enrol, &format!("{}/enroll#", server.url));
    let key_file = server.path("dev.json").display().to_string();
    server
        .cli(&["device", "--key-file", &key_file, "enroll", &link])
        .success();
    let (_, code) = open_challenge(api, server, &app_key);
    server
        .cli(&["device", "--key-file", &key_file, "not-me"])
        .success();
    let key: Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).expect("the device key file"))
            .expect("the key file is JSON");
    let secret = |key: &str| key.rsplit('.').next().unwrap_or(key).to_owned();
    NotMe {
        device: key["device_id"].as_str().expect("device_id").to_owned(),
        secrets: vec![
            Secret::text("the admin key's secret", [secret(&server.admin_key)]),
            Secret::text("the app key's secret", [secret(&app_key)]),
            Secret::text(
                "the enrolment token",
                [link.rsplit('#').next().unwrap_or_default().to_owned()],
            ),
            Secret::text(
                "the device's private key",
                [key["private_key"].as_str().expect("private_key").to_owned()],
            ),
            Secret::digits(format!("user_code {code}"), &code),
        ],
    }
}

/// `pushback incidents show ID` once its timeline holds every one of `lines` (the
/// responder works on its own tasks); bounded, then a failure naming what was missing.
fn shown_with(server: &mut Server, id: &str, lines: &[&str]) -> Run {
    let mut last = None;
    for _ in 0..300 {
        let shown = server.cli(&["incidents", "show", id]).success();
        if lines.iter().all(|l| shown.stdout.contains(l)) {
            return shown;
        }
        last = Some(shown);
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the timeline never showed {lines:?}:\n{last:?}");
}

/// The id of alice's incident once the playbook has opened it.
fn alices_incident(server: &mut Server) -> String {
    for _ in 0..300 {
        let listed = server
            .cli(&["incidents", "list", "--subject", "alice", "--json"])
            .success()
            .json();
        if let Some(id) = listed["incidents"][0]["id"].as_str() {
            return id.to_owned();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no incident was opened for alice");
}

/// The one line a failed command printed (the harness has clients log at trace level:
/// those lines are left out).
#[track_caller]
fn error_line(run: &Run) -> &str {
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(lines.len(), 1, "one line of error:\n{}", run.stderr);
    lines[0]
}

#[test]
fn an_admin_lists_reads_acknowledges_and_resolves_the_incident_a_not_me_opened() {
    let api = Api::new();
    let mut server = Server::start(&api);
    lists_reads_acknowledges_and_resolves(&api, &mut server);
}

#[test]
fn the_same_on_postgresql() {
    let Some(pg) = ScratchPostgres::new() else {
        return;
    };
    let api = Api::new();
    let mut server = Server::start_on(&api, &pg.url);
    lists_reads_acknowledges_and_resolves(&api, &mut server);
}

fn lists_reads_acknowledges_and_resolves(api: &Api, server: &mut Server) {
    let not_me = alice_reports_not_me(api, server);
    let id = alices_incident(server);

    // The table: a header, then alice's incident, open and critical, with no owner yet.
    let listed = server.cli(&["incidents", "list"]).success();
    let lines: Vec<Vec<&str>> = listed
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "ID", "STATE", "SEVERITY", "SUBJECT", "OWNER", "OPENED", "FAILED"
        ],
        "{}",
        listed.stdout
    );
    assert_eq!(
        (lines.len(), &lines[1][..5], lines[1][6]),
        (2, &[id.as_str(), "open", "critical", "alice", "-"][..], "0"),
        "{}",
        listed.stdout
    );
    assert!(
        lines[1][5].ends_with('Z'),
        "an RFC 3339 time: {}",
        listed.stdout
    );
    let none = server
        .cli(&["incidents", "list", "--state", "resolved"])
        .success();
    assert_eq!(none.stdout, "no incidents\n");

    // The story in time order: the prompt, alice's report, the response.
    let shown = shown_with(server, &id, &["lock_push@guard: done"]);
    assert!(
        shown
            .stdout
            .starts_with(&format!("{id}  Prompt reported as not theirs by alice\n")),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("  state:          open\n"),
        "{}",
        shown.stdout
    );
    let timeline: Vec<&str> = shown
        .stdout
        .lines()
        .skip_while(|l| !l.is_empty())
        .skip(1)
        .collect();
    let at = |what: &str| {
        timeline
            .iter()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what} in:\n{}", shown.stdout))
    };
    assert!(at("challenge.created by app:") < at("challenge.not_me by device:"));
    assert!(at("challenge.not_me by device:") < at("the user reported a prompt as not theirs"));
    assert!(
        at("the user reported a prompt as not theirs") < at("lock_push@guard: done"),
        "{}",
        shown.stdout
    );
    let times: Vec<&str> = timeline
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or_default())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted, "in time order:\n{}", shown.stdout);
    let json = server
        .cli(&["incidents", "show", &id, "--json"])
        .success()
        .json();
    assert_eq!(
        (json["id"].as_str(), json["subject"].as_str()),
        (Some(id.as_str()), Some("alice"))
    );

    // Acknowledged by someone, then resolved; each move only once.
    let acked = server
        .cli(&[
            "incidents",
            "ack",
            &id,
            "--owner",
            "soc-oncall",
            "--note",
            "calling alice",
        ])
        .success();
    assert_eq!(
        acked.stdout,
        format!("{id} acknowledged; owner soc-oncall\n")
    );
    let listed = server
        .cli(&["incidents", "list", "--state", "acknowledged"])
        .success();
    assert!(listed.stdout.contains(" soc-oncall "), "{}", listed.stdout);
    let again = server.cli(&["incidents", "ack", &id]).exits(2);
    assert!(
        error_line(&again).contains(&format!(
            "incident {id} is acknowledged and cannot become acknowledged"
        )),
        "{}",
        again.stderr
    );
    let resolved = server
        .cli(&["incidents", "resolve", &id, "--note", "password reset"])
        .success();
    assert_eq!(resolved.stdout, format!("{id} resolved\n"));
    let shown = server.cli(&["incidents", "show", &id]).success();
    assert!(
        shown.stdout.contains("acknowledged by admin:")
            && shown.stdout.contains("resolved by admin:"),
        "{}",
        shown.stdout
    );
    let again = server.cli(&["incidents", "resolve", &id]).exits(2);
    assert!(
        error_line(&again).contains("is resolved and cannot become resolved"),
        "{}",
        again.stderr
    );

    // Unknown incidents and a wrong key.
    for verb in ["show", "ack", "resolve"] {
        let unknown = server.cli(&["incidents", verb, "inc_nope"]).exits(2);
        assert_eq!(error_line(&unknown), "error: no incident inc_nope");
    }
    let wrong = server
        .cli(&["incidents", "--key", "pba.nope.nope", "list"])
        .exits(2);
    assert!(error_line(&wrong).contains("(401)"), "{}", wrong.stderr);

    // Nothing secret in what the commands printed or the server logged.
    let logs = server.stop();
    let mut printed = std::mem::take(&mut server.printed);
    printed.push(Printed {
        what: "the server's stdout".into(),
        text: logs.stdout,
    });
    printed.push(Printed {
        what: "the server's stderr (logs)".into(),
        text: logs.stderr,
    });
    assert_nothing_leaks(&not_me.secrets, &printed);
}

#[test]
fn admins_lift_the_step_up_and_unfreeze_the_device_the_playbook_imposed() {
    let api = Api::new();
    let config = r#"
[[respond.playbook]]
name = "not-me"
when = { guard = "not_me" }
actions = ["require_step_up", "freeze_device", { open_incident = "critical" }]
"#;
    let mut server = Server::start_with_config(&api, config);
    let device = alice_reports_not_me(&api, &mut server).device;
    let id = alices_incident(&mut server);
    shown_with(
        &mut server,
        &id,
        &["require_step_up@guard: done", "freeze_device@guard: done"],
    );

    let lifted = server
        .cli(&["admin", "lift-step-up", "alice"])
        .success()
        .json();
    assert_eq!(lifted["login"], "alice", "{lifted}");
    let again = server.cli(&["admin", "lift-step-up", "alice"]).exits(2);
    assert_eq!(
        error_line(&again),
        "error: no step-up requirement in force for alice"
    );

    let unfrozen = server.cli(&["admin", "unfreeze", &device]).success().json();
    assert_eq!(unfrozen["unfrozen"], device.as_str());
    let again = server.cli(&["admin", "unfreeze", &device]).exits(2);
    assert_eq!(
        error_line(&again),
        format!("error: no frozen device {device}")
    );
}

#[test]
fn the_report_of_an_incident_in_the_database_names_its_user_and_who_answers() {
    let api = Api::new();
    let mut server = Server::start(&api);
    report_from_the_database(&api, &mut server);
}

#[test]
fn the_report_of_an_incident_in_postgresql_too() {
    let Some(pg) = ScratchPostgres::new() else {
        return;
    };
    let api = Api::new();
    let mut server = Server::start_on(&api, &pg.url);
    report_from_the_database(&api, &mut server);
}

fn report_from_the_database(api: &Api, server: &mut Server) {
    alice_reports_not_me(api, server);
    let id = alices_incident(server);
    shown_with(server, &id, &["lock_push@guard: done"]);
    let database = server.database_url();
    let registry = registry();
    let report = |server: &mut Server, extra: &[&str]| {
        let mut args = vec![
            "report",
            "incident",
            id.as_str(),
            "--registry",
            registry.as_str(),
            "--database-url",
            database.as_str(),
        ];
        args.extend(extra);
        server.cli(&args)
    };

    // Read while the server runs (on SQLite, WAL lets a second process read).
    let markdown = report(server, &[]).success();
    assert!(
        markdown
            .stdout
            .starts_with(&format!("# Accountability report: {id}\n")),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown.stdout.contains("— user alice — application vpn."),
        "the user, and the registry application the app `{APP}` is:\n{}",
        markdown.stdout
    );
    assert!(
        markdown.stdout.contains("| app | vpn-step-up |")
            && markdown.stdout.contains("| owner-vpn |"),
        "the application's control and its owner:\n{}",
        markdown.stdout
    );

    let json = report(server, &["--output", "json"]).success().json();
    assert_eq!(
        (
            json["incident"].as_str(),
            json["user"].as_str(),
            json["app"].as_str()
        ),
        (Some(id.as_str()), Some("alice"), Some("vpn"))
    );
    let kinds: Vec<&str> = json["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in ["prompt-sent", "prompt-denied", "alert-raised", "contained"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let accountable: Vec<&str> = json["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .filter_map(|c| c["accountable"].as_str())
        .collect();
    assert!(
        accountable.contains(&"owner-vpn") && accountable.contains(&"secops"),
        "{accountable:?}"
    );
    let html = report(server, &["--output", "html"]).success();
    assert!(html.stdout.contains("alice"), "{}", html.stdout);

    // After the server stopped, the same report; then what a user gets wrong.
    server.stop();
    let after = report(server, &[]).success();
    assert_eq!(after.stdout, markdown.stdout);
    let unknown = server.cli(&[
        "report",
        "incident",
        "inc_nope",
        "--registry",
        &registry,
        "--database-url",
        &database,
    ]);
    let unknown = unknown.exits(2);
    assert_eq!(
        error_line(&unknown),
        format!("error: no incident inc_nope in {database}")
    );
    let not_in_registry = report(server, &["--app", "payroll"]).exits(2);
    assert!(
        not_in_registry
            .stderr
            .contains("app: no application `payroll` in the registry"),
        "{}",
        not_in_registry.stderr
    );
    let elsewhere = server.path("elsewhere.db");
    let elsewhere_url = format!("sqlite://{}", elsewhere.display());
    let no_database = server.cli(&[
        "report",
        "incident",
        &id,
        "--registry",
        &registry,
        "--database-url",
        &elsewhere_url,
    ]);
    assert!(
        error_line(&no_database.exits(2)).starts_with("error: no database at "),
        "a wrong path is said"
    );
    assert!(!elsewhere.exists(), "and no empty database is left behind");
    let no_registry = server.cli(&[
        "report",
        "incident",
        &id,
        "--registry",
        "missing.yaml",
        "--database-url",
        &database,
    ]);
    assert!(no_registry.exits(2).stderr.contains("missing.yaml"));
}
