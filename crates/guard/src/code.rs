//! The secret that moves between the login screen and the device.
//!
//! In `code` mode the app shows a 6-to-10-digit code and the user types it on the device;
//! in `pick3` mode the app shows a two-digit number and the device offers it among two
//! decoys. Either way the server keeps only a keyed hash ([`CodeKey`]) and compares in
//! constant time.

use ring::hmac;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use pushback_model::Entropy;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeMode {
    #[default]
    Code,
    Pick3,
}

impl CodeMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Pick3 => "pick3",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "code" => Some(Self::Code),
            "pick3" => Some(Self::Pick3),
            _ => None,
        }
    }
}

/// A freshly drawn code.
pub struct IssuedCode {
    /// What the login screen shows.
    pub shown: String,
    /// In `pick3` mode, what the device offers (shuffled, the right one among them).
    pub options: Option<Vec<String>>,
}

impl std::fmt::Debug for IssuedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCode")
            .field("shown", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Draws a code from `entropy` (which must be a CSPRNG).
pub fn issue(mode: CodeMode, digits: u32, entropy: &dyn Entropy) -> IssuedCode {
    match mode {
        CodeMode::Code => {
            let bound = 10u64.pow(digits);
            // Two draws give 64 bits: enough for up to 10 digits without bias worth naming;
            // we still reject to stay exactly uniform.
            let zone = u64::MAX - (u64::MAX % bound);
            let value = loop {
                let mut b = [0u8; 8];
                entropy.fill(&mut b);
                let v = u64::from_le_bytes(b);
                if v < zone {
                    break v % bound;
                }
            };
            IssuedCode {
                shown: format!("{value:0width$}", width = digits as usize),
                options: None,
            }
        }
        CodeMode::Pick3 => {
            let right = 10 + entropy.below(90);
            let mut options = vec![right];
            while options.len() < 3 {
                let decoy = 10 + entropy.below(90);
                if !options.contains(&decoy) {
                    options.push(decoy);
                }
            }
            // Fisher–Yates so the right answer's position tells nothing.
            for i in (1..options.len()).rev() {
                let j = entropy.below(i as u32 + 1) as usize;
                options.swap(i, j);
            }
            IssuedCode {
                shown: right.to_string(),
                options: Some(options.iter().map(u32::to_string).collect()),
            }
        }
    }
}

/// The server's key for hashing codes. A six-digit code hashed without a key would fall
/// to a million guesses; keyed, a copy of the database alone does not reveal it.
#[derive(Clone)]
pub struct CodeKey(hmac::Key);

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey(<redacted>)")
    }
}

impl CodeKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The stored form of `code` for challenge `challenge_id`.
    pub fn hash(&self, challenge_id: &str, code: &str) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(b"pushback-code-v1\n");
        ctx.update(challenge_id.as_bytes());
        ctx.update(b"\n");
        ctx.update(code.as_bytes());
        ctx.sign().as_ref().to_vec()
    }

    /// Whether `typed` is the code whose stored form is `stored`, in constant time.
    pub fn matches(&self, challenge_id: &str, typed: &str, stored: &[u8]) -> bool {
        let candidate = self.hash(challenge_id, typed);
        bool::from(candidate.as_slice().ct_eq(stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushback_model::SystemEntropy;

    #[test]
    fn codes_have_the_requested_digits() {
        let e = SystemEntropy::new();
        for digits in [6, 8, 10] {
            let c = issue(CodeMode::Code, digits, &e);
            assert_eq!(c.shown.len(), digits as usize);
            assert!(c.shown.bytes().all(|b| b.is_ascii_digit()));
            assert!(c.options.is_none());
        }
    }

    #[test]
    fn pick3_offers_three_distinct_numbers_including_the_shown_one() {
        let e = SystemEntropy::new();
        for _ in 0..50 {
            let c = issue(CodeMode::Pick3, 6, &e);
            let options = c.options.expect("pick3 has options");
            assert_eq!(options.len(), 3);
            assert!(options.contains(&c.shown));
            let mut dedup = options.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(dedup.len(), 3);
        }
    }

    #[test]
    fn hashes_bind_the_challenge_and_the_key() {
        let k = CodeKey::new(b"k1");
        let h = k.hash("ch1", "123456");
        assert!(k.matches("ch1", "123456", &h));
        assert!(!k.matches("ch1", "123457", &h));
        assert!(!k.matches("ch2", "123456", &h));
        assert!(!CodeKey::new(b"k2").matches("ch1", "123456", &h));
    }

    #[test]
    fn debug_never_shows_the_code() {
        let c = IssuedCode {
            shown: "987654".into(),
            options: None,
        };
        assert!(!format!("{c:?}").contains("987654"));
    }
}
