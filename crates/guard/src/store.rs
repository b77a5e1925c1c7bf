//! The storage the guard needs, as one trait ([`GuardStore`]). `pushback-store`
//! implements it on SQLite and PostgreSQL; each method that changes state is one
//! transaction, writes its audit entries in that same transaction, and decides races with
//! conditional SQL, so any number of nodes can share one database.

use async_trait::async_trait;

use pushback_model::Timestamp;
use pushback_model::audit::SealedEntry;

use crate::PolicySettings;
use crate::challenge::{ChallengeRecord, ChallengeStatus, Resolution};
use crate::code::CodeMode;
use crate::error::Refusal;
use crate::policy::{Admission, LockReason, UserState};
use crate::proof::KeyType;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique name or id is already taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// The database failed; the text is for logs, never for clients.
    #[error("database error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A relying party allowed to ask for challenges.
#[derive(Clone, PartialEq, Eq)]
pub struct AppRecord {
    pub id: String,
    pub name: String,
    /// SHA-256 of the API key's secret part.
    pub key_hash: Vec<u8>,
    /// Overrides the global challenge mode when set.
    pub mode: Option<CodeMode>,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for AppRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: String,
    pub user_id: i64,
    pub login: String,
    pub name: String,
    pub key_type: KeyType,
    pub public_key: Vec<u8>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// Frozen by the response playbook: its requests are refused until an admin
    /// unfreezes it.
    pub frozen_at: Option<Timestamp>,
}

/// A device about to be registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDevice {
    pub id: String,
    pub name: String,
    pub key_type: KeyType,
    pub public_key: Vec<u8>,
}

/// A challenge about to be opened.
#[derive(Clone, Debug)]
pub struct NewChallenge {
    pub id: String,
    pub app_id: String,
    pub code_hash: Vec<u8>,
    pub context_json: String,
    pub context_sha256: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenOutcome {
    /// The challenge is live; `prompts` counts it within the budget.
    Opened {
        superseded: Option<String>,
        prompts: u32,
    },
    /// The policy refused to push.
    Refused(Admission),
    /// No user has that login, or the user has no active device: nothing was written.
    Unavailable,
}

/// A device nonce, kept until `expires_at` to refuse replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nonce {
    pub device_id: String,
    pub nonce: String,
    pub expires_at: Timestamp,
}

/// A signed answer to record: the signature is verified, the challenge not yet read.
#[derive(Clone, Debug)]
pub struct AnswerRecord {
    pub challenge_id: String,
    pub device_id: String,
    pub user_id: i64,
    pub login: String,
    pub nonce: Nonce,
}

/// Judges an answer on its challenge as the store reads it, just before recording it
/// (and again on each read, if the store has to read again): the resolution the answer
/// gets, or why it is refused (and nothing changes). The status it sees may be stale;
/// the store records the answer only if the challenge is still pending.
pub type Judge<'a> = &'a (dyn Fn(&ChallengeRecord) -> Result<Resolution, Refusal> + Send + Sync);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// The answer decided `challenge` (as it was read before); `new_lock` says whether
    /// it locked push.
    Recorded {
        status: ChallengeStatus,
        resolution: Resolution,
        new_lock: Option<LockReason>,
        challenge: Box<ChallengeRecord>,
    },
    /// No such challenge, or the judge refused the answer; nothing changed.
    Refused(Refusal),
    /// The nonce was used before, or the device is revoked; nothing changed.
    Replay,
}

/// A challenge that [`GuardStore::expire_due`] recorded as expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredChallenge {
    pub id: String,
    pub login: String,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait GuardStore: Send + Sync {
    // --- admin keys ---------------------------------------------------------------
    async fn admin_key_count(&self) -> StoreResult<i64>;
    async fn insert_admin_key(&self, id: &str, key_hash: &[u8], at: Timestamp) -> StoreResult<()>;
    async fn admin_key_hash(&self, id: &str) -> StoreResult<Option<Vec<u8>>>;

    // --- ingest keys (log sources posting to the ingest API) ------------------------
    /// Stores an ingest key's hash and audits its creation, in one transaction.
    async fn insert_ingest_key(
        &self,
        id: &str,
        name: &str,
        key_hash: &[u8],
        at: Timestamp,
        actor: &str,
    ) -> StoreResult<()>;
    async fn ingest_key_hash(&self, id: &str) -> StoreResult<Option<Vec<u8>>>;

    // --- apps and users -------------------------------------------------------------
    async fn insert_app(&self, app: &AppRecord, actor: &str) -> StoreResult<()>;
    async fn app(&self, id: &str) -> StoreResult<Option<AppRecord>>;
    async fn insert_user(
        &self,
        login: &str,
        display_name: &str,
        at: Timestamp,
        actor: &str,
    ) -> StoreResult<UserRecord>;
    async fn user_by_login(&self, login: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_state(&self, user_id: i64) -> StoreResult<UserState>;
    /// Lifts any lock and restarts the counters.
    async fn unlock_user(&self, user: &UserRecord, at: Timestamp, actor: &str) -> StoreResult<()>;
    /// Locks push until `until` for the response playbook (a longer lock stays).
    async fn response_lock(
        &self,
        user: &UserRecord,
        until: Timestamp,
        at: Timestamp,
        actor: &str,
    ) -> StoreResult<UserState>;
    /// Requires a stronger factor (`required`) or lifts that requirement; false when
    /// there was nothing to change.
    async fn set_step_up(
        &self,
        user: &UserRecord,
        required: bool,
        at: Timestamp,
        actor: &str,
    ) -> StoreResult<bool>;

    // --- devices --------------------------------------------------------------------
    async fn insert_enrolment(
        &self,
        user: &UserRecord,
        token_hash: &[u8],
        expires_at: Timestamp,
        at: Timestamp,
        actor: &str,
    ) -> StoreResult<()>;
    /// Consumes a live, unused enrolment and registers the device, atomically. `None`
    /// when the token is unknown, used or expired.
    async fn redeem_enrolment(
        &self,
        token_hash: &[u8],
        device: &NewDevice,
        at: Timestamp,
    ) -> StoreResult<Option<DeviceRecord>>;
    async fn device(&self, id: &str) -> StoreResult<Option<DeviceRecord>>;
    async fn devices_of(&self, user_id: i64) -> StoreResult<Vec<DeviceRecord>>;
    async fn rename_device(
        &self,
        id: &str,
        name: &str,
        at: Timestamp,
        actor: &str,
    ) -> StoreResult<bool>;
    async fn revoke_device(&self, id: &str, at: Timestamp, actor: &str) -> StoreResult<bool>;
    /// Freezes the user's live devices (or only `device`); how many were frozen now.
    async fn freeze_devices(
        &self,
        user: &UserRecord,
        device: Option<&str>,
        at: Timestamp,
        actor: &str,
    ) -> StoreResult<u64>;
    /// false when the device is unknown or not frozen.
    async fn unfreeze_device(&self, id: &str, at: Timestamp, actor: &str) -> StoreResult<bool>;

    // --- challenges -------------------------------------------------------------------
    /// In one transaction on the user's counters: finds the user `login` and their
    /// active devices ([`OpenOutcome::Unavailable`] when there is neither), records a
    /// lapsed live challenge as expired, asks [`crate::policy::admit`], and either
    /// refuses or supersedes the live challenge and opens `new`.
    async fn open_challenge(
        &self,
        login: &str,
        new: &NewChallenge,
        policy: &PolicySettings,
        actor: &str,
    ) -> StoreResult<OpenOutcome>;
    async fn challenge(&self, id: &str) -> StoreResult<Option<ChallengeRecord>>;
    /// Consumes the nonce, if and only if the device is not revoked, and lists the user's
    /// live challenges; `None` on a replay or a revoked device.
    async fn pending_for_device(
        &self,
        device: &DeviceRecord,
        nonce: &Nonce,
        at: Timestamp,
    ) -> StoreResult<Option<Vec<ChallengeRecord>>>;
    /// Reads the challenge and asks `judge` for the answer's resolution; then, all or
    /// nothing, consumes the nonce (refusing a revoked device as a replay), decides the
    /// challenge if, and only if, it is still pending, and saves the user's counters.
    async fn record_answer(
        &self,
        answer: &AnswerRecord,
        judge: Judge<'_>,
        policy: &PolicySettings,
        at: Timestamp,
    ) -> StoreResult<AnswerOutcome>;

    // --- housekeeping -------------------------------------------------------------------
    /// Records up to `limit` lapsed challenges as expired, charging their users; returns
    /// the challenges it expired.
    async fn expire_due(
        &self,
        policy: &PolicySettings,
        at: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<ExpiredChallenge>>;
    /// Forgets up to `limit` nonces that expired before `before`; returns how many.
    async fn purge_nonces(&self, before: Timestamp, limit: i64) -> StoreResult<u64>;

    // --- audit ----------------------------------------------------------------------------
    /// Chains up to `limit` unsealed entries onto the log; returns how many. The
    /// hashing happens outside the transaction, which only moves the head if nobody
    /// else has (a sealer that loses the race seals nothing and the next pass goes on).
    async fn seal_audit(&self, limit: i64) -> StoreResult<usize>;
    /// Sealed entries with `seq > after_seq`, in chain order.
    async fn audit_sealed(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<SealedEntry>>;
    async fn audit_unsealed(&self) -> StoreResult<i64>;
}
