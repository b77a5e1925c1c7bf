//! Device proofs: arbitrary answer payloads, keys and signatures.
//!
//! * `well_formed`, `canonical`, `verify`, `enrolment_payload` and `request_payload`
//!   never panic, whatever the field values, key bytes and signature bytes;
//! * a well-formed payload canonicalises to exactly 8 `key:value` lines (the tag and 7
//!   fields) that parse back to the same payload, so the encoding is unambiguous;
//! * a real key's signature over a well-formed payload verifies, and does not verify
//!   over any other well-formed payload.

#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

use pushback_guard::proof::{self, AnswerPayload, Decision, DeviceKey, KeyType};

#[derive(Arbitrary, Debug)]
struct Payload {
    challenge_id: String,
    code: String,
    decision: u8,
    context_sha256: String,
    device_id: String,
    timestamp_ms: i64,
    nonce: String,
    /// Most arbitrary strings are not well formed; these shape some that are.
    shaped: bool,
    hash: [u8; 32],
    nonce_bytes: [u8; 48],
    nonce_len: u8,
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Payload {
    fn build(&self) -> AnswerPayload {
        AnswerPayload {
            challenge_id: self.challenge_id.clone(),
            code: self.code.clone(),
            decision: match self.decision % 3 {
                0 => Decision::Approve,
                1 => Decision::Deny,
                _ => Decision::NotMe,
            },
            context_sha256: if self.shaped {
                hex::encode(self.hash)
            } else {
                self.context_sha256.clone()
            },
            device_id: self.device_id.clone(),
            timestamp_ms: self.timestamp_ms,
            nonce: if self.shaped {
                let len = 16 + usize::from(self.nonce_len) % 33;
                self.nonce_bytes[..len]
                    .iter()
                    .map(|b| char::from(B64URL[usize::from(b % 64)]))
                    .collect()
            } else {
                self.nonce.clone()
            },
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    payload: Payload,
    other: Payload,
    p256: bool,
    public_key: Vec<u8>,
    signature: Vec<u8>,
    message: Vec<u8>,
    method: String,
    path: String,
    body: Vec<u8>,
}

fn keys() -> &'static [DeviceKey; 2] {
    static KEYS: OnceLock<[DeviceKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            DeviceKey::generate(KeyType::P256).expect("P-256 keygen"),
            DeviceKey::generate(KeyType::Ed25519).expect("Ed25519 keygen"),
        ]
    })
}

/// Parses a canonical answer back; `None` if it is not 8 well-shaped lines.
fn parse(canonical: &[u8]) -> Option<AnswerPayload> {
    let text = std::str::from_utf8(canonical).ok()?;
    let lines: Vec<&str> = text.split('\n').collect();
    let [tag, rest @ ..] = lines.as_slice() else {
        return None;
    };
    if *tag != "pushback-answer-v1" || rest.len() != 7 {
        return None;
    }
    let mut values = Vec::new();
    for (line, key) in rest.iter().zip([
        "challenge",
        "code",
        "decision",
        "context_sha256",
        "device",
        "ts",
        "nonce",
    ]) {
        values.push(line.strip_prefix(key)?.strip_prefix(':')?);
    }
    Some(AnswerPayload {
        challenge_id: values[0].to_owned(),
        code: values[1].to_owned(),
        decision: match values[2] {
            "approve" => Decision::Approve,
            "deny" => Decision::Deny,
            "not_me" => Decision::NotMe,
            _ => return None,
        },
        context_sha256: values[3].to_owned(),
        device_id: values[4].to_owned(),
        timestamp_ms: values[5].parse().ok()?,
        nonce: values[6].to_owned(),
    })
}

fuzz_target!(|input: Input| {
    let payload = input.payload.build();
    let canonical = payload.canonical();
    let well_formed = payload.well_formed();

    // Arbitrary keys and signatures, over the payload and over anything.
    for kt in [KeyType::P256, KeyType::Ed25519] {
        let _ = proof::verify(kt, &input.public_key, &canonical, &input.signature);
        let _ = proof::verify(kt, &input.public_key, &input.message, &input.signature);
    }
    let _ = proof::unb64(&input.payload.nonce);
    let _ = proof::enrolment_payload(
        &input.payload.challenge_id,
        KeyType::P256,
        &input.payload.device_id,
    );
    let _ = proof::request_payload(
        &input.method,
        &input.path,
        &input.payload.device_id,
        input.payload.timestamp_ms,
        &input.payload.nonce,
        &input.body,
    );

    if !well_formed {
        return;
    }
    assert_eq!(
        canonical.iter().filter(|&&b| b == b'\n').count() + 1,
        8,
        "{payload:?}"
    );
    assert_eq!(
        parse(&canonical).as_ref(),
        Some(&payload),
        "a well-formed payload must round-trip"
    );

    let key = &keys()[usize::from(!input.p256)];
    let sig = key.sign(&canonical).expect("signing");
    assert!(proof::verify(
        key.key_type(),
        &key.public_key(),
        &canonical,
        &sig
    ));
    let other = input.other.build();
    if other.well_formed() && other != payload {
        assert_ne!(
            other.canonical(),
            canonical,
            "two payloads, one encoding: {payload:?} {other:?}"
        );
        assert!(!proof::verify(
            key.key_type(),
            &key.public_key(),
            &other.canonical(),
            &sig
        ));
    }
});
