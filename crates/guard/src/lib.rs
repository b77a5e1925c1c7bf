//! The guard: a push approval service that resists repeated-prompt abuse by design.
//!
//! An app asks [`Guard::open`] for a challenge; the [`policy`] decides, before anything is
//! sent, whether to push, make the app wait, refuse (locked) or ask for a stronger factor.
//! A pushed challenge carries a [`code`] that the login screen shows and the user types on
//! the device, and a [`context`] the device shows. The device answers with a signature
//! ([`proof`]) over the challenge id, the typed code, the decision and the hash of the
//! context it showed; [`Guard::answer`] verifies it and the store records exactly one
//! decision. Storage is the [`store::GuardStore`] port; time and randomness come in as a
//! [`pushback_model::Clock`] and a [`pushback_model::Entropy`].
//!
//! ```
//! use pushback_guard::policy::{admit, Admission, UserState};
//! use pushback_guard::PolicySettings;
//! use pushback_model::Timestamp;
//!
//! let p = PolicySettings::default();
//! let mut user = UserState::default();
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! user.on_denied(&p, now, 1);
//! // A deny buys a 10-second wait before the next prompt.
//! assert_eq!(admit(&user, 1, &p, now), Admission::Wait { until: now.plus_secs(10) });
//! ```

mod admin;
pub mod audit;
pub mod challenge;
pub mod code;
pub mod context;
mod error;
pub mod policy;
pub mod proof;
mod response;
mod service;
mod settings;
pub mod store;

pub use admin::{AdminPrincipal, Enrolment, IngestPrincipal};
pub use challenge::{ChallengeRecord, ChallengeStatus, Resolution};
pub use code::{CodeKey, CodeMode};
pub use context::{BindingContext, DisplayContext};
pub use error::{GuardError, GuardResult, Refusal};
pub use proof::{AnswerPayload, Decision, DeviceKey, KeyType};
pub use service::*;
pub use settings::{ChallengeSettings, GuardSettings, InvalidSetting, PolicySettings};
