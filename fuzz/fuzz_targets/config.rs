//! `pushback.toml` tables: `[challenge]` + `[policy]` (GuardSettings), `[server]`
//! (ServerSettings) and `[respond]` with its playbook (RespondSettings). Parsing and validating never panic, and what parses serialises
//! back to TOML that parses to the same settings.

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_guard::GuardSettings;
use pushback_respond::RespondSettings;
use pushback_server::ServerSettings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(settings) = toml::from_str::<GuardSettings>(text) {
        let _ = settings.validate();
        let printed = toml::to_string(&settings).expect("settings serialise");
        let again: GuardSettings = toml::from_str(&printed).expect("printed settings parse");
        assert_eq!(again, settings);
    }
    if let Ok(server) = toml::from_str::<ServerSettings>(text) {
        let printed = toml::to_string(&server).expect("settings serialise");
        let again: ServerSettings = toml::from_str(&printed).expect("printed settings parse");
        assert_eq!(again, server);
    }
    if let Ok(respond) = toml::from_str::<RespondSettings>(text) {
        let _ = respond.playbook();
        let printed = toml::to_string(&respond).expect("settings serialise");
        let again: RespondSettings = toml::from_str(&printed).expect("printed settings parse");
        assert_eq!(again, respond);
    }
});
