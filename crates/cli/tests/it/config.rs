//! `pushback config default` prints TOML (the unit test in src/config.rs checks it parses
//! to exactly the defaults; this only checks what the binary prints).

#[test]
fn config_default_prints_toml() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pushback"))
        .args(["config", "default"])
        .output()
        .expect("running pushback");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let table: toml::Table = toml::from_str(&text).expect("TOML");
    for section in ["server", "database", "challenge", "policy"] {
        assert!(
            table.get(section).is_some_and(toml::Value::is_table),
            "[{section}] missing:\n{text}"
        );
    }
}
