//! A challenge's life: `pending` until exactly one of approved, denied, not_me (answers),
//! expired (time) or superseded (a newer challenge for the same user).

use serde::Serialize;

use pushback_model::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeStatus {
    Pending,
    Approved,
    Denied,
    Expired,
    Superseded,
    NotMe,
}

impl ChallengeStatus {
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Approved,
        Self::Denied,
        Self::Expired,
        Self::Superseded,
        Self::NotMe,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
            Self::NotMe => "not_me",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What a verified answer does to its challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Approved,
    /// An explicit deny, or a wrong code (one guess per challenge).
    Denied {
        wrong_code: bool,
    },
    NotMe,
}

impl Resolution {
    pub const fn status(self) -> ChallengeStatus {
        match self {
            Self::Approved => ChallengeStatus::Approved,
            Self::Denied { .. } => ChallengeStatus::Denied,
            Self::NotMe => ChallengeStatus::NotMe,
        }
    }

    /// The reason stored beside the status.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied { wrong_code: false } => "denied",
            Self::Denied { wrong_code: true } => "wrong_code",
            Self::NotMe => "not_me",
        }
    }
}

/// A challenge as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    pub id: String,
    pub user_id: i64,
    pub login: String,
    pub app_id: String,
    pub status: ChallengeStatus,
    /// Finer detail of the status: `wrong_code`, `denied`, `expired`, …
    pub reason: Option<String>,
    /// Keyed hash of the code; never the code.
    pub code_hash: Vec<u8>,
    /// The canonical display context (see [`crate::DisplayContext`]).
    pub context_json: String,
    pub context_sha256: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub decided_at: Option<Timestamp>,
    pub device_id: Option<String>,
}

impl std::fmt::Debug for ChallengeRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeRecord")
            .field("id", &self.id)
            .field("login", &self.login)
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl ChallengeRecord {
    /// The status as of `now`: a pending challenge past its expiry is expired, whether or
    /// not the sweeper has recorded it yet.
    pub fn status_at(&self, now: Timestamp) -> ChallengeStatus {
        if self.status == ChallengeStatus::Pending && self.expires_at <= now {
            ChallengeStatus::Expired
        } else {
            self.status
        }
    }
}
