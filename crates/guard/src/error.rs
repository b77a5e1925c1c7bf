//! The errors the guard hands to the server, which maps each to one HTTP answer.

use crate::store::StoreError;

/// Why a device request was refused. Clients only ever see one uniform refusal; the
/// cause goes to logs and metrics so operators can tell replays from expiries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    UnknownDevice,
    RevokedDevice,
    StaleTimestamp,
    BadSignature,
    /// The nonce was seen before, or the device was revoked (possibly on another node)
    /// since this one cached it.
    ReplayOrRevoked,
    UnknownChallenge,
    NotYourChallenge,
    ContextMismatch,
    NotAnswerable,
    WrongCode,
    BadEnrolment,
}

impl Refusal {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnknownDevice => "unknown_device",
            Self::RevokedDevice => "revoked_device",
            Self::StaleTimestamp => "stale_timestamp",
            Self::BadSignature => "bad_signature",
            Self::ReplayOrRevoked => "replay_or_revoked",
            Self::UnknownChallenge => "unknown_challenge",
            Self::NotYourChallenge => "not_your_challenge",
            Self::ContextMismatch => "context_mismatch",
            Self::NotAnswerable => "not_answerable",
            Self::WrongCode => "wrong_code",
            Self::BadEnrolment => "bad_enrolment",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// Missing or wrong credentials.
    #[error("unauthorized")]
    Unauthorized,
    /// Nothing by that name is visible to the caller.
    #[error("not found")]
    NotFound,
    /// The request is malformed; the text says how, and holds no secret.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A device request was refused (see [`Refusal`]).
    #[error("refused: {}", .0.as_str())]
    Refused(Refusal),
    /// A name is already taken.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for GuardError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(what),
            other => Self::Store(other),
        }
    }
}

pub type GuardResult<T> = Result<T, GuardError>;
