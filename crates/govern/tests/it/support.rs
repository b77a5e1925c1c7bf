//! Paths, fixtures and golden-file comparison.

use std::path::PathBuf;

use pushback_govern::date::Day;
use pushback_govern::registry::Registry;

pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

pub fn data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn read(path: &str) -> String {
    let path = repo(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn day(s: &str) -> Day {
    Day::parse(s).expect("a day")
}

pub fn registry(text: &str) -> Registry {
    Registry::parse("test.yaml", text).unwrap_or_else(|e| panic!("registry does not parse:\n{e}"))
}

pub fn example_registry() -> Registry {
    Registry::parse(
        "examples/governance/registry.yaml",
        &read("examples/governance/registry.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Compares `actual` with the golden file at `path` (from the repository root), or
/// rewrites it when `PUSHBACK_BLESS=1`.
pub fn golden(path: &str, actual: &str) {
    let file = repo(path);
    if std::env::var_os("PUSHBACK_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&file, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with PUSHBACK_BLESS=1 to create it)",
            file.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or(
                expected.lines().count().min(actual.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{} differs from the golden file at line {line}:\n  expected: {:?}\n  actual:   {:?}\n(PUSHBACK_BLESS=1 regenerates it)",
            file.display(),
            expected.lines().nth(line - 1).unwrap_or(""),
            actual.lines().nth(line - 1).unwrap_or("")
        );
    }
}
