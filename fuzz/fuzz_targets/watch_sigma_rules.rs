//! Sigma rule files (`pushback_watch::rule`): loading any text never panics, whatever
//! it holds (multi-document YAML, conditions, modifiers, wildcards, regular
//! expressions, CIDRs, correlations and their references). A rule set that loads is
//! then run over a few events of every kind, so compiled matchers and windows are
//! exercised too.

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_model::{AuthEvent, EventKind, EventSource, Timestamp};
use pushback_watch::rule::{RuleSet, RuleSource};
use pushback_watch::{Engine, EngineSettings};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rules) = RuleSet::load(&[vec![RuleSource::new("fuzz.yml", text)]]) else {
        return;
    };
    let mut engine = Engine::new(
        rules,
        EngineSettings {
            disorder_tolerance_ms: 1_000,
            max_groups_per_rule: 4,
        },
    );
    for (i, kind) in EventKind::ALL.iter().cycle().take(48).enumerate() {
        let i = i as i64;
        let mut e = AuthEvent::new(
            format!("e{i}"),
            Timestamp::from_millis(i * 7_000 - (i % 3) * 500),
            EventSource::Duo,
            *kind,
            format!("User{}", i % 5),
            "authentication",
        );
        if i % 2 == 0 {
            e.src_ip = Some(std::net::IpAddr::from([203, 0, 113, (i % 7) as u8]));
            e.src_country = Some("Deutschland".into());
            e.answer_country = Some("ÖSTERREICH".into());
            e.session = Some(format!("s{}", i % 3).into());
            e.reason = Some("MFA denied; user declined the authentication".into());
        }
        if i % 5 == 0 {
            e.answer_ip = Some("2001:db8::1".parse().expect("literal"));
            e.asn = Some(701);
            e.risk_detections = vec![Box::from("NOVEL_ASN")].into_boxed_slice();
        }
        let _ = engine.observe(e);
    }
    let _ = engine.finish();
    let _ = engine.stats();
});
