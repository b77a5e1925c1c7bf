//! The built-in rules: the files of the repository's `rules/` directory, compiled into
//! the binary. Each has a declarative test beside it (`x.test.yml`), run by the crate's
//! integration tests, which also check that this list and the directory agree.

/// `(file name, text)` of every built-in rule file.
pub(crate) const FILES: &[(&str, &str)] = &[
    (
        "push_flood.yml",
        include_str!("../../../../rules/push_flood.yml"),
    ),
    (
        "push_flood_then_success.yml",
        include_str!("../../../../rules/push_flood_then_success.yml"),
    ),
    (
        "session_push_volume.yml",
        include_str!("../../../../rules/session_push_volume.yml"),
    ),
    (
        "push_spray.yml",
        include_str!("../../../../rules/push_spray.yml"),
    ),
    (
        "location_mismatch.yml",
        include_str!("../../../../rules/location_mismatch.yml"),
    ),
    (
        "user_reported_fraud.yml",
        include_str!("../../../../rules/user_reported_fraud.yml"),
    ),
    (
        "number_challenge_failed.yml",
        include_str!("../../../../rules/number_challenge_failed.yml"),
    ),
    (
        "vendor_risk_detection.yml",
        include_str!("../../../../rules/vendor_risk_detection.yml"),
    ),
];
