//! `pushback govern init|check|export`, `pushback assess` and `pushback report` run as a
//! user would, from the repository root, against the worked examples.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_pushback");
const E: &str = "examples/governance";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pushback(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running pushback")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

/// The stdout of a run compared with a golden file (`PUSHBACK_BLESS=1` rewrites it).
fn golden(path: &str, actual: &str) {
    let file = root().join(path);
    if std::env::var_os("PUSHBACK_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&file, actual).expect("write golden");
        return;
    }
    let expected =
        std::fs::read_to_string(&file).expect("golden file (PUSHBACK_BLESS=1 creates it)");
    assert!(
        expected == actual,
        "{path} differs from what pushback printed:\n{actual}"
    );
}

#[test]
fn init_writes_a_starter_that_checks_clean_and_is_not_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pushback(&["govern", "init"], dir.path());
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(dir.path().join("registry.yaml").exists());
    let out = pushback(
        &["govern", "check", "registry.yaml", "--today", "2026-06-01"],
        dir.path(),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("0 governance defect(s)"));
    // After its exception lapses, the same registry has a defect: exit 1.
    let out = pushback(
        &["govern", "check", "registry.yaml", "--today", "2027-06-01"],
        dir.path(),
    );
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stdout).starts_with("registry.yaml:"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("expired-exception"));
    let again = pushback(&["govern", "init"], dir.path());
    assert_eq!(code(&again), 2);
    assert!(text(&again.stderr).contains("exists (use --force to overwrite)"));
}

#[test]
fn a_bad_registry_gets_every_problem_with_its_position_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("r.yaml"),
        "version: 1\nparties:\n  - {id: a, name: A, kind: person, team: x}\nstaffing:\n  ghost-role: [a]\nexceptions:\n  - {id: e, controls: [], approved_at: 01/02/2026, state: approved}\n",
    )
    .expect("write");
    let out = pushback(&["govern", "check", "r.yaml"], dir.path());
    assert_eq!(code(&out), 2);
    let err = text(&out.stderr);
    assert!(
        err.contains("r.yaml:3:36: parties[0].team: unknown field `team`"),
        "{err}"
    );
    assert!(
        err.contains("r.yaml:5:3: staffing.ghost-role: no role `ghost-role`"),
        "{err}"
    );
    assert!(
        err.contains("r.yaml:7:27: exceptions[0].approved_at: malformed date `01/02/2026`"),
        "{err}"
    );
    assert!(err.contains("3 problem(s) in r.yaml"), "{err}");
    assert!(out.stdout.is_empty());
}

fn assess_args(output: &str) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "assess".into(),
        "--registry".into(),
        format!("{E}/registry.yaml"),
    ];
    for (flag, file) in [
        ("--config", "pushback.toml"),
        ("--entra-auth-methods", "entra-auth-methods.json"),
        (
            "--entra-conditional-access",
            "entra-conditional-access.json",
        ),
        ("--okta-authenticators", "okta-authenticators.json"),
        ("--okta-policies", "okta-policies.json"),
        ("--duo-settings", "duo-settings.json"),
        ("--duo-policies", "duo-policies.json"),
    ] {
        args.push(flag.into());
        args.push(format!("{E}/exports/{file}"));
    }
    args.extend([
        "--today".into(),
        "2026-06-01".into(),
        "--output".into(),
        output.into(),
    ]);
    args
}

#[test]
fn assess_on_the_examples_matches_its_golden_report_and_exits_1() {
    let args = assess_args("markdown");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = pushback(&args, &root());
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    golden(&format!("{E}/expected/assess.md"), &text(&out.stdout));

    let json_args = assess_args("json");
    let json_args: Vec<&str> = json_args.iter().map(String::as_str).collect();
    let out = pushback(&json_args, &root());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let step_up = v["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["check"] == "app-step-up"))
        .expect("app-step-up");
    assert_eq!(step_up["status"], "fail");
    assert_eq!(step_up["owner"]["role"], "owner-admin-console");
    assert_eq!(step_up["owner"]["parties"], serde_json::json!(["kwame"]));

    let oscal_args = assess_args("oscal");
    let oscal_args: Vec<&str> = oscal_args.iter().map(String::as_str).collect();
    let out = pushback(&oscal_args, &root());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["assessment-results"]["metadata"]["oscal-version"],
        "1.1.3"
    );

    let html_args = assess_args("html");
    let html_args: Vec<&str> = html_args.iter().map(String::as_str).collect();
    let out = pushback(&html_args, &root());
    assert!(text(&out.stdout).starts_with("<!DOCTYPE html>"));
}

#[test]
fn an_export_of_the_wrong_shape_is_named_and_exits_2() {
    let out = pushback(
        &[
            "assess",
            "--duo-settings",
            &format!("{E}/exports/okta-policies.json"),
        ],
        &root(),
    );
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("okta-policies.json: not a Duo settings export"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn report_prints_the_golden_accountability_report_of_each_scenario() {
    let mut names: Vec<String> = std::fs::read_dir(root().join(format!("{E}/scenarios")))
        .expect("scenarios")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".yaml").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "{names:?}");
    for name in &names {
        let timeline = format!("{E}/scenarios/{name}.yaml");
        let registry = format!("{E}/registry.yaml");
        let out = pushback(
            &["report", "--timeline", &timeline, "--registry", &registry],
            &root(),
        );
        assert_eq!(code(&out), 0, "{name}: {}", text(&out.stderr));
        let expected = std::fs::read_to_string(root().join(format!("{E}/expected/{name}.md")))
            .expect("golden");
        assert_eq!(text(&out.stdout), expected, "{name}");
    }
    let out = pushback(
        &[
            "report",
            "--timeline",
            &format!("{E}/scenarios/helpdesk-reset-admin.yaml"),
            "--registry",
            &format!("{E}/registry.yaml"),
            "--output",
            "html",
        ],
        &root(),
    );
    let expected =
        std::fs::read_to_string(root().join(format!("{E}/expected/helpdesk-reset-admin.html")))
            .expect("golden");
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn govern_export_writes_oscal_documents() {
    for (model, key) in [
        ("component-definition", "component-definition"),
        ("poam", "plan-of-action-and-milestones"),
    ] {
        let out = pushback(
            &[
                "govern",
                "export",
                &format!("{E}/registry.yaml"),
                "--oscal",
                model,
                "--today",
                "2026-06-01",
            ],
            &root(),
        );
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert!(v[key]["uuid"].is_string(), "{model}");
    }
}

#[test]
fn a_timeline_for_an_app_the_registry_lacks_exits_2_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let timeline = dir.path().join("t.yaml");
    std::fs::write(
        &timeline,
        "incident: X\nuser: u\napp: payroll\nevents:\n  - {at: \"2026-01-01T00:00:00Z\", kind: note}\n",
    )
    .expect("write");
    let registry = root().join(format!("{E}/registry.yaml"));
    let out = pushback(
        &[
            "report",
            "--timeline",
            "t.yaml",
            "--registry",
            registry.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    assert_eq!(code(&out), 2);
    assert_eq!(
        text(&out.stderr),
        "t.yaml:3:1: app: no application `payroll` in the registry\n"
    );
    assert!(out.stdout.is_empty());
}
