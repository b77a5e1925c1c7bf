//! Exported IdP configuration (`pushback_govern::export`): the first byte picks the
//! parser (Entra authentication methods, Entra conditional access, Okta authenticators,
//! Okta policies, Duo settings, Duo policies), the rest is the document. Parsing never
//! panics, and whatever parses runs through every posture check without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_govern::date::Day;
use pushback_govern::export::{duo, entra, okta};
use pushback_govern::posture::{Inputs, assess};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut inputs = Inputs::default();
    match selector % 6 {
        0 => inputs.entra_auth_methods = entra::AuthMethodsPolicy::parse(text).ok(),
        1 => inputs.entra_conditional_access = entra::ConditionalAccess::parse(text).ok(),
        2 => inputs.okta_authenticators = okta::Authenticators::parse(text).ok(),
        3 => inputs.okta_policies = okta::Policies::parse(text).ok(),
        4 => inputs.duo_settings = duo::Settings::parse(text).ok(),
        _ => inputs.duo_policies = duo::Policies::parse(text).ok(),
    }
    let a = assess(&inputs, None, Day::parse("2026-06-01").expect("a day"));
    assert_eq!(a.findings.len(), pushback_govern::posture::CHECKS.len());
});
