//! The shared vocabulary of pushback: time ([`Timestamp`], [`Clock`]), randomness
//! ([`Entropy`]), [`Severity`], the hash-chained [`audit`] record, [`AuthEvent`], the
//! normalised MFA event that detection reads (see [`event`] for its field table), and
//! [`Finding`], what detection reports.
//!
//! Nothing here performs I/O. Domain crates take a `&dyn Clock` and a `&dyn Entropy`
//! instead of reading the wall clock or the operating system's RNG themselves, so their
//! tests are exact:
//!
//! ```
//! use pushback_model::{Clock, ManualClock, Timestamp};
//! let clock = ManualClock::new(Timestamp::from_millis(1_000));
//! clock.advance_millis(500);
//! assert_eq!(clock.now(), Timestamp::from_millis(1_500));
//! ```

pub mod audit;
mod clock;
pub mod duration;
mod entropy;
pub mod event;
pub mod finding;
mod severity;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use entropy::{Entropy, SystemEntropy, random_token};
pub use event::{AuthEvent, CompactString, EventKind, EventSource};
pub use finding::{DistinctValues, Finding};
pub use severity::Severity;

/// SHA-256 of `data`, as 32 bytes.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
