//! Single-core throughput of the engine with the built-in rules, on a synthetic mix
//! shaped like an identity provider's MFA log (mostly approvals and sign-ins, some
//! prompts, denials and floods). Events are built before the clock starts; only
//! `Engine::observe_into` is timed.
//!
//! `cargo run --release -p pushback-watch --example engine_throughput [events [tolerance_ms]]`
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a benchmark reads the clock

use std::time::Instant;

use pushback_model::{AuthEvent, EventKind, EventSource, Timestamp};
use pushback_watch::rule::RuleSet;
use pushback_watch::{Engine, EngineSettings};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let kinds = [
        (EventKind::MfaSuccess, 40),
        (EventKind::SessionStart, 25),
        (EventKind::Other, 15),
        (EventKind::PushSent, 10),
        (EventKind::PushDenied, 5),
        (EventKind::PushTimeout, 3),
        (EventKind::MfaFailure, 2),
    ];
    let table: Vec<EventKind> = kinds
        .iter()
        .flat_map(|(k, w)| std::iter::repeat_n(*k, *w))
        .collect();
    let mut x: u64 = 1;
    let mut next = |below: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % below
    };
    let mut t = 1_767_225_600_000i64;
    let events: Vec<AuthEvent> = (0..n)
        .map(|i| {
            t += i64::try_from(next(20)).unwrap();
            let kind = table[usize::try_from(next(table.len() as u64)).unwrap()];
            let mut e = AuthEvent::new(
                format!("{i:016x}"),
                Timestamp::from_millis(t),
                EventSource::Okta,
                kind,
                format!("user{}@example.com", next(50_000)),
                "user.authentication.auth_via_mfa",
            );
            e.session = Some(format!("102{:012}", next(200_000)).into());
            e.src_ip = Some(std::net::IpAddr::from([
                198,
                51,
                100,
                u8::try_from(next(256)).unwrap(),
            ]));
            e.src_country = Some("Germany".into());
            e.factor = Some("OKTA_VERIFY_PUSH".into());
            e
        })
        .collect();
    let mut settings = EngineSettings::default();
    if let Some(ms) = std::env::args().nth(2).and_then(|s| s.parse().ok()) {
        settings.disorder_tolerance_ms = ms;
    }
    let mut engine = Engine::new(RuleSet::builtin().unwrap(), settings);
    let mut findings = Vec::new();
    let start = Instant::now();
    for e in events {
        engine.observe_into(e, &mut findings);
    }
    findings.extend(engine.finish());
    let secs = start.elapsed().as_secs_f64();
    let stats = engine.stats();
    println!(
        "{n} events in {secs:.2} s: {:.0} events/s; {} findings; {} groups held; {} evicted",
        n as f64 / secs,
        findings.len(),
        stats.groups,
        stats.evicted_groups
    );
}
