//! Device keys and what they sign.
//!
//! Every device request is signed by the device's own key; no bearer secret lives on the
//! device. Three payloads exist, each opening with its own domain tag so a signature over
//! one can never pass as another:
//!
//! * [`enrolment_payload`] — proof of possession when a device registers its key;
//! * [`request_payload`] — a signed API request (method, path, body hash, time, nonce);
//! * [`AnswerPayload`] — the decision itself: challenge id, typed code, decision, SHA-256
//!   of the context shown, device id, time and nonce.
//!
//! Payloads are `key:value` lines; every value is checked by [`field_ok`] to hold no line
//! break, so the encoding is unambiguous.

use base64::Engine as _;
use ring::signature::{self, KeyPair as _};
use serde::{Deserialize, Serialize};

use pushback_model::sha256;

/// The algorithms a device key may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// ECDSA P-256 with SHA-256 (ES256): what phone secure hardware holds.
    P256,
    /// Ed25519: for software keys.
    Ed25519,
}

impl KeyType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::P256 => "p256",
            Self::Ed25519 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "p256" => Some(Self::P256),
            "ed25519" => Some(Self::Ed25519),
            _ => None,
        }
    }

    /// Length of a raw public key: uncompressed SEC1 point for P-256, 32 bytes for Ed25519.
    pub const fn public_key_len(self) -> usize {
        match self {
            Self::P256 => 65,
            Self::Ed25519 => 32,
        }
    }
}

/// The user's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Deny,
    NotMe,
}

impl Decision {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::NotMe => "not_me",
        }
    }
}

/// Whether `value` may stand in a payload line: printable ASCII without spaces, 1 to 128
/// characters (codes may be empty, see [`AnswerPayload`]).
pub fn field_ok(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether a nonce is acceptable: 16 to 64 base64url characters.
pub fn nonce_ok(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn lines(tag: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str(tag);
    for (k, v) in fields {
        out.push('\n');
        out.push_str(k);
        out.push(':');
        out.push_str(v);
    }
    out.into_bytes()
}

/// Signed by a new device over the one-time enrolment token and its own public key.
pub fn enrolment_payload(token: &str, key_type: KeyType, public_key_b64: &str) -> Vec<u8> {
    lines(
        "pushback-enrol-v1",
        &[
            ("token", token),
            ("key_type", key_type.as_str()),
            ("public_key", public_key_b64),
        ],
    )
}

/// Signed by a device over one API request.
pub fn request_payload(
    method: &str,
    path_and_query: &str,
    device_id: &str,
    timestamp_ms: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    lines(
        "pushback-request-v1",
        &[
            ("method", method),
            ("path", path_and_query),
            ("device", device_id),
            ("ts", &timestamp_ms.to_string()),
            ("nonce", nonce),
            ("body_sha256", &hex::encode(sha256(body))),
        ],
    )
}

/// The decision a device signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerPayload {
    pub challenge_id: String,
    /// The code the user typed (or the number picked); empty for deny and not-me.
    pub code: String,
    pub decision: Decision,
    /// Lower-case hex SHA-256 of the canonical context the device showed.
    pub context_sha256: String,
    pub device_id: String,
    pub timestamp_ms: i64,
    pub nonce: String,
}

impl AnswerPayload {
    /// Whether every field can be encoded unambiguously.
    pub fn well_formed(&self) -> bool {
        field_ok(&self.challenge_id)
            && (self.code.is_empty()
                || (self.code.len() <= 10 && self.code.bytes().all(|b| b.is_ascii_digit())))
            && self.context_sha256.len() == 64
            && self
                .context_sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            && field_ok(&self.device_id)
            && nonce_ok(&self.nonce)
    }

    pub fn canonical(&self) -> Vec<u8> {
        lines(
            "pushback-answer-v1",
            &[
                ("challenge", &self.challenge_id),
                ("code", &self.code),
                ("decision", self.decision.as_str()),
                ("context_sha256", &self.context_sha256),
                ("device", &self.device_id),
                ("ts", &self.timestamp_ms.to_string()),
                ("nonce", &self.nonce),
            ],
        )
    }
}

/// Checks `sig` over `msg` with a raw public key. ECDSA signatures are the fixed 64-byte
/// `r || s` form.
///
/// Ed25519 is checked strictly: a weak (small-order) public key or signature point is
/// refused. Without that, the key `01 00…00` "verifies" the signature `01 00…00` over
/// every message, and a device enrolled with it could be driven by anyone.
pub fn verify(key_type: KeyType, public_key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    match key_type {
        KeyType::P256 => {
            public_key.len() == key_type.public_key_len()
                && signature::UnparsedPublicKey::new(
                    &signature::ECDSA_P256_SHA256_FIXED,
                    public_key,
                )
                .verify(msg, sig)
                .is_ok()
        }
        KeyType::Ed25519 => {
            let (Ok(key), Ok(sig)) = (
                <&[u8; 32]>::try_from(public_key),
                ed25519_dalek::Signature::from_slice(sig),
            ) else {
                return false;
            };
            match ed25519_dalek::VerifyingKey::from_bytes(key) {
                Ok(key) => !key.is_weak() && key.verify_strict(msg, &sig).is_ok(),
                Err(_) => false,
            }
        }
    }
}

/// Unpadded base64url, the encoding of keys and signatures on the wire.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url; `None` on anything else.
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// A device's private key, as the reference authenticator holds it.
pub struct DeviceKey {
    key_type: KeyType,
    pkcs8: Vec<u8>,
    inner: Inner,
}

enum Inner {
    P256(signature::EcdsaKeyPair),
    Ed25519(signature::Ed25519KeyPair),
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey")
            .field("key_type", &self.key_type)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// A key that could not be made or read.
#[derive(Debug, thiserror::Error)]
#[error("device key: {0}")]
pub struct KeyError(&'static str);

impl DeviceKey {
    /// A new key from the operating system's CSPRNG.
    pub fn generate(key_type: KeyType) -> Result<Self, KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = match key_type {
            KeyType::P256 => signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .map_err(|_| KeyError("could not generate a P-256 key"))?,
            KeyType::Ed25519 => signature::Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| KeyError("could not generate an Ed25519 key"))?,
        };
        Self::from_pkcs8(key_type, pkcs8.as_ref())
    }

    /// Reads a PKCS#8 private key.
    pub fn from_pkcs8(key_type: KeyType, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let inner = match key_type {
            KeyType::P256 => Inner::P256(
                signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8,
                    &ring::rand::SystemRandom::new(),
                )
                .map_err(|_| KeyError("not a P-256 PKCS#8 key"))?,
            ),
            KeyType::Ed25519 => Inner::Ed25519(
                signature::Ed25519KeyPair::from_pkcs8(pkcs8)
                    .map_err(|_| KeyError("not an Ed25519 PKCS#8 key"))?,
            ),
        };
        Ok(Self {
            key_type,
            pkcs8: pkcs8.to_vec(),
            inner,
        })
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The PKCS#8 document, for storing the key. Secret.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The raw public key (see [`KeyType::public_key_len`]).
    pub fn public_key(&self) -> Vec<u8> {
        match &self.inner {
            Inner::P256(k) => k.public_key().as_ref().to_vec(),
            Inner::Ed25519(k) => k.public_key().as_ref().to_vec(),
        }
    }

    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            Inner::P256(k) => k
                .sign(&ring::rand::SystemRandom::new(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError("signing failed")),
            Inner::Ed25519(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> AnswerPayload {
        AnswerPayload {
            challenge_id: "ch_1".into(),
            code: "123456".into(),
            decision: Decision::Approve,
            context_sha256: "ab".repeat(32),
            device_id: "dev_1".into(),
            timestamp_ms: 1_000,
            nonce: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        }
    }

    #[test]
    fn both_key_types_sign_and_verify() {
        for kt in [KeyType::P256, KeyType::Ed25519] {
            let key = DeviceKey::generate(kt).expect("keygen");
            let msg = answer().canonical();
            let sig = key.sign(&msg).expect("sign");
            assert!(verify(kt, &key.public_key(), &msg, &sig));
            let reread = DeviceKey::from_pkcs8(kt, key.pkcs8()).expect("reread");
            assert_eq!(reread.public_key(), key.public_key());
        }
    }

    #[test]
    fn a_signature_covers_every_field() {
        let key = DeviceKey::generate(KeyType::P256).expect("keygen");
        let good = answer();
        let sig = key.sign(&good.canonical()).expect("sign");
        let variants: Vec<AnswerPayload> = vec![
            AnswerPayload {
                challenge_id: "ch_2".into(),
                ..good.clone()
            },
            AnswerPayload {
                code: "123457".into(),
                ..good.clone()
            },
            AnswerPayload {
                decision: Decision::Deny,
                ..good.clone()
            },
            AnswerPayload {
                context_sha256: "cd".repeat(32),
                ..good.clone()
            },
            AnswerPayload {
                device_id: "dev_2".into(),
                ..good.clone()
            },
            AnswerPayload {
                timestamp_ms: 1_001,
                ..good.clone()
            },
            AnswerPayload {
                nonce: "BAAAAAAAAAAAAAAAAAAAAA".into(),
                ..good.clone()
            },
        ];
        for v in variants {
            assert!(
                !verify(KeyType::P256, &key.public_key(), &v.canonical(), &sig),
                "{v:?}"
            );
        }
    }

    #[test]
    fn payload_kinds_are_domain_separated() {
        let a = answer().canonical();
        let r = request_payload("GET", "/", "dev_1", 1, "AAAAAAAAAAAAAAAAAAAAAA", b"");
        let e = enrolment_payload("t", KeyType::P256, "k");
        assert!(a.starts_with(b"pushback-answer-v1\n"));
        assert!(r.starts_with(b"pushback-request-v1\n"));
        assert!(e.starts_with(b"pushback-enrol-v1\n"));
    }

    #[test]
    fn malformed_fields_are_not_well_formed() {
        assert!(answer().well_formed());
        assert!(
            !AnswerPayload {
                challenge_id: "a\nb".into(),
                ..answer()
            }
            .well_formed()
        );
        assert!(
            !AnswerPayload {
                code: "12a".into(),
                ..answer()
            }
            .well_formed()
        );
        assert!(
            !AnswerPayload {
                nonce: "short".into(),
                ..answer()
            }
            .well_formed()
        );
        assert!(
            !AnswerPayload {
                context_sha256: "AB".repeat(32),
                ..answer()
            }
            .well_formed()
        );
    }

    #[test]
    fn small_order_ed25519_keys_never_verify() {
        // The neutral point: with ring's plain check, this key and signature pass for any message.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let mut forged = [0u8; 64];
        forged[0] = 1;
        for msg in [b"anything".as_slice(), &answer().canonical()] {
            assert!(!verify(KeyType::Ed25519, &weak, msg, &forged));
        }
    }

    #[test]
    fn wrong_length_keys_never_verify() {
        assert!(!verify(KeyType::Ed25519, &[0u8; 31], b"m", &[0u8; 64]));
        assert!(!verify(KeyType::P256, &[4u8; 65], b"m", &[0u8; 64]));
    }

    #[test]
    fn debug_redacts_the_private_key() {
        let key = DeviceKey::generate(KeyType::Ed25519).expect("keygen");
        assert!(format!("{key:?}").contains("redacted"));
    }
}
