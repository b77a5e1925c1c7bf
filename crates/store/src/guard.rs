//! The [`GuardStore`](pushback_guard::store::GuardStore) implementation, written once
//! against [`Database`](crate::sql::Database) and expanded for each backend by
//! [`impl_guard_store!`] (a blanket impl of a foreign trait is not allowed). Each
//! state-changing method writes all or nothing, its audit entries included.
//!
//! The user's counters (`user_state`) carry a version that every write of them bumps,
//! and every write of a user's challenges writes their counters too. The two writes on
//! the hot path, opening a challenge and recording an answer, are optimistic: they read
//! without a lock, apply the policy, and write in one batch
//! ([`Autocommit::write_all`](crate::sql::Autocommit::write_all)) that stands only if
//! the version is still the one read, reading again otherwise. On PostgreSQL that is
//! two round trips, where a transaction holding the counters' lock took four or five.
//! The rarer writes (expiry, unlocks, response locks) lock the counters first instead,
//! in a transaction; both kinds bump the version, so each sees the other's writes.
//!
//! A node also keeps what its own writes left ([`Kept`]): the challenge it opened, for
//! the answer, and the counters after an approval, for the next opening. Either then
//! skips its read and writes on what was kept, under the same version check, so a
//! lifecycle that stays on one node is three statements on PostgreSQL (open, device
//! fetch, answer); anything another writer changed fails the check and is read. An
//! opening with nothing kept (a user's first on a node, the usual case when users sign
//! in a few times a day) reads and, where the read leaves the policy nothing to weigh,
//! writes in the same statement on PostgreSQL ([`open_at_once_sql`]): one round trip
//! there too.

use std::sync::LazyLock;

use serde_json::json;

use pushback_guard::policy::{LockReason, UserState};
use pushback_guard::store::{AppRecord, DeviceRecord, NewChallenge, StoreError, StoreResult};
use pushback_guard::{ChallengeRecord, ChallengeStatus, CodeMode, KeyType};
use pushback_model::audit::{AuditEntry, SealedEntry};
use pushback_model::{Severity, Timestamp};

use crate::sql::{Arg, Offset, Row, Session, SqlError, SqlResult, Write, args};

pub(crate) const STATE_COLUMNS: &str = "last_approval_at, backoff_level, backoff_until, failures, locked_until, lock_reason, reset_at, step_up_since";

pub(crate) fn state_row(r: &dyn Row) -> SqlResult<UserState> {
    Ok(UserState {
        last_approval_at: r.opt_int(0)?.map(Timestamp::from_millis),
        backoff_level: u32::try_from(r.int(1)?).unwrap_or(u32::MAX),
        backoff_until: r.opt_int(2)?.map(Timestamp::from_millis),
        failures: u32::try_from(r.int(3)?).unwrap_or(u32::MAX),
        locked_until: r.opt_int(4)?.map(Timestamp::from_millis),
        lock_reason: r.opt_text(5)?.as_deref().and_then(LockReason::parse),
        reset_at: r.opt_int(6)?.map(Timestamp::from_millis),
        step_up_since: r.opt_int(7)?.map(Timestamp::from_millis),
    })
}

pub(crate) fn app_row(r: &dyn Row) -> SqlResult<AppRecord> {
    Ok(AppRecord {
        id: r.text(0)?,
        name: r.text(1)?,
        key_hash: r.blob(2)?,
        mode: r.opt_text(3)?.as_deref().and_then(CodeMode::parse),
        created_at: Timestamp::from_millis(r.int(4)?),
    })
}

pub(crate) const DEVICE_COLUMNS: &str =
    "id, user_id, login, name, key_type, public_key, created_at, revoked_at, frozen_at";

pub(crate) fn device_row(r: &dyn Row) -> SqlResult<DeviceRecord> {
    let key_type = r.text(4)?;
    Ok(DeviceRecord {
        id: r.text(0)?,
        user_id: r.int(1)?,
        login: r.text(2)?,
        name: r.text(3)?,
        key_type: KeyType::parse(&key_type)
            .ok_or_else(|| SqlError::Other(format!("unknown key type {key_type:?}")))?,
        public_key: r.blob(5)?,
        created_at: Timestamp::from_millis(r.int(6)?),
        revoked_at: r.opt_int(7)?.map(Timestamp::from_millis),
        frozen_at: r.opt_int(8)?.map(Timestamp::from_millis),
    })
}

pub(crate) const CHALLENGE_COLUMNS: &str = "id, user_id, login, app_id, status, reason, code_hash, context_json, context_sha256, created_at, expires_at, decided_at, device_id";

pub(crate) fn challenge_row(r: &dyn Row) -> SqlResult<ChallengeRecord> {
    let status = r.text(4)?;
    Ok(ChallengeRecord {
        status: ChallengeStatus::parse(&status)
            .ok_or_else(|| SqlError::Other(format!("unknown status {status:?}")))?,
        id: r.text(0)?,
        user_id: r.int(1)?,
        login: r.text(2)?,
        app_id: r.text(3)?,
        reason: r.opt_text(5)?,
        code_hash: r.blob(6)?,
        context_json: r.text(7)?,
        context_sha256: r.text(8)?,
        created_at: Timestamp::from_millis(r.int(9)?),
        expires_at: Timestamp::from_millis(r.int(10)?),
        decided_at: r.opt_int(11)?.map(Timestamp::from_millis),
        device_id: r.opt_text(12)?,
    })
}

pub(crate) const AUDIT_COLUMNS: &str = "id, at, kind, severity, subject, actor, detail";

pub(crate) fn audit_row(r: &dyn Row) -> SqlResult<AuditEntry> {
    Ok(AuditEntry {
        id: r.int(0)?,
        at: Timestamp::from_millis(r.int(1)?),
        kind: r.text(2)?,
        severity: Severity::parse(&r.text(3)?).unwrap_or(Severity::Critical),
        subject: r.text(4)?,
        actor: r.text(5)?,
        detail: r.text(6)?,
    })
}

pub(crate) fn sealed_row(r: &dyn Row) -> SqlResult<SealedEntry> {
    Ok(SealedEntry {
        entry: audit_row(r)?,
        seq: r.int(7)?,
        prev_hash: r.text(8)?,
        hash: r.text(9)?,
    })
}

pub(crate) fn ms(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::millis)
}

const AUDIT_INSERT: &str = "INSERT INTO audit_log (at, kind, severity, subject, actor, detail) VALUES ($1, $2, $3, $4, $5, $6)";

/// One audit entry, to be appended with [`audit`] or beside another write.
pub(crate) struct Audit<'a> {
    pub(crate) at: Timestamp,
    pub(crate) kind: &'a str,
    pub(crate) severity: Severity,
    pub(crate) subject: &'a str,
    pub(crate) actor: &'a str,
    pub(crate) detail: String,
}

impl<'a> Audit<'a> {
    pub(crate) fn new(
        at: Timestamp,
        kind: &'a str,
        severity: Severity,
        subject: &'a str,
        actor: &'a str,
        detail: serde_json::Value,
    ) -> Self {
        Audit {
            at,
            kind,
            severity,
            subject,
            actor,
            detail: detail.to_string(),
        }
    }
}

/// The parameters of [`AUDIT_INSERT`].
macro_rules! audit_args {
    ($e:expr) => {
        args![
            $e.at.millis(),
            $e.kind,
            $e.severity.as_str(),
            $e.subject,
            $e.actor,
            &$e.detail
        ]
    };
}
pub(crate) use audit_args;

pub(crate) async fn audit(
    s: &mut impl Session,
    at: Timestamp,
    kind: &str,
    severity: Severity,
    subject: &str,
    actor: &str,
    detail: serde_json::Value,
) -> StoreResult<()> {
    append_audit(s, &Audit::new(at, kind, severity, subject, actor, detail)).await
}

pub(crate) async fn append_audit(s: &mut impl Session, entry: &Audit<'_>) -> StoreResult<()> {
    s.exec(AUDIT_INSERT, audit_args!(entry)).await?;
    Ok(())
}

/// Saves the counters whoever wrote them last; bumps their version.
const STATE_UPSERT: &str = "INSERT INTO user_state (user_id, last_approval_at, backoff_level, backoff_until, failures, locked_until, lock_reason, reset_at, step_up_since) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (user_id) DO UPDATE SET last_approval_at = $2, backoff_level = $3, backoff_until = $4, \
     failures = $5, locked_until = $6, lock_reason = $7, reset_at = $8, step_up_since = $9, \
     version = user_state.version + 1";

/// The parameters of [`STATE_UPSERT`].
macro_rules! state_args {
    ($user_id:expr, $st:expr) => {
        args![
            $user_id,
            ms($st.last_approval_at),
            i64::from($st.backoff_level),
            ms($st.backoff_until),
            i64::from($st.failures),
            ms($st.locked_until),
            $st.lock_reason.map(|r| r.as_str()),
            ms($st.reset_at),
            ms($st.step_up_since),
        ]
    };
}

/// Saves the user's counters in a transaction that locked them ([`lock_state`]).
pub(crate) async fn save_state(
    s: &mut impl Session,
    user_id: i64,
    st: &UserState,
) -> StoreResult<()> {
    s.exec(STATE_UPSERT, state_args!(user_id, st)).await?;
    Ok(())
}

/// The query [`lock_state`] runs.
pub(crate) fn lock_state_sql(lock: &str) -> String {
    format!("SELECT {STATE_COLUMNS} FROM user_state WHERE user_id = $1{lock}")
}

/// The user's counters, locked until commit (`lock` is the backend's `FOR UPDATE`).
pub(crate) async fn lock_state(
    s: &mut impl Session,
    lock: &str,
    user_id: i64,
) -> StoreResult<UserState> {
    let state = s
        .opt(&lock_state_sql(lock), args![user_id], state_row)
        .await?;
    Ok(state.unwrap_or_default())
}

/// Appends `entries` (at least one), in order, in one statement (a write of a batch: see
/// [`Autocommit::write_all`](crate::sql::Autocommit::write_all)).
pub(crate) fn audit_write<'a>(entries: &'a [Audit<'a>]) -> Write<'a> {
    // AUDIT_INSERT's first row, then one more per entry, numbered on.
    let mut sql = String::from(AUDIT_INSERT);
    let mut args = Vec::with_capacity(entries.len() * 6);
    for (n, e) in entries.iter().enumerate() {
        let k = n * 6;
        if n > 0 {
            sql.push_str(&format!(
                ", (${}, ${}, ${}, ${}, ${}, ${})",
                k + 1,
                k + 2,
                k + 3,
                k + 4,
                k + 5,
                k + 6
            ));
        }
        args.extend_from_slice(audit_args!(e));
    }
    Write {
        sql: sql.into(),
        args,
        must_change: false,
    }
}

/// A user's counters as read, with the version they were read at: `None` when the user
/// has no counters row (every user made since the first release has one).
pub(crate) struct Versioned {
    pub(crate) state: UserState,
    pub(crate) version: Option<i64>,
}

/// A challenge this node opened, with the user's counters as its opening left them: what
/// recording its answer would read, had nobody written since.
///
/// Nothing here is trusted beyond the version. The answer's batch stands only if the
/// counters are still at `version`, and every write of a user's challenges bumps it, so
/// a batch that stands saw the challenge still pending and the counters as kept here.
/// The nonce and the device's liveness are checked by the batch itself
/// ([`NONCE_INSERT`]), the expiry by the decision's own `WHERE`. A batch that does not
/// stand is undone, and the answer is read and judged afresh.
pub(crate) struct Opened {
    pub(crate) challenge: ChallengeRecord,
    pub(crate) state: UserState,
    pub(crate) version: i64,
}

impl Opened {
    /// `new`, just opened for `user_id` with the counters `state` saved at `version`.
    pub(crate) fn new(
        new: &NewChallenge,
        user_id: i64,
        login: &str,
        state: UserState,
        version: i64,
    ) -> Self {
        Self {
            challenge: ChallengeRecord {
                id: new.id.clone(),
                user_id,
                login: login.to_owned(),
                app_id: new.app_id.clone(),
                status: ChallengeStatus::Pending,
                reason: None,
                code_hash: new.code_hash.clone(),
                context_json: new.context_json.clone(),
                context_sha256: new.context_sha256.clone(),
                created_at: new.created_at,
                expires_at: new.expires_at,
                decided_at: None,
                device_id: None,
            },
            state,
            version,
        }
    }
}

/// A user whose counters this node last saved with an approval, at `version`: what
/// opening their next challenge would read, had nobody written since. An approval
/// leaves the user no pending challenge (opening one supersedes every other) and starts
/// the budget over, so the opening assumes no live challenge and no prompt in the
/// budget, and its compare-and-set ([`state_cas_assuming`]) checks both, with the
/// version and an active device, in the statement that writes.
pub(crate) struct Approved {
    pub(crate) user_id: i64,
    pub(crate) state: UserState,
    pub(crate) version: i64,
}

/// What this node's own writes left, kept so that the next step of a lifecycle, which
/// usually comes back to the same node, skips its read: the challenges it opened and
/// has not seen answered ([`Opened`], by id) and the users it last saw approve
/// ([`Approved`], by login). One statement fewer per answer and per opening on
/// PostgreSQL; a write that finds the database moved on is undone and read afresh.
#[derive(Default)]
pub(crate) struct Kept {
    opened: std::sync::Mutex<std::collections::HashMap<String, Opened>>,
    approved: std::sync::Mutex<std::collections::HashMap<String, Approved>>,
}

impl Kept {
    /// Challenges kept before the map is emptied (each holds its context: about 11 MiB
    /// at the limit). A challenge is answered within minutes or never, and an opening
    /// drops what it supersedes, so a prompt flood cannot fill it with one user.
    const OPENED_LIMIT: usize = 16_384;
    /// Users kept before the map is emptied (a login and counters: about 25 MiB at the
    /// limit). A user comes back hours after an approval, so this holds every user of a
    /// large deployment who approved recently: with 100,000 users cycling through their
    /// lifecycles, a smaller map was emptied before any user came back, and every
    /// opening read (BENCHMARKS.md, ninth session).
    const APPROVED_LIMIT: usize = 131_072;

    pub(crate) fn keep_opened(&self, opened: Opened) {
        keep(
            &self.opened,
            Self::OPENED_LIMIT,
            opened.challenge.id.clone(),
            opened,
        );
    }

    pub(crate) fn take_opened(&self, id: &str) -> Option<Opened> {
        take(&self.opened, id)
    }

    pub(crate) fn keep_approved(&self, login: &str, approved: Approved) {
        keep(
            &self.approved,
            Self::APPROVED_LIMIT,
            login.to_owned(),
            approved,
        );
    }

    pub(crate) fn take_approved(&self, login: &str) -> Option<Approved> {
        take(&self.approved, login)
    }
}

/// Keeps `value` under `key`; a map holding `limit` entries is emptied first, and what
/// is not found afterwards is read from the database.
fn keep<T>(
    map: &std::sync::Mutex<std::collections::HashMap<String, T>>,
    limit: usize,
    key: String,
    value: T,
) {
    if let Ok(mut map) = map.lock() {
        if map.len() >= limit {
            map.clear();
        }
        map.insert(key, value);
    }
}

fn take<T>(map: &std::sync::Mutex<std::collections::HashMap<String, T>>, key: &str) -> Option<T> {
    map.lock().ok()?.remove(key)
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept").finish_non_exhaustive()
    }
}

/// Reads a [`Versioned`] from `user_id, version, STATE_COLUMNS` at the row's column 0.
fn versioned_row(r: &dyn Row) -> SqlResult<Versioned> {
    Ok(match r.opt_int(0)? {
        Some(_) => Versioned {
            version: Some(r.int(1)?),
            state: state_row(&Offset(r, 2))?,
        },
        None => Versioned {
            state: UserState::default(),
            version: None,
        },
    })
}

/// Gives a user without a counters row the default one, for a caller that read no
/// version ([`Versioned`]) to read again.
pub(crate) const STATE_CREATE: &str =
    "INSERT INTO user_state (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING";

/// The user's counters saved if, and only if, nobody saved them since `version` was
/// read: the compare-and-set that settles every race of an optimistic write.
pub(crate) fn state_cas<'a>(user_id: i64, st: &UserState, version: i64) -> Write<'a> {
    let mut w = Write::must_change(STATE_CAS, state_args!(user_id, st));
    w.args.push(Arg::from(version));
    w
}

const STATE_CAS: &str = "UPDATE user_state SET last_approval_at = $2, backoff_level = $3, backoff_until = $4, \
     failures = $5, locked_until = $6, lock_reason = $7, reset_at = $8, step_up_since = $9, version = version + 1 \
     WHERE user_id = $1 AND version = $10";

/// [`state_cas`] for an opening that did not read ([`Approved`]): it also stands only if
/// the user has an active device, no pending challenge and no prompt in the budget
/// since `budget_since`, which is what the read would have found.
pub(crate) fn state_cas_assuming<'a>(
    user_id: i64,
    st: &UserState,
    version: i64,
    budget_since: Timestamp,
) -> Write<'a> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{STATE_CAS} \
             AND EXISTS (SELECT 1 FROM devices WHERE user_id = $1 AND revoked_at IS NULL AND frozen_at IS NULL) \
             AND NOT EXISTS (SELECT 1 FROM challenges WHERE user_id = $1 AND status = 'pending') \
             AND NOT EXISTS (SELECT 1 FROM challenges WHERE user_id = $1 AND created_at > $11)"
        )
    });
    let mut w = Write::must_change(SQL.as_str(), state_args!(user_id, st));
    w.args.push(Arg::from(version));
    w.args.push(Arg::from(budget_since.millis()));
    w
}

/// How many times an optimistic write reads again after losing a race before it gives
/// up. Each loss means another write of the same user's counters committed, so a
/// second attempt nearly always settles it (on the next read the answer that lost
/// finds the challenge decided, the opening that lost finds the new challenge).
pub(crate) const OPTIMISTIC_ATTEMPTS: usize = 16;

/// The error of an optimistic write that lost [`OPTIMISTIC_ATTEMPTS`] races in a row.
pub(crate) fn lost_every_race(what: &str) -> StoreError {
    StoreError::Backend(format!(
        "{what}: the user's counters changed under each of {OPTIMISTIC_ATTEMPTS} attempts"
    ))
}

/// What opening a challenge reads, in one statement and without a lock: the user,
/// their active devices and versioned counters, the prompts in the budget window, and
/// their live challenges (one row each; one row with none if there are none).
///
/// The window starts at the latest of `$2` (now less the budget window), the last
/// approval and the last reset: [`UserState::budget_since`] in SQL, so that the count
/// and the counters come from one snapshot.
pub(crate) fn open_read_sql() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT u.id AS user_id, \
         (SELECT COUNT(*) FROM devices d WHERE d.user_id = u.id AND d.revoked_at IS NULL AND d.frozen_at IS NULL) AS active_devices, \
         s.user_id AS state_of, s.version, s.{}, \
         (SELECT COUNT(*) FROM challenges p WHERE p.user_id = u.id AND p.created_at > $2 \
          AND p.created_at > COALESCE(s.last_approval_at, $2) AND p.created_at > COALESCE(s.reset_at, $2)) AS prompts, \
         c.id AS pending_id, c.expires_at AS pending_expires_at \
         FROM users u \
         LEFT JOIN user_state s ON s.user_id = u.id \
         LEFT JOIN challenges c ON c.user_id = u.id AND c.status = 'pending' \
         WHERE u.login = $1",
            STATE_COLUMNS.replace(", ", ", s.")
        )
    });
    &SQL
}

/// [`open_read_sql`] and, when what it read leaves the fatigue policy nothing to weigh,
/// the writes of a plain opening, in one statement ([`Database::WRITES_IN_WITH`](crate::sql::Database::WRITES_IN_WITH)):
/// the counters' version bumped, under the version read; the challenge; its audit entry.
/// It returns the read's rows, each followed by how many challenges it opened (0 or 1),
/// so that when it opened none the caller goes on from the read as if it had made it
/// alone. A user no node has kept (the usual opening: a user signs in a few times a
/// day, and any node may serve them) is then one round trip on PostgreSQL, not two.
///
/// Nothing to weigh: an active device, the counters saved, no challenge pending, no
/// prompt in the budget window, no lock, backoff or step-up in force. The policy then
/// pushes whatever its settings (the budget is at least one prompt), and the counters
/// stay as they were. Anything else is left to the policy, in Rust, after the read.
///
/// Parameters: `$1` login, `$2` the budget window's start, `$3` now, `$4`–`$9` the
/// challenge (id, app, code hash, context, its SHA-256, expiry), `$10`–`$15` the audit
/// entry ([`audit_args`]).
pub(crate) fn open_at_once_sql() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH r AS ({}), \
             w AS (UPDATE user_state SET version = user_state.version + 1 FROM r \
              WHERE user_state.user_id = r.user_id AND user_state.version = r.version \
              AND r.active_devices > 0 AND r.pending_id IS NULL AND r.prompts = 0 \
              AND (r.locked_until IS NULL OR r.locked_until <= $3) \
              AND (r.backoff_until IS NULL OR r.backoff_until <= $3) \
              AND r.step_up_since IS NULL \
              RETURNING user_state.user_id), \
             c AS (INSERT INTO challenges (id, user_id, login, app_id, status, code_hash, context_json, context_sha256, created_at, expires_at) \
              SELECT $4, w.user_id, $1, $5, 'pending', $6, $7, $8, $3, $9 FROM w), \
             a AS (INSERT INTO audit_log (at, kind, severity, subject, actor, detail) \
              SELECT $10, $11, $12, $13, $14, $15 FROM w) \
             SELECT r.*, (SELECT COUNT(*) FROM w) FROM r",
            open_read_sql()
        )
    });
    &SQL
}

/// The audit detail of a challenge opened as the user's `prompts`th in the budget.
pub(crate) fn created_detail(new: &NewChallenge, prompts: u32) -> serde_json::Value {
    json!({ "challenge": new.id, "app": new.app_id, "expires_at": new.expires_at.millis(), "prompts": prompts })
}

/// A row of [`open_read_sql`].
pub(crate) struct OpenRead {
    pub(crate) user_id: i64,
    pub(crate) active_devices: i64,
    pub(crate) counters: Versioned,
    pub(crate) prompts: i64,
    pub(crate) live: Option<(String, Timestamp)>,
}

pub(crate) fn open_read_row(r: &dyn Row) -> SqlResult<OpenRead> {
    let live = match (r.opt_text(13)?, r.opt_int(14)?) {
        (Some(id), Some(expires_at)) => Some((id, Timestamp::from_millis(expires_at))),
        _ => None,
    };
    Ok(OpenRead {
        user_id: r.int(0)?,
        active_devices: r.int(1)?,
        counters: versioned_row(&Offset(r, 2))?,
        prompts: r.int(12)?,
        live,
    })
}

/// What recording an answer reads, in one statement and without a lock: whether the
/// nonce is unused and the device live (`$3`, `$4`), the user's versioned counters
/// (`$1`) and the challenge (`$2`). One row, whatever is missing.
pub(crate) fn answer_read_sql() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT CAST(CASE WHEN NOT EXISTS (SELECT 1 FROM device_nonces WHERE device_id = $3 AND nonce = $4) \
         AND EXISTS (SELECT 1 FROM devices WHERE id = $3 AND revoked_at IS NULL AND frozen_at IS NULL) \
         THEN 1 ELSE 0 END AS BIGINT), s.*, c.* FROM (SELECT 1 AS one) AS o \
         LEFT JOIN (SELECT user_id, version, {STATE_COLUMNS} FROM user_state WHERE user_id = $1) AS s ON TRUE \
         LEFT JOIN (SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE id = $2) AS c ON TRUE"
        )
    });
    &SQL
}

/// A row of [`answer_read_sql`].
pub(crate) struct AnswerRead {
    pub(crate) fresh: bool,
    pub(crate) counters: Versioned,
    pub(crate) challenge: Option<ChallengeRecord>,
}

pub(crate) fn answer_read_row(r: &dyn Row) -> SqlResult<AnswerRead> {
    let challenge = match r.opt_text(11)? {
        Some(_) => Some(challenge_row(&Offset(r, 11))?),
        None => None,
    };
    Ok(AnswerRead {
        fresh: r.int(0)? == 1,
        counters: versioned_row(&Offset(r, 1))?,
        challenge,
    })
}

/// The audit entry for a lock that `after` has and `before` had not, with its reason.
pub(crate) fn new_lock<'a>(
    before: &UserState,
    after: &UserState,
    at: Timestamp,
    login: &'a str,
    actor: &'a str,
) -> Option<(Option<LockReason>, Audit<'a>)> {
    if after.locked_at(at).is_none() || after.locked_until == before.locked_until {
        return None;
    }
    let reason = after.lock_reason.map(|r| r.as_str()).unwrap_or("unknown");
    let severity = if reason == "denies" {
        Severity::High
    } else {
        Severity::Critical
    };
    let until = after.locked_until.map(|u| u.millis());
    let entry = Audit::new(
        at,
        "user.locked",
        severity,
        login,
        actor,
        json!({ "reason": reason, "until": until }),
    );
    Some((after.lock_reason, entry))
}

/// Audits a lock that `after` has and `before` had not; returns its reason.
pub(crate) async fn audit_new_lock(
    s: &mut impl Session,
    before: &UserState,
    after: &UserState,
    at: Timestamp,
    login: &str,
    actor: &str,
) -> StoreResult<Option<LockReason>> {
    let Some((reason, entry)) = new_lock(before, after, at, login, actor) else {
        return Ok(None);
    };
    append_audit(s, &entry).await?;
    Ok(reason)
}

/// [`NONCE_INSERT`] up to the end of its `WHERE`, where a clause may be added.
macro_rules! nonce_insert_where {
    () => {
        "INSERT INTO device_nonces (device_id, nonce, expires_at) \
         SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM devices WHERE id = $1 AND revoked_at IS NULL AND frozen_at IS NULL)"
    };
}
pub(crate) use nonce_insert_where;

/// Records a device nonce if it is new and the device is neither revoked nor frozen;
/// changes one row if so.
pub(crate) const NONCE_INSERT: &str = concat!(nonce_insert_where!(), " ON CONFLICT DO NOTHING");

/// The parameters of [`NONCE_INSERT`].
macro_rules! nonce_args {
    ($nonce:expr) => {
        args![&$nonce.device_id, &$nonce.nonce, $nonce.expires_at.millis()]
    };
}
pub(crate) use nonce_args;

/// Records a lapsed challenge as expired (`$1`), at its expiry (`$2`), if it is still
/// pending.
pub(crate) const EXPIRE: &str = "UPDATE challenges SET status = 'expired', reason = 'timeout', decided_at = $2 WHERE id = $1 AND status = 'pending'";

pub(crate) async fn expire_one(
    s: &mut impl Session,
    id: &str,
    expires_at: Timestamp,
) -> StoreResult<bool> {
    let done = s.exec(EXPIRE, args![id, expires_at.millis()]).await?;
    Ok(done == 1)
}

/// Expands the store for one backend type, which implements
/// [`Database`](crate::sql::Database).
macro_rules! impl_guard_store {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use serde_json::json;

            use pushback_guard::policy::{self, Admission, UserState};
            use pushback_guard::store::*;
            use pushback_guard::{ChallengeRecord, PolicySettings, Refusal, Resolution};
            use pushback_model::audit::{link_hash, SealedEntry};
            use pushback_model::{Severity, Timestamp};

            use $crate::guard::*;
            use $crate::sql::{self, args, conflict, Autocommit as _, Database as _, Session as _, Transaction as _};

            const LOCK: &str = <$store as $crate::sql::Database>::LOCK;
            /// Seals a batch of audit entries: see [`Database::SEAL_ROWS`](crate::sql::Database::SEAL_ROWS).
            static SEAL_UPDATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                format!(
                    "UPDATE audit_log SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash FROM ({}) AS v \
                     WHERE audit_log.id = v.id AND audit_log.seq IS NULL",
                    <$store as $crate::sql::Database>::SEAL_ROWS
                )
            });
            /// A device fetch's nonce: its commit does not wait for the disk
            /// ([`Database::NO_FLUSH_WAIT`](crate::sql::Database::NO_FLUSH_WAIT)).
            /// The nonce guards a read that changes nothing; should a crash lose it,
            /// a captured fetch could be replayed within its timestamp's window, and
            /// would list the challenges then pending: their context, never a code,
            /// and nothing would change. Every write that changes state still waits.
            static FETCH_NONCE_INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                format!("{}{} ON CONFLICT DO NOTHING", nonce_insert_where!(), <$store as $crate::sql::Database>::NO_FLUSH_WAIT)
            });

            impl $store {
                /// Changes one live device and audits it; false when there is none.
                async fn change_device(&self, sql: &str, args: &[sql::Arg<'_>], at: Timestamp, actor: &str, (kind, severity): (&str, Severity), detail: serde_json::Value) -> StoreResult<bool> {
                    let mut tx = self.begin().await?;
                    let Some(login) = tx.opt(sql, args, sql::text).await? else {
                        tx.rollback().await?;
                        return Ok(false);
                    };
                    audit(&mut tx, at, kind, severity, &login, actor, detail).await?;
                    tx.commit().await?;
                    Ok(true)
                }
            }

            #[async_trait]
            impl GuardStore for $store {
                async fn admin_key_count(&self) -> StoreResult<i64> {
                    Ok(self.reader().await?.one("SELECT COUNT(*) FROM admin_keys", args![], sql::int).await?)
                }

                async fn insert_admin_key(&self, id: &str, key_hash: &[u8], at: Timestamp) -> StoreResult<()> {
                    let mut tx = self.begin().await?;
                    tx.exec("INSERT INTO admin_keys (id, key_hash, created_at) VALUES ($1, $2, $3)", args![id, key_hash, at.millis()])
                        .await
                        .map_err(conflict("admin key"))?;
                    audit(&mut tx, at, "admin.key_created", Severity::High, id, "system", json!({})).await?;
                    Ok(tx.commit().await?)
                }

                async fn admin_key_hash(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
                    Ok(self.reader().await?.opt("SELECT key_hash FROM admin_keys WHERE id = $1", args![id], sql::blob).await?)
                }

                async fn insert_ingest_key(&self, id: &str, name: &str, key_hash: &[u8], at: Timestamp, actor: &str) -> StoreResult<()> {
                    let mut tx = self.begin().await?;
                    tx.exec("INSERT INTO ingest_keys (id, name, key_hash, created_at) VALUES ($1, $2, $3, $4)", args![id, name, key_hash, at.millis()])
                        .await
                        .map_err(conflict("ingest key"))?;
                    audit(&mut tx, at, "ingest.key_created", Severity::High, id, actor, json!({ "name": name })).await?;
                    Ok(tx.commit().await?)
                }

                async fn ingest_key_hash(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
                    Ok(self.reader().await?.opt("SELECT key_hash FROM ingest_keys WHERE id = $1", args![id], sql::blob).await?)
                }

                async fn insert_app(&self, app: &AppRecord, actor: &str) -> StoreResult<()> {
                    let mode = app.mode.map(|m| m.as_str());
                    let mut tx = self.begin().await?;
                    tx.exec(
                        "INSERT INTO apps (id, name, key_hash, mode, created_at) VALUES ($1, $2, $3, $4, $5)",
                        args![&app.id, &app.name, &app.key_hash, mode, app.created_at.millis()],
                    )
                    .await
                    .map_err(conflict("app"))?;
                    audit(&mut tx, app.created_at, "app.created", Severity::Medium, &app.id, actor, json!({ "name": app.name, "mode": mode })).await?;
                    Ok(tx.commit().await?)
                }

                async fn app(&self, id: &str) -> StoreResult<Option<AppRecord>> {
                    Ok(self.reader().await?.opt("SELECT id, name, key_hash, mode, created_at FROM apps WHERE id = $1", args![id], app_row).await?)
                }

                async fn insert_user(&self, login: &str, display_name: &str, at: Timestamp, actor: &str) -> StoreResult<UserRecord> {
                    let mut tx = self.begin().await?;
                    let id = tx
                        .one("INSERT INTO users (login, display_name, created_at) VALUES ($1, $2, $3) RETURNING id", args![login, display_name, at.millis()], sql::int)
                        .await
                        .map_err(conflict("user"))?;
                    save_state(&mut tx, id, &UserState::default()).await?;
                    audit(&mut tx, at, "user.created", Severity::Info, login, actor, json!({})).await?;
                    tx.commit().await?;
                    Ok(UserRecord { id, login: login.to_owned(), display_name: display_name.to_owned(), created_at: at })
                }

                async fn user_by_login(&self, login: &str) -> StoreResult<Option<UserRecord>> {
                    Ok(self
                        .reader()
                        .await?
                        .opt("SELECT id, login, display_name, created_at FROM users WHERE login = $1", args![login], |r| {
                            Ok(UserRecord { id: r.int(0)?, login: r.text(1)?, display_name: r.text(2)?, created_at: Timestamp::from_millis(r.int(3)?) })
                        })
                        .await?)
                }

                async fn user_state(&self, user_id: i64) -> StoreResult<UserState> {
                    lock_state(&mut self.reader().await?, "", user_id).await
                }

                async fn unlock_user(&self, user: &UserRecord, at: Timestamp, actor: &str) -> StoreResult<()> {
                    let mut tx = self.begin().await?;
                    let mut state = lock_state(&mut tx, LOCK, user.id).await?;
                    let was = state.lock_reason.map(|r| r.as_str());
                    state.on_unlocked(at);
                    save_state(&mut tx, user.id, &state).await?;
                    audit(&mut tx, at, "user.unlocked", Severity::High, &user.login, actor, json!({ "previous_lock": was })).await?;
                    Ok(tx.commit().await?)
                }

                async fn response_lock(&self, user: &UserRecord, until: Timestamp, at: Timestamp, actor: &str) -> StoreResult<UserState> {
                    let mut tx = self.begin().await?;
                    let mut state = lock_state(&mut tx, LOCK, user.id).await?;
                    let before = state.clone();
                    state.on_response_lock(until);
                    if state != before {
                        save_state(&mut tx, user.id, &state).await?;
                        audit(&mut tx, at, "user.locked", Severity::High, &user.login, actor,
                            json!({ "reason": "response", "until": until.millis() })).await?;
                    }
                    tx.commit().await?;
                    Ok(state)
                }

                async fn set_step_up(&self, user: &UserRecord, required: bool, at: Timestamp, actor: &str) -> StoreResult<bool> {
                    let mut tx = self.begin().await?;
                    let mut state = lock_state(&mut tx, LOCK, user.id).await?;
                    if state.step_up_since.is_some() == required {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    state.step_up_since = required.then_some(at);
                    save_state(&mut tx, user.id, &state).await?;
                    let kind = if required { "user.step_up_required" } else { "user.step_up_lifted" };
                    audit(&mut tx, at, kind, Severity::High, &user.login, actor, json!({})).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn insert_enrolment(&self, user: &UserRecord, token_hash: &[u8], expires_at: Timestamp, at: Timestamp, actor: &str) -> StoreResult<()> {
                    let mut tx = self.begin().await?;
                    tx.exec(
                        "INSERT INTO enrolments (token_hash, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
                        args![token_hash, user.id, expires_at.millis(), at.millis()],
                    )
                    .await
                    .map_err(conflict("enrolment"))?;
                    audit(&mut tx, at, "device.enrolment_created", Severity::Medium, &user.login, actor, json!({ "expires_at": expires_at.millis() })).await?;
                    Ok(tx.commit().await?)
                }

                async fn redeem_enrolment(&self, token_hash: &[u8], device: &NewDevice, at: Timestamp) -> StoreResult<Option<DeviceRecord>> {
                    let mut tx = self.begin().await?;
                    let user = tx
                        .opt(
                            "UPDATE enrolments SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
                            args![token_hash, at.millis()],
                            sql::int,
                        )
                        .await?;
                    let Some(user_id) = user else {
                        tx.rollback().await?;
                        return Ok(None);
                    };
                    let login = tx.one("SELECT login FROM users WHERE id = $1", args![user_id], sql::text).await?;
                    tx.exec(
                        "INSERT INTO devices (id, user_id, login, name, key_type, public_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        args![&device.id, user_id, &login, &device.name, device.key_type.as_str(), &device.public_key, at.millis()],
                    )
                    .await
                    .map_err(conflict("device"))?;
                    let actor = format!("device:{}", device.id);
                    audit(&mut tx, at, "device.enrolled", Severity::Medium, &login, &actor,
                        json!({ "device": device.id, "name": device.name, "key_type": device.key_type.as_str() })).await?;
                    tx.commit().await?;
                    Ok(Some(DeviceRecord {
                        id: device.id.clone(),
                        user_id,
                        login,
                        name: device.name.clone(),
                        key_type: device.key_type,
                        public_key: device.public_key.clone(),
                        created_at: at,
                        revoked_at: None,
                        frozen_at: None,
                    }))
                }

                async fn device(&self, id: &str) -> StoreResult<Option<DeviceRecord>> {
                    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1");
                    Ok(self.reader().await?.opt(&sql, args![id], device_row).await?)
                }

                async fn devices_of(&self, user_id: i64) -> StoreResult<Vec<DeviceRecord>> {
                    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY created_at, id");
                    Ok(self.reader().await?.rows(&sql, args![user_id], device_row).await?)
                }

                async fn rename_device(&self, id: &str, name: &str, at: Timestamp, actor: &str) -> StoreResult<bool> {
                    self.change_device(
                        "UPDATE devices SET name = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING login",
                        args![id, name],
                        at, actor, ("device.renamed", Severity::Info), json!({ "device": id, "name": name }),
                    )
                    .await
                }

                async fn revoke_device(&self, id: &str, at: Timestamp, actor: &str) -> StoreResult<bool> {
                    self.change_device(
                        "UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING login",
                        args![id, at.millis()],
                        at, actor, ("device.revoked", Severity::Medium), json!({ "device": id }),
                    )
                    .await
                }

                async fn freeze_devices(&self, user: &UserRecord, device: Option<&str>, at: Timestamp, actor: &str) -> StoreResult<u64> {
                    let mut tx = self.begin().await?;
                    let ids = tx
                        .rows(
                            "UPDATE devices SET frozen_at = $3 WHERE user_id = $1 AND ($2 IS NULL OR id = $2) \
                             AND revoked_at IS NULL AND frozen_at IS NULL RETURNING id",
                            args![user.id, device, at.millis()],
                            sql::text,
                        )
                        .await?;
                    if !ids.is_empty() {
                        audit(&mut tx, at, "device.frozen", Severity::High, &user.login, actor, json!({ "devices": ids })).await?;
                    }
                    tx.commit().await?;
                    Ok(ids.len() as u64)
                }

                async fn unfreeze_device(&self, id: &str, at: Timestamp, actor: &str) -> StoreResult<bool> {
                    self.change_device(
                        "UPDATE devices SET frozen_at = NULL WHERE id = $1 AND frozen_at IS NOT NULL RETURNING login",
                        args![id], at, actor, ("device.unfrozen", Severity::High), json!({ "device": id }),
                    )
                    .await
                }

                async fn open_challenge(&self, login: &str, new: &NewChallenge, p: &PolicySettings, actor: &str) -> StoreResult<OpenOutcome> {
                    // Read without a lock, apply the policy, then write only if the
                    // user's counters are still as read (`state_cas`), or read again: two
                    // round trips on PostgreSQL, with no transaction to begin and commit.
                    // Every write of a user's challenges saves their counters too, so
                    // counters still as read mean challenges still as read.
                    let now = new.created_at;
                    let window_start = now.minus_secs(p.budget_window_secs).millis();
                    let mut conn = self.grouped().await?;
                    // After an approval this node saved, what the read would find is
                    // known ([`Approved`]), and the write checks it; once, as a read.
                    let mut kept = self.kept.take_approved(login);
                    // Otherwise, where the dialect allows, the read opens the challenge
                    // itself when it leaves the policy nothing to weigh.
                    let mut read = None;
                    if kept.is_none() && <$store as sql::Database>::WRITES_IN_WITH {
                        let entry = Audit::new(now, "challenge.created", Severity::Info, login, actor, created_detail(new, 1));
                        let mut args = args![login, window_start, now.millis(), &new.id, &new.app_id, &new.code_hash, &new.context_json, &new.context_sha256, new.expires_at.millis()].to_vec();
                        args.extend_from_slice(audit_args!(entry));
                        let rows = conn
                            .rows(open_at_once_sql(), &args, |r| Ok((open_read_row(r)?, r.int(15)?)))
                            .await
                            .map_err(conflict("challenge"))?;
                        conn.settle().await?;
                        if let [(opened, 1)] = rows.as_slice() {
                            // The write matched the version read, so there was one.
                            let Versioned { state, version: Some(version) } = &opened.counters else {
                                return Err(StoreError::Backend("an opening at once without counters".into()));
                            };
                            debug_assert_eq!(policy::admit(state, 0, p, now), Admission::Push, "nothing to weigh");
                            self.kept.keep_opened(Opened::new(new, opened.user_id, login, state.clone(), version + 1));
                            return Ok(OpenOutcome::Opened { superseded: None, prompts: 1 });
                        }
                        read = Some(rows.into_iter().map(|(r, _)| r).collect::<Vec<_>>());
                    }
                    for _ in 0..OPTIMISTIC_ATTEMPTS {
                        let (user_id, prompts, counters, live, assumed) = match kept.take() {
                            Some(Approved { user_id, state, version }) => {
                                let since = state.budget_since(p, now);
                                (user_id, 0, Versioned { state, version: Some(version) }, Vec::new(), Some(since))
                            }
                            None => {
                                let rows = match read.take() {
                                    Some(rows) => rows,
                                    None => conn.rows(open_read_sql(), args![login, window_start], open_read_row).await?,
                                };
                                let mut rows = rows.into_iter();
                                let Some(OpenRead { user_id, prompts, counters, live, .. }) = rows.next().filter(|r| r.active_devices > 0) else {
                                    return Ok(OpenOutcome::Unavailable);
                                };
                                // One row per live challenge; the user's columns repeat on each.
                                let live: Vec<(String, Timestamp)> = live.into_iter().chain(rows.filter_map(|r| r.live)).collect();
                                (user_id, prompts, counters, live, None)
                            }
                        };
                        let Some(version) = counters.version else {
                            conn.exec(STATE_CREATE, args![user_id]).await?;
                            continue;
                        };
                        let cas = |state: &UserState| match assumed {
                            Some(since) => state_cas_assuming(user_id, state, version, since),
                            None => state_cas(user_id, state, version),
                        };
                        let before = counters.state;
                        let mut state = before.clone();
                        let mut changes = Vec::new();
                        let mut entries = Vec::new();
                        let mut still_live = Vec::new();
                        for (id, expires_at) in &live {
                            if *expires_at > now {
                                still_live.push(id);
                                continue;
                            }
                            // Expiring a lapsed challenge changes its status, never its
                            // creation time: the prompts read stay right.
                            changes.push(sql::Write::must_change(EXPIRE, args![id.as_str(), expires_at.millis()]));
                            state.on_unanswered(p, *expires_at);
                            entries.push(Audit::new(*expires_at, "challenge.expired", Severity::Low, login, "system", json!({ "challenge": id })));
                        }

                        let prompts = u32::try_from(prompts).unwrap_or(u32::MAX);
                        let admission = policy::admit(&state, prompts, p, now);
                        if admission != Admission::Push {
                            if assumed.is_some() {
                                // A refusal is recorded on what was read, not assumed.
                                continue;
                            }
                            let (why, severity) = match &admission {
                                Admission::Wait { .. } => ("backoff", Severity::Low),
                                Admission::Locked { .. } => ("locked", Severity::Medium),
                                _ => ("budget_spent", Severity::Medium),
                            };
                            entries.push(Audit::new(now, "challenge.refused", severity, login, actor, json!({ "reason": why, "prompts": prompts })));
                            if changes.is_empty() {
                                // Only the refusal to record, and nothing it depends on.
                                append_audit(&mut conn, &entries[0]).await?;
                                conn.settle().await?;
                                return Ok(OpenOutcome::Refused(admission));
                            }
                            let mut writes = vec![cas(&state)];
                            writes.extend(changes);
                            writes.push(audit_write(&entries));
                            if conn.write_all(&writes).await? {
                                return Ok(OpenOutcome::Refused(admission));
                            }
                            continue;
                        }

                        let mut superseded = None;
                        for id in still_live {
                            changes.push(sql::Write::must_change(
                                "UPDATE challenges SET status = 'superseded', reason = 'superseded', decided_at = $2 WHERE id = $1 AND status = 'pending'",
                                args![id.as_str(), now.millis()],
                            ));
                            state.on_unanswered(p, now);
                            entries.push(Audit::new(now, "challenge.superseded", Severity::Low, login, actor, json!({ "challenge": id, "by": new.id })));
                            superseded = Some(id.clone());
                        }
                        entries.push(Audit::new(now, "challenge.created", Severity::Info, login, actor, created_detail(new, prompts + 1)));
                        let mut writes = vec![cas(&state)];
                        writes.extend(changes);
                        writes.push(sql::Write::new(
                            "INSERT INTO challenges (id, user_id, login, app_id, status, code_hash, context_json, context_sha256, created_at, expires_at) \
                             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9)",
                            args![&new.id, user_id, login, &new.app_id, &new.code_hash, &new.context_json, &new.context_sha256, now.millis(), new.expires_at.millis()],
                        ));
                        writes.push(audit_write(&entries));
                        if conn.write_all(&writes).await.map_err(conflict("challenge"))? {
                            // The challenges this one superseded or expired are answered
                            // no more: what was kept of them is of no use.
                            for (id, _) in &live {
                                self.kept.take_opened(id);
                            }
                            self.kept.keep_opened(Opened::new(new, user_id, login, state, version + 1));
                            return Ok(OpenOutcome::Opened { superseded, prompts: prompts + 1 });
                        }
                    }
                    Err(lost_every_race("opening a challenge"))
                }

                async fn challenge(&self, id: &str) -> StoreResult<Option<ChallengeRecord>> {
                    let sql = format!("SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE id = $1");
                    Ok(self.reader().await?.opt(&sql, args![id], challenge_row).await?)
                }

                async fn pending_for_device(&self, device: &DeviceRecord, nonce: &Nonce, at: Timestamp) -> StoreResult<Option<Vec<ChallengeRecord>>> {
                    // Consuming the nonce is the only write, and the listing does not
                    // depend on it: one statement on PostgreSQL, no transaction; the rows
                    // are dropped if the nonce was used before.
                    static PENDING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!("SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE user_id = $1 AND status = 'pending' AND expires_at > $2 ORDER BY created_at")
                    });
                    let mut conn = self.grouped().await?;
                    let (fresh, rows) = conn
                        .exec_then_rows(&FETCH_NONCE_INSERT, nonce_args!(nonce), &PENDING, args![device.user_id, at.millis()], challenge_row)
                        .await?;
                    conn.settle().await?;
                    Ok((fresh == 1).then_some(rows))
                }

                async fn record_answer(&self, a: &AnswerRecord, judge: Judge<'_>, p: &PolicySettings, at: Timestamp) -> StoreResult<AnswerOutcome> {
                    // As opening does: read without a lock, judge, then write only if the
                    // user's counters are still as read, or read again (where the answer
                    // that lost a race finds the challenge decided). An approval is two
                    // round trips on PostgreSQL; a deny or a not-me reads once more.
                    let login = a.login.as_str();
                    let actor = format!("device:{}", a.device_id);
                    let mut conn = self.grouped().await?;
                    // A challenge this node opened starts from what it kept instead of a
                    // read ([`Opened`] says why that is safe); once, as a read would.
                    let mut kept = self.kept.take_opened(&a.challenge_id);
                    for _ in 0..OPTIMISTIC_ATTEMPTS {
                        let read = match kept.take() {
                            Some(Opened { challenge, state, version }) => AnswerRead {
                                fresh: true,
                                counters: Versioned { state, version: Some(version) },
                                challenge: Some(challenge),
                            },
                            None => conn
                                .one(answer_read_sql(), args![a.user_id, &a.challenge_id, &a.nonce.device_id, &a.nonce.nonce], answer_read_row)
                                .await?,
                        };
                        // The refusals first, in their order, then the replay.
                        let judged = read
                            .challenge
                            .ok_or(Refusal::UnknownChallenge)
                            .and_then(|ch| Ok((judge(&ch)?, ch)));
                        let (resolution, challenge) = match judged {
                            Ok(judged) => judged,
                            Err(refusal) => return Ok(AnswerOutcome::Refused(refusal)),
                        };
                        if !read.fresh {
                            return Ok(AnswerOutcome::Replay);
                        }
                        let Some(version) = read.counters.version else {
                            conn.exec(STATE_CREATE, args![a.user_id]).await?;
                            continue;
                        };
                        let before = read.counters.state;
                        let mut state = before.clone();
                        let mut kill = None;
                        let answered = match resolution {
                            Resolution::Approved => {
                                state.on_approved(at);
                                Audit::new(at, "challenge.approved", Severity::Info, login, &actor, json!({ "challenge": a.challenge_id }))
                            }
                            Resolution::Denied { .. } => {
                                // The denies in the lockout window, this one included,
                                // as they will stand once it is decided at `at`.
                                let since = state.denies_since(p, at);
                                let window = since.minus_secs(600);
                                let earlier = conn
                                    .one(
                                        "SELECT COUNT(*) FROM challenges WHERE user_id = $1 AND created_at > $2 AND status = 'denied' AND decided_at > $3",
                                        args![a.user_id, window.millis(), since.millis()],
                                        sql::int,
                                    )
                                    .await?;
                                let denies = earlier + i64::from(at > since && challenge.created_at > window);
                                state.on_denied(p, at, u32::try_from(denies).unwrap_or(u32::MAX));
                                Audit::new(at, "challenge.denied", Severity::Medium, login, &actor,
                                    json!({ "challenge": a.challenge_id, "reason": resolution.reason(), "denies_in_window": denies }))
                            }
                            Resolution::NotMe => {
                                let others = conn
                                    .one(
                                        "SELECT COUNT(*) FROM challenges WHERE user_id = $1 AND status = 'pending' AND id <> $2",
                                        args![a.user_id, &a.challenge_id],
                                        sql::int,
                                    )
                                    .await?;
                                kill = Some(sql::Write::new(
                                    "UPDATE challenges SET status = 'not_me', reason = 'killed_by_not_me', decided_at = $3 WHERE user_id = $1 AND status = 'pending' AND id <> $2",
                                    args![a.user_id, &a.challenge_id, at.millis()],
                                ));
                                state.on_not_me(p, at);
                                Audit::new(at, "challenge.not_me", Severity::Critical, login, &actor,
                                    json!({ "challenge": a.challenge_id, "other_pending_killed": others }))
                            }
                        };
                        let status = resolution.status();
                        let mut entries = vec![answered];
                        let lock_reason = match new_lock(&before, &state, at, login, &actor) {
                            Some((reason, locked)) => {
                                entries.push(locked);
                                reason
                            }
                            None => None,
                        };
                        let mut writes = vec![
                            state_cas(a.user_id, &state, version),
                            sql::Write::must_change(NONCE_INSERT, nonce_args!(a.nonce)),
                            sql::Write::must_change(
                                "UPDATE challenges SET status = $3, reason = $4, decided_at = $5, device_id = $6 \
                                 WHERE id = $1 AND user_id = $2 AND status = 'pending' AND expires_at > $5",
                                args![&a.challenge_id, a.user_id, status.as_str(), resolution.reason(), at.millis(), &a.device_id],
                            ),
                        ];
                        writes.extend(kill);
                        writes.push(audit_write(&entries));
                        if conn.write_all(&writes).await? {
                            if resolution == Resolution::Approved {
                                self.kept.keep_approved(login, Approved { user_id: a.user_id, state, version: version + 1 });
                            }
                            return Ok(AnswerOutcome::Recorded { status, resolution, new_lock: lock_reason, challenge: Box::new(challenge) });
                        }
                    }
                    Err(lost_every_race("recording an answer"))
                }

                async fn expire_due(&self, p: &PolicySettings, at: Timestamp, limit: i64) -> StoreResult<Vec<ExpiredChallenge>> {
                    let due = self
                        .reader()
                        .await?
                        .rows(
                            "SELECT id, user_id, login, expires_at FROM challenges WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
                            args![at.millis(), limit],
                            |r| Ok((r.text(0)?, r.int(1)?, r.text(2)?, r.int(3)?)),
                        )
                        .await?;
                    let mut expired = Vec::new();
                    for (id, user_id, login, expires_at) in due {
                        let expires_at = Timestamp::from_millis(expires_at);
                        let mut tx = self.begin().await?;
                        let mut state = lock_state(&mut tx, LOCK, user_id).await?;
                        if expire_one(&mut tx, &id, expires_at).await? {
                            let before = state.clone();
                            state.on_unanswered(p, expires_at);
                            audit(&mut tx, expires_at, "challenge.expired", Severity::Low, &login, "system", json!({ "challenge": id })).await?;
                            audit_new_lock(&mut tx, &before, &state, at, &login, "system").await?;
                            save_state(&mut tx, user_id, &state).await?;
                            expired.push(ExpiredChallenge { id, login, expires_at });
                        }
                        tx.commit().await?;
                    }
                    Ok(expired)
                }

                async fn purge_nonces(&self, before: Timestamp, limit: i64) -> StoreResult<u64> {
                    let sql = <$store as $crate::sql::Database>::purge_nonces_sql(limit);
                    Ok(self.writer().await?.exec_planned(&sql, args![before.millis()]).await?)
                }

                async fn seal_audit(&self, limit: i64) -> StoreResult<usize> {
                    // Read and hash with no transaction open: on SQLite the connection
                    // serves requests meanwhile. The entries first, so that a pass with
                    // nothing to seal (ten a second on an idle server) is one query. Should
                    // another sealer seal some of them before the head is read, the head
                    // still moves only if it is as read, and the entries only if none was
                    // sealed since: the batch is undone below.
                    static UNSEALED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq IS NULL ORDER BY id LIMIT $1"));
                    let mut read = self.reader().await?;
                    let entries = read.rows(&UNSEALED, args![limit], audit_row).await?;
                    if entries.is_empty() {
                        return Ok(0);
                    }
                    let (head_seq, head_hash) = read.one("SELECT seq, hash FROM audit_head WHERE one = 1", args![], |r| Ok((r.int(0)?, r.text(1)?))).await?;
                    drop(read);
                    let count = entries.len();
                    let (mut seq, mut prev) = (head_seq, head_hash.clone());
                    let mut links: Vec<(i64, i64, String, String)> = Vec::with_capacity(count);
                    for entry in entries {
                        seq += 1;
                        let hash = link_hash(seq, &prev, &entry);
                        links.push((entry.id, seq, std::mem::replace(&mut prev, hash.clone()), hash));
                    }
                    let mut tx = self.begin().await?;
                    let moved = tx
                        .exec(
                            "UPDATE audit_head SET seq = $3, hash = $4 WHERE one = 1 AND seq = $1 AND hash = $2",
                            args![head_seq, &head_hash, seq, &prev],
                        )
                        .await?;
                    if moved != 1 {
                        tx.rollback().await?;
                        return Ok(0);
                    }
                    // One UPDATE for the batch, its rows in one JSON parameter.
                    let rows = serde_json::to_string(&links).map_err(|e| StoreError::Backend(format!("encoding a seal: {e}")))?;
                    let done = tx.exec(&SEAL_UPDATE, args![rows.as_str()]).await?;
                    if done != count as u64 {
                        // Rows vanished or were sealed under us: the chain must not move
                        // on without them.
                        tx.rollback().await?;
                        return Ok(0);
                    }
                    tx.commit().await?;
                    Ok(count)
                }

                async fn audit_sealed(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<SealedEntry>> {
                    let sql = format!("SELECT {AUDIT_COLUMNS}, seq, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
                    Ok(self.reader().await?.rows(&sql, args![after_seq, limit], sealed_row).await?)
                }

                async fn audit_unsealed(&self) -> StoreResult<i64> {
                    Ok(self.reader().await?.one("SELECT COUNT(*) FROM audit_log WHERE seq IS NULL", args![], sql::int).await?)
                }
            }
        };
    };
}

pub(crate) use impl_guard_store;

#[cfg(test)]
mod tests {
    use super::*;

    fn approved(user_id: i64) -> Approved {
        Approved {
            user_id,
            state: UserState::default(),
            version: 1,
        }
    }

    /// The users' map holds its whole limit, far above the challenges' one; one more
    /// empties it, keeping the newest.
    #[test]
    fn a_full_map_is_emptied_and_keeps_the_newest() {
        let kept = Kept::default();
        let limit = Kept::APPROVED_LIMIT as i64;
        for n in 0..limit {
            kept.keep_approved(&format!("user{n}"), approved(n));
        }
        for n in [0, Kept::OPENED_LIMIT as i64, limit - 1] {
            let login = format!("user{n}");
            let back = kept.take_approved(&login).map(|a| a.user_id);
            assert_eq!(back, Some(n), "{login} was kept");
            kept.keep_approved(&login, approved(n));
        }
        kept.keep_approved("newest", approved(-1));
        assert!(
            kept.take_approved("user1").is_none(),
            "the full map was emptied"
        );
        assert_eq!(kept.take_approved("newest").map(|a| a.user_id), Some(-1));
    }
}
