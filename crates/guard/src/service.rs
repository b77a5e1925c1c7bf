//! [`Guard`]: the operations the server exposes, each a few checks around one store call.

use std::sync::Arc;

use serde::Serialize;
use subtle::ConstantTimeEq as _;

use pushback_model::{Clock, Entropy, Timestamp, random_token, sha256};

use crate::GuardSettings;
use crate::challenge::{ChallengeRecord, ChallengeStatus, Resolution};
use crate::code::{self, CodeKey, CodeMode};
use crate::context::{BindingContext, DisplayContext};
use crate::error::{GuardError, GuardResult, Refusal};
use crate::policy::{Admission, LockReason, StepUpReason};
use crate::proof::{self, AnswerPayload, Decision, KeyType};
use crate::store::{
    AnswerOutcome, AnswerRecord, AppRecord, DeviceRecord, GuardStore, NewChallenge, NewDevice,
    Nonce, OpenOutcome,
};

/// How far a device's clock may be from ours, in seconds. Nonces are kept twice as long,
/// so a request can never be both fresh enough to accept and old enough to be forgotten.
pub const CLOCK_SKEW_SECS: i64 = 300;
/// How long an enrolment link stays usable, in seconds.
pub const ENROLMENT_TTL_SECS: i64 = 600;

/// An app's request for a challenge (CIBA-shaped).
#[derive(Clone, Debug)]
pub struct ChallengeRequest {
    pub login_hint: String,
    pub context: BindingContext,
    /// Seconds; at most the configured maximum (10 minutes by default).
    pub requested_expiry: Option<i64>,
}

/// The answer to a challenge request.
#[derive(Clone, PartialEq, Eq)]
pub enum ChallengeAnswer {
    /// A challenge is live. The app shows `user_code` on the login screen.
    Pending {
        auth_req_id: String,
        user_code: String,
        mode: CodeMode,
        expires_at: Timestamp,
        prompts: u32,
    },
    /// Backoff in force: ask again after `until`.
    Wait {
        until: Timestamp,
    },
    Locked {
        until: Timestamp,
        reason: LockReason,
    },
    StepUpRequired {
        reason: StepUpReason,
    },
}

impl std::fmt::Debug for ChallengeAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pending {
                auth_req_id, mode, ..
            } => f
                .debug_struct("Pending")
                .field("auth_req_id", auth_req_id)
                .field("mode", mode)
                .finish_non_exhaustive(),
            Self::Wait { until } => f.debug_struct("Wait").field("until", until).finish(),
            Self::Locked { until, reason } => f
                .debug_struct("Locked")
                .field("until", until)
                .field("reason", reason)
                .finish(),
            Self::StepUpRequired { reason } => f
                .debug_struct("StepUpRequired")
                .field("reason", reason)
                .finish(),
        }
    }
}

/// A challenge as its app sees it when polling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChallengeView {
    pub auth_req_id: String,
    pub status: ChallengeStatus,
    pub expires_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

/// A challenge as the device sees it: the context, never the code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PendingItem {
    pub challenge_id: String,
    pub context: DisplayContext,
    pub context_sha256: String,
    pub expires_at: i64,
}

/// A device request's signature headers.
#[derive(Clone, Debug)]
pub struct SignedRequest<'a> {
    pub device_id: &'a str,
    pub timestamp_ms: i64,
    pub nonce: &'a str,
    pub signature: &'a str,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body: &'a [u8],
}

/// A device's answer: the payload and its signature (base64url).
#[derive(Clone, Debug)]
pub struct SignedAnswer {
    pub payload: AnswerPayload,
    pub signature: String,
}

/// What a recorded answer did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerReceipt {
    pub status: ChallengeStatus,
    pub challenge_created_at: Timestamp,
    pub decided_at: Timestamp,
}

/// A device asking to enrol with a one-time token.
#[derive(Clone, Debug)]
pub struct EnrolRequest {
    pub token: String,
    pub key_type: KeyType,
    /// Raw public key, base64url.
    pub public_key: String,
    pub name: String,
    /// Signature over [`proof::enrolment_payload`], base64url.
    pub signature: String,
}

/// What one housekeeping pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Housekeeping {
    pub expired: usize,
    pub sealed: usize,
    pub nonces_purged: u64,
}

/// What happened to one challenge, for detection: watch turns these into `AuthEvent`s
/// (source `pushback`) and runs its rules over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeEvent {
    pub at: Timestamp,
    pub challenge_id: String,
    pub login: String,
    pub step: ChallengeStep,
    /// The app's name, as the device was shown it (absent for an expiry).
    pub app: Option<String>,
    /// The requesting side's IP address as the app reported it (absent for an expiry).
    pub ip: Option<String>,
    /// Its location as the app reported it (absent for an expiry).
    pub location: Option<String>,
    /// The device that decided it (only for `Decided`).
    pub device_id: Option<String>,
}

/// The step a [`ChallengeEvent`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeStep {
    /// The challenge was opened and pushed to the user's devices.
    Opened,
    /// The user's device decided it.
    Decided(Resolution),
    /// It ended without an answer: `Expired` or `Superseded`.
    Unanswered(ChallengeStatus),
}

/// Hears what the guard decides, for metrics and detection. Every method defaults to
/// doing nothing, and none may block: they run on the request's task.
pub trait Observer: Send + Sync {
    /// A challenge was opened, decided or ended unanswered, with whom and where.
    fn challenge(&self, _event: &ChallengeEvent) {}
    /// A challenge request was answered.
    fn opened(&self, _answer: &ChallengeAnswer) {}
    /// A challenge was decided by its device, `seconds` after it was created.
    fn decided(&self, _resolution: Resolution, _seconds: f64) {}
    /// `count` challenges ended unanswered: `Expired` or `Superseded`.
    fn unanswered(&self, _status: ChallengeStatus, _count: usize) {}
    /// Push was locked for `login` by the fatigue policy.
    fn locked(&self, _login: &str, _reason: LockReason) {}
    /// A device request was refused; the client was told only that it was.
    fn refused(&self, _cause: Refusal) {}
}

struct Silent;
impl Observer for Silent {}

/// Several observers, each told everything in turn.
pub struct Observers(pub Vec<Arc<dyn Observer>>);

impl Observer for Observers {
    fn challenge(&self, event: &ChallengeEvent) {
        self.0.iter().for_each(|o| o.challenge(event));
    }
    fn opened(&self, answer: &ChallengeAnswer) {
        self.0.iter().for_each(|o| o.opened(answer));
    }
    fn decided(&self, resolution: Resolution, seconds: f64) {
        self.0.iter().for_each(|o| o.decided(resolution, seconds));
    }
    fn unanswered(&self, status: ChallengeStatus, count: usize) {
        self.0.iter().for_each(|o| o.unanswered(status, count));
    }
    fn locked(&self, login: &str, reason: LockReason) {
        self.0.iter().for_each(|o| o.locked(login, reason));
    }
    fn refused(&self, cause: Refusal) {
        self.0.iter().for_each(|o| o.refused(cause));
    }
}

/// Records that never change once written, kept in memory so the hot path does not ask
/// the database for them on every request: an app's id, name and key hash (apps have no
/// rotation or deletion), a device's identity and public key, and what an app's poll
/// shows of a decided challenge. A device's revocation is *not* trusted from here: the
/// store checks it in the same statement that consumes the request's nonce, so a
/// revocation on any node takes effect at once.
#[derive(Default)]
pub(crate) struct Immutables {
    pub(crate) apps: std::sync::RwLock<std::collections::HashMap<String, AppRecord>>,
    pub(crate) devices: std::sync::RwLock<std::collections::HashMap<String, DeviceRecord>>,
    decided: std::sync::RwLock<std::collections::HashMap<String, Polled>>,
}

/// A challenge as its app's poll shows it, kept once it is decided. Every change of a
/// challenge's status starts from pending, so a decided one never changes again and a
/// poll may be answered from here, whichever node decided it.
#[derive(Clone, Debug)]
struct Polled {
    app_id: String,
    status: ChallengeStatus,
    expires_at: Timestamp,
    decided_at: Option<Timestamp>,
}

impl Polled {
    fn of(ch: &ChallengeRecord, status: ChallengeStatus, decided_at: Option<Timestamp>) -> Self {
        Self {
            app_id: ch.app_id.clone(),
            status,
            expires_at: ch.expires_at,
            decided_at,
        }
    }
}

/// Entries kept per map before it is emptied and refilled on demand.
const CACHE_LIMIT: usize = 500_000;

/// Decided challenges kept for polls (about 10 MiB). Apps poll within seconds of the
/// decision; a poll that misses reads the database.
const DECIDED_LIMIT: usize = 65_536;

pub(crate) fn cached<T: Clone>(
    map: &std::sync::RwLock<std::collections::HashMap<String, T>>,
    id: &str,
) -> Option<T> {
    map.read().ok()?.get(id).cloned()
}

pub(crate) fn remember<T>(
    map: &std::sync::RwLock<std::collections::HashMap<String, T>>,
    id: &str,
    value: T,
) {
    remember_up_to(map, id, value, CACHE_LIMIT);
}

fn remember_up_to<T>(
    map: &std::sync::RwLock<std::collections::HashMap<String, T>>,
    id: &str,
    value: T,
    limit: usize,
) {
    if let Ok(mut m) = map.write() {
        if m.len() >= limit {
            m.clear();
        }
        m.insert(id.to_owned(), value);
    }
}

pub struct Guard {
    pub(crate) immutables: Immutables,
    observer: Arc<dyn Observer>,
    pub(crate) store: Arc<dyn GuardStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) entropy: Arc<dyn Entropy>,
    pub(crate) code_key: CodeKey,
    pub(crate) settings: GuardSettings,
}

pub(crate) fn valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.chars().count() <= 128
        && !login.chars().any(|c| c.is_control() || c.is_whitespace())
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.trim().is_empty() && name.chars().count() <= 64 && !name.chars().any(char::is_control)
}

/// Splits `<prefix>.<id>.<secret>`.
pub(crate) fn split_key<'a>(presented: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let rest = presented.strip_prefix(prefix)?.strip_prefix('.')?;
    let (id, secret) = rest.split_once('.')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

pub(crate) fn key_matches(secret: &str, stored: &[u8]) -> bool {
    bool::from(sha256(secret.as_bytes()).as_slice().ct_eq(stored))
}

impl Guard {
    pub fn new(
        store: Arc<dyn GuardStore>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        code_key: CodeKey,
        settings: GuardSettings,
    ) -> Result<Self, crate::InvalidSetting> {
        settings.validate()?;
        Ok(Self {
            immutables: Immutables::default(),
            observer: Arc::new(Silent),
            store,
            clock,
            entropy,
            code_key,
            settings,
        })
    }

    /// Reports decisions to `observer` from now on.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// The store this guard runs on.
    pub fn store(&self) -> &Arc<dyn GuardStore> {
        &self.store
    }

    pub fn settings(&self) -> &GuardSettings {
        &self.settings
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn new_secret(&self) -> String {
        random_token(self.entropy.as_ref(), 32)
    }

    // --- apps -------------------------------------------------------------------------

    /// Asks the policy and, if it allows, opens a challenge for `req.login_hint`.
    ///
    /// An unknown user and a known user without a usable device get the same answer,
    /// after the same single lookup: no user enumeration.
    pub async fn open(
        &self,
        app: &AppRecord,
        req: &ChallengeRequest,
    ) -> GuardResult<ChallengeAnswer> {
        let limits = &self.settings.challenge;
        if !valid_login(&req.login_hint) {
            return Err(GuardError::Invalid(
                "login_hint must be 1 to 128 characters without spaces".into(),
            ));
        }
        req.context.validate().map_err(GuardError::Invalid)?;
        let expiry = req.requested_expiry.unwrap_or(limits.default_expiry_secs);
        if !(1..=limits.max_expiry_secs).contains(&expiry) {
            return Err(GuardError::Invalid(format!(
                "requested_expiry must be 1 to {} seconds",
                limits.max_expiry_secs
            )));
        }
        let mode = app.mode.unwrap_or(limits.mode);
        let issued = code::issue(mode, limits.code_digits, self.entropy.as_ref());
        let id = format!("ch_{}", random_token(self.entropy.as_ref(), 16));
        let now = self.now();
        let expires_at = now.plus_secs(expiry);
        let display = DisplayContext::new(
            &app.name,
            &req.context,
            mode,
            issued.options.as_deref(),
            now,
            expires_at,
        );
        let new = NewChallenge {
            code_hash: self.code_key.hash(&id, &issued.shown),
            id,
            app_id: app.id.clone(),
            context_json: display.canonical(),
            context_sha256: display.sha256_hex(),
            created_at: now,
            expires_at,
        };
        let actor = format!("app:{}", app.id);
        let answer = match self
            .store
            .open_challenge(&req.login_hint, &new, &self.settings.policy, &actor)
            .await?
        {
            OpenOutcome::Opened {
                prompts,
                superseded,
            } => {
                let event = |challenge_id: String, step| ChallengeEvent {
                    at: now,
                    challenge_id,
                    login: req.login_hint.clone(),
                    step,
                    app: Some(app.name.clone()),
                    ip: Some(req.context.ip.clone()),
                    location: Some(req.context.location.clone()),
                    device_id: None,
                };
                if let Some(old) = superseded {
                    self.observer.unanswered(ChallengeStatus::Superseded, 1);
                    self.observer.challenge(&event(
                        old,
                        ChallengeStep::Unanswered(ChallengeStatus::Superseded),
                    ));
                }
                self.observer
                    .challenge(&event(new.id.clone(), ChallengeStep::Opened));
                ChallengeAnswer::Pending {
                    auth_req_id: new.id,
                    user_code: issued.shown,
                    mode,
                    expires_at,
                    prompts,
                }
            }
            OpenOutcome::Refused(Admission::Wait { until }) => ChallengeAnswer::Wait { until },
            OpenOutcome::Refused(Admission::Locked { until, reason }) => {
                ChallengeAnswer::Locked { until, reason }
            }
            OpenOutcome::Refused(Admission::StepUp { reason }) => {
                ChallengeAnswer::StepUpRequired { reason }
            }
            // An unknown user and a user without an active device are answered alike
            // (no user enumeration), after the same work: one transaction, no writes.
            OpenOutcome::Unavailable => ChallengeAnswer::StepUpRequired {
                reason: StepUpReason::PushUnavailable,
            },
            OpenOutcome::Refused(Admission::Push) => {
                return Err(GuardError::Store(crate::store::StoreError::Backend(
                    "store refused a push the policy allowed".into(),
                )));
            }
        };
        self.observer.opened(&answer);
        Ok(answer)
    }

    /// The state of a challenge, for the app that opened it.
    pub async fn status(&self, app: &AppRecord, auth_req_id: &str) -> GuardResult<ChallengeView> {
        let polled = match cached(&self.immutables.decided, auth_req_id) {
            Some(polled) => polled,
            None => {
                let ch = self
                    .store
                    .challenge(auth_req_id)
                    .await?
                    .ok_or(GuardError::NotFound)?;
                let polled = Polled::of(&ch, ch.status_at(self.now()), ch.decided_at);
                // A pending one is read on every poll, until the database says otherwise.
                if ch.status != ChallengeStatus::Pending {
                    self.remember_decided(&ch.id, polled.clone());
                }
                polled
            }
        };
        if polled.app_id != app.id {
            return Err(GuardError::NotFound);
        }
        Ok(ChallengeView {
            auth_req_id: auth_req_id.to_owned(),
            status: polled.status,
            expires_at: polled.expires_at,
            decided_at: polled.decided_at,
        })
    }

    fn remember_decided(&self, id: &str, polled: Polled) {
        remember_up_to(&self.immutables.decided, id, polled, DECIDED_LIMIT);
    }

    // --- devices ----------------------------------------------------------------------

    /// Tells the observer about a refusal on its way out.
    fn reported<T>(&self, result: GuardResult<T>) -> GuardResult<T> {
        if let Err(GuardError::Refused(cause)) = &result {
            self.observer.refused(*cause);
        }
        result
    }

    async fn signing_device(
        &self,
        device_id: &str,
        timestamp_ms: i64,
    ) -> GuardResult<(DeviceRecord, Timestamp)> {
        let device = match cached(&self.immutables.devices, device_id) {
            Some(d) => d,
            None => {
                let d = self
                    .store
                    .device(device_id)
                    .await?
                    .ok_or(GuardError::Refused(Refusal::UnknownDevice))?;
                remember(&self.immutables.devices, device_id, d.clone());
                d
            }
        };
        if device.revoked_at.is_some() {
            return Err(GuardError::Refused(Refusal::RevokedDevice));
        }
        let now = self.now();
        // abs_diff: a device-chosen timestamp near i64::MIN must not overflow the check.
        if now.millis().abs_diff(timestamp_ms) > (CLOCK_SKEW_SECS * 1000).unsigned_abs() {
            return Err(GuardError::Refused(Refusal::StaleTimestamp));
        }
        Ok((device, now))
    }

    fn nonce(&self, device_id: &str, nonce: &str, timestamp_ms: i64) -> Nonce {
        Nonce {
            device_id: device_id.to_owned(),
            nonce: nonce.to_owned(),
            expires_at: Timestamp::from_millis(timestamp_ms).plus_secs(2 * CLOCK_SKEW_SECS),
        }
    }

    /// The live challenges of the signing device's user.
    pub async fn pending(
        &self,
        req: &SignedRequest<'_>,
    ) -> GuardResult<(DeviceRecord, Vec<PendingItem>)> {
        self.reported(self.pending_unreported(req).await)
    }

    async fn pending_unreported(
        &self,
        req: &SignedRequest<'_>,
    ) -> GuardResult<(DeviceRecord, Vec<PendingItem>)> {
        if !proof::field_ok(req.device_id) || !proof::nonce_ok(req.nonce) {
            return Err(GuardError::Refused(Refusal::BadSignature));
        }
        let (device, now) = self.signing_device(req.device_id, req.timestamp_ms).await?;
        let msg = proof::request_payload(
            req.method,
            req.path_and_query,
            req.device_id,
            req.timestamp_ms,
            req.nonce,
            req.body,
        );
        let sig = proof::unb64(req.signature).ok_or(GuardError::Refused(Refusal::BadSignature))?;
        if !proof::verify(device.key_type, &device.public_key, &msg, &sig) {
            return Err(GuardError::Refused(Refusal::BadSignature));
        }
        let nonce = self.nonce(&device.id, req.nonce, req.timestamp_ms);
        let live = self
            .store
            .pending_for_device(&device, &nonce, now)
            .await?
            .ok_or(GuardError::Refused(Refusal::ReplayOrRevoked))?;
        let items = live
            .into_iter()
            .filter_map(|c| {
                let context = serde_json::from_str(&c.context_json).ok()?;
                Some(PendingItem {
                    challenge_id: c.id,
                    context,
                    context_sha256: c.context_sha256,
                    expires_at: c.expires_at.millis(),
                })
            })
            .collect();
        Ok((device, items))
    }

    /// Verifies and records a device's answer. Exactly one answer per challenge is ever
    /// recorded; every other one is refused with nothing changed. A wrong code is the
    /// exception the policy demands: it is refused *and* kills the challenge as a deny.
    pub async fn answer(&self, answer: &SignedAnswer) -> GuardResult<AnswerReceipt> {
        self.reported(self.answer_unreported(answer).await)
    }

    async fn answer_unreported(&self, answer: &SignedAnswer) -> GuardResult<AnswerReceipt> {
        let p = &answer.payload;
        if !p.well_formed() {
            return Err(GuardError::Invalid("answer fields are malformed".into()));
        }
        if p.decision == Decision::Approve && p.code.is_empty() {
            return Err(GuardError::Invalid(
                "an approval must carry the code".into(),
            ));
        }
        let (device, now) = self.signing_device(&p.device_id, p.timestamp_ms).await?;
        let sig =
            proof::unb64(&answer.signature).ok_or(GuardError::Refused(Refusal::BadSignature))?;
        if !proof::verify(device.key_type, &device.public_key, &p.canonical(), &sig) {
            return Err(GuardError::Refused(Refusal::BadSignature));
        }
        // Judged on the challenge as the store reads it before recording the answer:
        // only what never changes of a challenge (its user, context, code, creation) is
        // final; its status is checked here for the refusal's name, and the store
        // records the answer only if it is still pending.
        let judge = |ch: &ChallengeRecord| {
            if ch.user_id != device.user_id {
                return Err(Refusal::NotYourChallenge);
            }
            if !bool::from(
                p.context_sha256
                    .as_bytes()
                    .ct_eq(ch.context_sha256.as_bytes()),
            ) {
                return Err(Refusal::ContextMismatch);
            }
            if ch.status_at(now) != ChallengeStatus::Pending {
                return Err(Refusal::NotAnswerable);
            }
            Ok(match p.decision {
                Decision::Approve if self.code_key.matches(&ch.id, &p.code, &ch.code_hash) => {
                    Resolution::Approved
                }
                Decision::Approve => Resolution::Denied { wrong_code: true },
                Decision::Deny => Resolution::Denied { wrong_code: false },
                Decision::NotMe => Resolution::NotMe,
            })
        };
        let record = AnswerRecord {
            challenge_id: p.challenge_id.clone(),
            device_id: device.id.clone(),
            user_id: device.user_id,
            login: device.login.clone(),
            nonce: self.nonce(&device.id, &p.nonce, p.timestamp_ms),
        };
        match self
            .store
            .record_answer(&record, &judge, &self.settings.policy, now)
            .await?
        {
            AnswerOutcome::Recorded {
                status,
                resolution,
                new_lock,
                challenge: ch,
            } => {
                self.remember_decided(&ch.id, Polled::of(&ch, status, Some(now)));
                let seconds = (now.millis() - ch.created_at.millis()).max(0) as f64 / 1000.0;
                self.observer.decided(resolution, seconds);
                let shown = serde_json::from_str::<DisplayContext>(&ch.context_json).ok();
                self.observer.challenge(&ChallengeEvent {
                    at: now,
                    challenge_id: ch.id.clone(),
                    login: device.login.clone(),
                    step: ChallengeStep::Decided(resolution),
                    app: shown.as_ref().map(|c| c.app.clone()),
                    ip: shown.as_ref().map(|c| c.ip.clone()),
                    location: shown.map(|c| c.location),
                    device_id: Some(device.id.clone()),
                });
                if let Some(reason) = new_lock {
                    self.observer.locked(&device.login, reason);
                }
                if resolution == (Resolution::Denied { wrong_code: true }) {
                    return Err(GuardError::Refused(Refusal::WrongCode));
                }
                Ok(AnswerReceipt {
                    status,
                    challenge_created_at: ch.created_at,
                    decided_at: now,
                })
            }
            AnswerOutcome::Refused(refusal) => Err(GuardError::Refused(refusal)),
            AnswerOutcome::Replay => Err(GuardError::Refused(Refusal::ReplayOrRevoked)),
        }
    }

    /// Registers a device with a one-time token, after checking it holds its key.
    pub async fn enrol(&self, req: &EnrolRequest) -> GuardResult<DeviceRecord> {
        self.reported(self.enrol_unreported(req).await)
    }

    async fn enrol_unreported(&self, req: &EnrolRequest) -> GuardResult<DeviceRecord> {
        if !valid_name(&req.name) {
            return Err(GuardError::Invalid(
                "name must be 1 to 64 printable characters".into(),
            ));
        }
        let public_key = proof::unb64(&req.public_key)
            .filter(|k| k.len() == req.key_type.public_key_len())
            .ok_or_else(|| {
                GuardError::Invalid(format!(
                    "public_key is not a raw {} key in base64url",
                    req.key_type.as_str()
                ))
            })?;
        let sig = proof::unb64(&req.signature).ok_or(GuardError::Refused(Refusal::BadEnrolment))?;
        let msg = proof::enrolment_payload(&req.token, req.key_type, &req.public_key);
        if !proof::verify(req.key_type, &public_key, &msg, &sig) {
            return Err(GuardError::Refused(Refusal::BadEnrolment));
        }
        let device = NewDevice {
            id: format!("dev_{}", random_token(self.entropy.as_ref(), 12)),
            name: req.name.clone(),
            key_type: req.key_type,
            public_key,
        };
        self.store
            .redeem_enrolment(&sha256(req.token.as_bytes()), &device, self.now())
            .await?
            .ok_or(GuardError::Refused(Refusal::BadEnrolment))
    }

    // --- housekeeping ---------------------------------------------------------------------

    /// Expires lapsed challenges, seals the audit log and forgets old nonces.
    ///
    /// Sealing and purging go in small batches, each its own short transaction, so that
    /// requests waiting for the database get it between them; a pass stops after
    /// [`HOUSEKEEPING_MAX_ROWS`] of each and the next pass goes on.
    pub async fn housekeeping(&self) -> GuardResult<Housekeeping> {
        let now = self.now();
        let expired = self
            .store
            .expire_due(&self.settings.policy, now, 500)
            .await?;
        if !expired.is_empty() {
            self.observer
                .unanswered(ChallengeStatus::Expired, expired.len());
        }
        for c in &expired {
            self.observer.challenge(&ChallengeEvent {
                at: c.expires_at,
                challenge_id: c.id.clone(),
                login: c.login.clone(),
                step: ChallengeStep::Unanswered(ChallengeStatus::Expired),
                app: None,
                ip: None,
                location: None,
                device_id: None,
            });
        }
        let expired = expired.len();
        let sealed = self.seal().await?;
        let mut nonces_purged = 0;
        while nonces_purged < HOUSEKEEPING_MAX_ROWS as u64 {
            let batch = self
                .store
                .purge_nonces(now, HOUSEKEEPING_BATCH as i64)
                .await?;
            nonces_purged += batch;
            if batch < HOUSEKEEPING_BATCH as u64 {
                break;
            }
        }
        Ok(Housekeeping {
            expired,
            sealed,
            nonces_purged,
        })
    }

    /// Seals the audit log: chains every entry appended since the last seal, in
    /// batches as [`Guard::housekeeping`] does; returns how many were sealed.
    ///
    /// Housekeeping seals too; this alone runs more often (`seal_interval_ms`), so that
    /// each pass is small. Once a second, at 1,700 lifecycles a second, a pass rewrote
    /// about 3,500 entries in some 100 ms, and the requests that ran meanwhile made most
    /// of the p99 (BENCHMARKS.md).
    pub async fn seal(&self) -> GuardResult<usize> {
        let mut sealed = 0;
        while sealed < HOUSEKEEPING_MAX_ROWS {
            let batch = self.store.seal_audit(HOUSEKEEPING_BATCH as i64).await?;
            sealed += batch;
            if batch < HOUSEKEEPING_BATCH {
                break;
            }
        }
        Ok(sealed)
    }
}

/// Rows sealed or purged per transaction by [`Guard::housekeeping`]: about a
/// millisecond of the database each.
const HOUSEKEEPING_BATCH: usize = 500;
/// Rows of each kind one housekeeping pass handles at most.
const HOUSEKEEPING_MAX_ROWS: usize = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_id_and_secret() {
        assert_eq!(
            split_key("pbk.app_1.s3cr3t", "pbk"),
            Some(("app_1", "s3cr3t"))
        );
        assert_eq!(split_key("pba.id.s", "pbk"), None);
        assert_eq!(split_key("pbk..s", "pbk"), None);
        assert_eq!(split_key("pbk.id.", "pbk"), None);
        assert_eq!(split_key("pbk", "pbk"), None);
    }

    #[test]
    fn logins_without_spaces_or_control_characters() {
        assert!(valid_login("alice@example.com"));
        assert!(!valid_login(""));
        assert!(!valid_login("a b"));
        assert!(!valid_login("a\nb"));
        assert!(!valid_login(&"a".repeat(129)));
    }
}
