//! Randomness as a parameter: domain code draws from an [`Entropy`], never from a global.

use base64::Engine as _;

/// A source of cryptographically secure random bytes.
pub trait Entropy: Send + Sync {
    /// Fills `buf` with random bytes. Implementations must be a CSPRNG.
    fn fill(&self, buf: &mut [u8]);

    /// A uniformly random integer in `0..bound` (rejection sampling, no modulo bias).
    fn below(&self, bound: u32) -> u32 {
        assert!(bound > 0, "bound must be positive");
        let zone = u32::MAX - (u32::MAX % bound);
        loop {
            let mut b = [0u8; 4];
            self.fill(&mut b);
            let v = u32::from_le_bytes(b);
            if v < zone {
                return v % bound;
            }
        }
    }
}

/// The operating system's CSPRNG (through `ring`).
#[derive(Debug)]
pub struct SystemEntropy(ring::rand::SystemRandom);

impl SystemEntropy {
    pub fn new() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemEntropy {
    fn default() -> Self {
        Self::new()
    }
}

impl Entropy for SystemEntropy {
    fn fill(&self, buf: &mut [u8]) {
        use ring::rand::SecureRandom as _;
        // The OS RNG failing is not something a security service can carry on through.
        self.0.fill(buf).expect("the operating system's RNG failed");
    }
}

/// `bytes` random bytes as unpadded base64url text: ids, nonces, secrets.
pub fn random_token(entropy: &dyn Entropy, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    entropy.fill(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let e = SystemEntropy::new();
        let mut seen = [false; 3];
        for _ in 0..300 {
            let v = e.below(3);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn tokens_differ() {
        let e = SystemEntropy::new();
        assert_ne!(random_token(&e, 16), random_token(&e, 16));
        assert_eq!(random_token(&e, 16).len(), 22);
    }
}
