//! What a device parses from the server: the pending list. Parsing never panics, and a
//! parsed context is stable: its canonical form parses back to the same context and
//! canonicalises to the same bytes (so the hash a device checks is well defined).

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_guard::{DisplayContext, PendingItem};

fn check(items: &[PendingItem]) {
    for item in items {
        let canonical = item.context.canonical();
        let reparsed: DisplayContext =
            serde_json::from_str(&canonical).expect("a canonical context parses");
        assert_eq!(reparsed, item.context);
        assert_eq!(reparsed.canonical(), canonical);
        assert_eq!(reparsed.sha256_hex(), item.context.sha256_hex());
        // What the reference authenticator compares the server's claim with.
        let _ = item.context_sha256 == item.context.sha256_hex();
        // The whole item round-trips too.
        let text = serde_json::to_string(item).expect("an item serialises");
        let again: PendingItem = serde_json::from_str(&text).expect("a serialised item parses");
        assert_eq!(&again, item);
    }
}

fuzz_target!(|data: &[u8]| {
    // The list alone …
    if let Ok(items) = serde_json::from_slice::<Vec<PendingItem>>(data) {
        check(&items);
    }
    // … and the way `pushback device pending` reads it: `{"challenges": [...]}`.
    if let Ok(answer) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(items) = serde_json::from_value::<Vec<PendingItem>>(answer["challenges"].clone())
    {
        check(&items);
    }
});
