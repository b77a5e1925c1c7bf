//! The [`GuardStore`](pushback_guard::store::GuardStore) implementation, written once and
//! expanded for each backend by [`impl_guard_store!`]. Each state-changing method is one
//! transaction that also appends its audit entries; races are settled by conditional
//! `UPDATE … WHERE status = 'pending'` and by locking the user's counter row first.

use pushback_guard::policy::{LockReason, UserState};
use pushback_guard::store::{AppRecord, DeviceRecord, StoreError};
use pushback_guard::{ChallengeRecord, ChallengeStatus, CodeMode, KeyType};
use pushback_model::Severity;
use pushback_model::Timestamp;
use pushback_model::audit::{AuditEntry, SealedEntry};

pub(crate) type StateRow = (
    Option<i64>,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

pub(crate) fn state_from_row(r: StateRow) -> UserState {
    UserState {
        last_approval_at: r.0.map(Timestamp::from_millis),
        backoff_level: u32::try_from(r.1).unwrap_or(u32::MAX),
        backoff_until: r.2.map(Timestamp::from_millis),
        failures: u32::try_from(r.3).unwrap_or(u32::MAX),
        locked_until: r.4.map(Timestamp::from_millis),
        lock_reason: r.5.as_deref().and_then(LockReason::parse),
        reset_at: r.6.map(Timestamp::from_millis),
    }
}

pub(crate) type AppRow = (String, String, Vec<u8>, Option<String>, i64);

pub(crate) fn app_from_row(r: AppRow) -> AppRecord {
    AppRecord {
        id: r.0,
        name: r.1,
        key_hash: r.2,
        mode: r.3.as_deref().and_then(CodeMode::parse),
        created_at: Timestamp::from_millis(r.4),
    }
}

pub(crate) const DEVICE_COLUMNS: &str =
    "id, user_id, login, name, key_type, public_key, created_at, revoked_at";
pub(crate) type DeviceRow = (
    String,
    i64,
    String,
    String,
    String,
    Vec<u8>,
    i64,
    Option<i64>,
);

pub(crate) fn device_from_row(r: DeviceRow) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        id: r.0,
        user_id: r.1,
        login: r.2,
        name: r.3,
        key_type: KeyType::parse(&r.4)
            .ok_or_else(|| StoreError::Backend(format!("unknown key type {:?}", r.4)))?,
        public_key: r.5,
        created_at: Timestamp::from_millis(r.6),
        revoked_at: r.7.map(Timestamp::from_millis),
    })
}

pub(crate) const CHALLENGE_COLUMNS: &str = "id, user_id, login, app_id, status, reason, code_hash, context_json, context_sha256, created_at, expires_at, decided_at, device_id";

#[derive(sqlx::FromRow)]
pub(crate) struct ChallengeRow {
    id: String,
    user_id: i64,
    login: String,
    app_id: String,
    status: String,
    reason: Option<String>,
    code_hash: Vec<u8>,
    context_json: String,
    context_sha256: String,
    created_at: i64,
    expires_at: i64,
    decided_at: Option<i64>,
    device_id: Option<String>,
}

pub(crate) fn challenge_from_row(r: ChallengeRow) -> Result<ChallengeRecord, StoreError> {
    Ok(ChallengeRecord {
        status: ChallengeStatus::parse(&r.status)
            .ok_or_else(|| StoreError::Backend(format!("unknown status {:?}", r.status)))?,
        id: r.id,
        user_id: r.user_id,
        login: r.login,
        app_id: r.app_id,
        reason: r.reason,
        code_hash: r.code_hash,
        context_json: r.context_json,
        context_sha256: r.context_sha256,
        created_at: Timestamp::from_millis(r.created_at),
        expires_at: Timestamp::from_millis(r.expires_at),
        decided_at: r.decided_at.map(Timestamp::from_millis),
        device_id: r.device_id,
    })
}

pub(crate) type AuditRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
);

pub(crate) fn sealed_from_row(r: AuditRow) -> SealedEntry {
    SealedEntry {
        entry: AuditEntry {
            id: r.0,
            at: Timestamp::from_millis(r.1),
            kind: r.2,
            severity: Severity::parse(&r.3).unwrap_or(Severity::Critical),
            subject: r.4,
            actor: r.5,
            detail: r.6,
        },
        seq: r.7,
        prev_hash: r.8,
        hash: r.9,
    }
}

/// Audit entries sealed per UPDATE statement (4 parameters each).
pub(crate) const SEAL_BATCH: usize = 1_000;

pub(crate) fn ms(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::millis)
}

/// Expands the store for one backend: `impl_guard_store!(Store, sqlx::Db, " FOR UPDATE")`,
/// the last argument being what locks a selected row (nothing on SQLite, where the single
/// writer connection already serialises transactions).
macro_rules! impl_guard_store {
    ($store:ty, $db:ty, $lock:literal) => {
        mod store_impl {
            use async_trait::async_trait;
            use serde_json::json;

            use pushback_guard::policy::{self, Admission, UserState};
            use pushback_guard::store::*;
            use pushback_guard::{ChallengeRecord, PolicySettings, Resolution};
            use pushback_model::audit::{link_hash, AuditEntry, SealedEntry};
            use pushback_model::{Severity, Timestamp};

            use super::*;
            use crate::guard::*;
            use crate::{backend, conflict_or_backend};

            type Conn = <$db as sqlx::Database>::Connection;

            async fn audit(conn: &mut Conn, at: Timestamp, kind: &str, severity: Severity, subject: &str, actor: &str, detail: serde_json::Value) -> StoreResult<()> {
                sqlx::query("INSERT INTO audit_log (at, kind, severity, subject, actor, detail) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(at.millis())
                    .bind(kind)
                    .bind(severity.as_str())
                    .bind(subject)
                    .bind(actor)
                    .bind(detail.to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                Ok(())
            }

            async fn lock_state(conn: &mut Conn, user_id: i64) -> StoreResult<UserState> {
                let row: Option<StateRow> = sqlx::query_as(concat!(
                    "SELECT last_approval_at, backoff_level, backoff_until, failures, locked_until, lock_reason, reset_at FROM user_state WHERE user_id = $1",
                    $lock
                ))
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
                Ok(row.map(state_from_row).unwrap_or_default())
            }

            async fn save_state(conn: &mut Conn, user_id: i64, s: &UserState) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO user_state (user_id, last_approval_at, backoff_level, backoff_until, failures, locked_until, lock_reason, reset_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (user_id) DO UPDATE SET last_approval_at = $2, backoff_level = $3, backoff_until = $4, \
                     failures = $5, locked_until = $6, lock_reason = $7, reset_at = $8",
                )
                .bind(user_id)
                .bind(ms(s.last_approval_at))
                .bind(i64::from(s.backoff_level))
                .bind(ms(s.backoff_until))
                .bind(i64::from(s.failures))
                .bind(ms(s.locked_until))
                .bind(s.lock_reason.map(|r| r.as_str()))
                .bind(ms(s.reset_at))
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
                Ok(())
            }

            /// Audits a lock that `after` has and `before` had not; returns its reason.
            async fn audit_new_lock(conn: &mut Conn, before: &UserState, after: &UserState, at: Timestamp, login: &str, actor: &str) -> StoreResult<Option<pushback_guard::policy::LockReason>> {
                if after.locked_at(at).is_some() && after.locked_until != before.locked_until {
                    let reason = after.lock_reason.map(|r| r.as_str()).unwrap_or("unknown");
                    let severity = if reason == "denies" { Severity::High } else { Severity::Critical };
                    let until = after.locked_until.map(|u| u.millis());
                    audit(conn, at, "user.locked", severity, login, actor, json!({ "reason": reason, "until": until })).await?;
                    return Ok(after.lock_reason);
                }
                Ok(None)
            }

            // Every early return below rolls back explicitly: a dropped transaction is
            // only rolled back when the pool next hands out its connection, and until
            // then PostgreSQL would keep its row locks.

            /// Records a device nonce if it is new and the device is not revoked.
            async fn consume_nonce<'e, E>(executor: E, nonce: &Nonce) -> StoreResult<bool>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                let done = sqlx::query(
                    "INSERT INTO device_nonces (device_id, nonce, expires_at) \
                     SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM devices WHERE id = $1 AND revoked_at IS NULL) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&nonce.device_id)
                .bind(&nonce.nonce)
                .bind(nonce.expires_at.millis())
                .execute(executor)
                .await
                .map_err(backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn expire_one(conn: &mut Conn, id: &str, expires_at: Timestamp) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE challenges SET status = 'expired', reason = 'timeout', decided_at = $2 WHERE id = $1 AND status = 'pending'")
                    .bind(id)
                    .bind(expires_at.millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                Ok(done.rows_affected() == 1)
            }

            #[async_trait]
            impl GuardStore for $store {
                async fn admin_key_count(&self) -> StoreResult<i64> {
                    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM admin_keys")
                        .fetch_one(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(n)
                }

                async fn insert_admin_key(&self, id: &str, key_hash: &[u8], at: Timestamp) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await.map_err(backend)?;
                    sqlx::query("INSERT INTO admin_keys (id, key_hash, created_at) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(key_hash)
                        .bind(at.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| conflict_or_backend(e, "admin key"))?;
                    audit(&mut tx, at, "admin.key_created", Severity::High, id, "system", json!({})).await?;
                    tx.commit().await.map_err(backend)
                }

                async fn admin_key_hash(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
                    let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT key_hash FROM admin_keys WHERE id = $1")
                        .bind(id)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(row.map(|r| r.0))
                }

                async fn insert_app(&self, app: &AppRecord, actor: &str) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await.map_err(backend)?;
                    sqlx::query("INSERT INTO apps (id, name, key_hash, mode, created_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(&app.id)
                        .bind(&app.name)
                        .bind(&app.key_hash)
                        .bind(app.mode.map(|m| m.as_str()))
                        .bind(app.created_at.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| conflict_or_backend(e, "app"))?;
                    let mode = app.mode.map(|m| m.as_str());
                    audit(&mut tx, app.created_at, "app.created", Severity::Medium, &app.id, actor, json!({ "name": app.name, "mode": mode })).await?;
                    tx.commit().await.map_err(backend)
                }

                async fn app(&self, id: &str) -> StoreResult<Option<AppRecord>> {
                    let row: Option<AppRow> = sqlx::query_as("SELECT id, name, key_hash, mode, created_at FROM apps WHERE id = $1")
                        .bind(id)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(row.map(app_from_row))
                }

                async fn insert_user(&self, login: &str, display_name: &str, at: Timestamp, actor: &str) -> StoreResult<UserRecord> {
                    let mut tx = self.writer().begin().await.map_err(backend)?;
                    let (id,): (i64,) = sqlx::query_as("INSERT INTO users (login, display_name, created_at) VALUES ($1, $2, $3) RETURNING id")
                        .bind(login)
                        .bind(display_name)
                        .bind(at.millis())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| conflict_or_backend(e, "user"))?;
                    save_state(&mut tx, id, &UserState::default()).await?;
                    audit(&mut tx, at, "user.created", Severity::Info, login, actor, json!({})).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(UserRecord { id, login: login.to_owned(), display_name: display_name.to_owned(), created_at: at })
                }

                async fn user_by_login(&self, login: &str) -> StoreResult<Option<UserRecord>> {
                    let row: Option<(i64, String, String, i64)> = sqlx::query_as("SELECT id, login, display_name, created_at FROM users WHERE login = $1")
                        .bind(login)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(row.map(|r| UserRecord { id: r.0, login: r.1, display_name: r.2, created_at: Timestamp::from_millis(r.3) }))
                }

                async fn user_state(&self, user_id: i64) -> StoreResult<UserState> {
                    let row: Option<StateRow> = sqlx::query_as(
                        "SELECT last_approval_at, backoff_level, backoff_until, failures, locked_until, lock_reason, reset_at FROM user_state WHERE user_id = $1",
                    )
                    .bind(user_id)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(state_from_row).unwrap_or_default())
                }

                async fn unlock_user(&self, user: &UserRecord, at: Timestamp, actor: &str) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await.map_err(backend)?;
                    let mut state = lock_state(&mut tx, user.id).await?;
                    let was = state.lock_reason.map(|r| r.as_str());
                    state.on_unlocked(at);
                    save_state(&mut tx, user.id, &state).await?;
                    audit(&mut tx, at, "user.unlocked", Severity::High, &user.login, actor, json!({ "previous_lock": was })).await?;
                    tx.commit().await.map_err(backend)
                }

                async fn insert_enrolment(&self, user: &UserRecord, token_hash: &[u8], expires_at: Timestamp, at: Timestamp, actor: &str) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await.map_err(backend)?;
                    sqlx::query("INSERT INTO enrolments (token_hash, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(token_hash)
                        .bind(user.id)
                        .bind(expires_at.millis())
                        .bind(at.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| conflict_or_backend(e, "enrolment"))?;
                    audit(&mut tx, at, "device.enrolment_created", Severity::Medium, &user.login, actor, json!({ "expires_at": expires_at.millis() })).await?;
                    tx.commit().await.map_err(backend)
                }

                async fn redeem_enrolment(&self, token_hash: &[u8], device: &NewDevice, at: Timestamp) -> StoreResult<Option<DeviceRecord>> {
                    let mut tx = self.writer().begin().await.map_err(backend)?;
                    let user: Option<(i64,)> = sqlx::query_as(
                        "UPDATE enrolments SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
                    )
                    .bind(token_hash)
                    .bind(at.millis())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let Some((user_id,)) = user else {
                        tx.rollback().await.map_err(backend)?;
                        return Ok(None);
                    };
                    let (login,): (String,) = sqlx::query_as("SELECT login FROM users WHERE id = $1")
                        .bind(user_id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(backend)?;
                    sqlx::query("INSERT INTO devices (id, user_id, login, name, key_type, public_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                        .bind(&device.id)
                        .bind(user_id)
                        .bind(&login)
                        .bind(&device.name)
                        .bind(device.key_type.as_str())
                        .bind(&device.public_key)
                        .bind(at.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| conflict_or_backend(e, "device"))?;
                    let actor = format!("device:{}", device.id);
                    audit(&mut tx, at, "device.enrolled", Severity::Medium, &login, &actor,
                        json!({ "device": device.id, "name": device.name, "key_type": device.key_type.as_str() })).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(Some(DeviceRecord {
                        id: device.id.clone(),
                        user_id,
                        login,
                        name: device.name.clone(),
                        key_type: device.key_type,
                        public_key: device.public_key.clone(),
                        created_at: at,
                        revoked_at: None,
                    }))
                }

                async fn device(&self, id: &str) -> StoreResult<Option<DeviceRecord>> {
                    let row: Option<DeviceRow> = sqlx::query_as(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    row.map(device_from_row).transpose()
                }

                async fn devices_of(&self, user_id: i64) -> StoreResult<Vec<DeviceRecord>> {
                    let rows: Vec<DeviceRow> = sqlx::query_as(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY created_at, id"))
                        .bind(user_id)
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    rows.into_iter().map(device_from_row).collect()
                }

                async fn rename_device(&self, id: &str, name: &str, at: Timestamp, actor: &str) -> StoreResult<bool> {
                    let mut tx = self.writer().begin().await.map_err(backend)?;
                    let row: Option<(String,)> = sqlx::query_as("UPDATE devices SET name = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING login")
                        .bind(id)
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let Some((login,)) = row else {
                        tx.rollback().await.map_err(backend)?;
                        return Ok(false);
                    };
                    audit(&mut tx, at, "device.renamed", Severity::Info, &login, actor, json!({ "device": id, "name": name })).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(true)
                }

                async fn revoke_device(&self, id: &str, at: Timestamp, actor: &str) -> StoreResult<bool> {
                    let mut tx = self.writer().begin().await.map_err(backend)?;
                    let row: Option<(String,)> = sqlx::query_as("UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING login")
                        .bind(id)
                        .bind(at.millis())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let Some((login,)) = row else {
                        tx.rollback().await.map_err(backend)?;
                        return Ok(false);
                    };
                    audit(&mut tx, at, "device.revoked", Severity::Medium, &login, actor, json!({ "device": id })).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(true)
                }

                async fn push_target(&self, login: &str) -> StoreResult<Option<PushTarget>> {
                    let row: Option<(i64, String, i64)> = sqlx::query_as(
                        "SELECT u.id, u.login, (SELECT COUNT(*) FROM devices d WHERE d.user_id = u.id AND d.revoked_at IS NULL) \
                         FROM users u WHERE u.login = $1",
                    )
                    .bind(login)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(|r| PushTarget { user_id: r.0, login: r.1, active_devices: r.2 }))
                }

                async fn open_challenge(&self, target: &PushTarget, new: &NewChallenge, p: &PolicySettings, actor: &str) -> StoreResult<OpenOutcome> {
                    let now = new.created_at;
                    let login = target.login.as_str();
                    let mut tx = self.writer().begin().await.map_err(backend)?;
                    let mut state = lock_state(&mut tx, target.user_id).await?;
                    let before = state.clone();

                    // The live challenges and the prompts in the budget window, in one
                    // round trip. Expiring a lapsed challenge below changes its status,
                    // never its creation time, so the count stays right.
                    let rows: Vec<(Option<String>, Option<i64>, i64)> = sqlx::query_as(
                        "SELECT c.id, c.expires_at, (SELECT COUNT(*) FROM challenges WHERE user_id = $1 AND created_at > $2) \
                         FROM (SELECT 1 AS one) AS x LEFT JOIN challenges c ON c.user_id = $1 AND c.status = 'pending'",
                    )
                    .bind(target.user_id)
                    .bind(state.budget_since(p, now).millis())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let prompts = rows.first().map_or(0, |r| r.2);
                    let live: Vec<(String, i64)> = rows.into_iter().filter_map(|r| Some((r.0?, r.1?))).collect();
                    let mut still_live = Vec::new();
                    for (id, expires_at) in live {
                        let expires_at = Timestamp::from_millis(expires_at);
                        if expires_at > now {
                            still_live.push(id);
                        } else if expire_one(&mut tx, &id, expires_at).await? {
                            state.on_unanswered(p, expires_at);
                            audit(&mut tx, expires_at, "challenge.expired", Severity::Low, login, "system", json!({ "challenge": id })).await?;
                        }
                    }

                    let prompts = u32::try_from(prompts).unwrap_or(u32::MAX);
                    let admission = policy::admit(&state, prompts, p, now);
                    if admission != Admission::Push {
                        let (why, severity) = match &admission {
                            Admission::Wait { .. } => ("backoff", Severity::Low),
                            Admission::Locked { .. } => ("locked", Severity::Medium),
                            _ => ("budget_spent", Severity::Medium),
                        };
                        if state != before {
                            save_state(&mut tx, target.user_id, &state).await?;
                        }
                        audit(&mut tx, now, "challenge.refused", severity, login, actor, json!({ "reason": why, "prompts": prompts })).await?;
                        tx.commit().await.map_err(backend)?;
                        return Ok(OpenOutcome::Refused(admission));
                    }

                    let mut superseded = None;
                    for id in still_live {
                        let done = sqlx::query("UPDATE challenges SET status = 'superseded', reason = 'superseded', decided_at = $2 WHERE id = $1 AND status = 'pending'")
                            .bind(&id)
                            .bind(now.millis())
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                        if done.rows_affected() == 1 {
                            state.on_unanswered(p, now);
                            audit(&mut tx, now, "challenge.superseded", Severity::Low, login, actor, json!({ "challenge": id, "by": new.id })).await?;
                            superseded = Some(id);
                        }
                    }
                    sqlx::query(
                        "INSERT INTO challenges (id, user_id, login, app_id, status, code_hash, context_json, context_sha256, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9)",
                    )
                    .bind(&new.id)
                    .bind(target.user_id)
                    .bind(login)
                    .bind(&new.app_id)
                    .bind(&new.code_hash)
                    .bind(&new.context_json)
                    .bind(&new.context_sha256)
                    .bind(now.millis())
                    .bind(new.expires_at.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict_or_backend(e, "challenge"))?;
                    if state != before {
                        save_state(&mut tx, target.user_id, &state).await?;
                    }
                    audit(&mut tx, now, "challenge.created", Severity::Info, login, actor,
                        json!({ "challenge": new.id, "app": new.app_id, "expires_at": new.expires_at.millis(), "prompts": prompts + 1 })).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(OpenOutcome::Opened { superseded, prompts: prompts + 1 })
                }

                async fn challenge(&self, id: &str) -> StoreResult<Option<ChallengeRecord>> {
                    let row: Option<ChallengeRow> = sqlx::query_as(&format!("SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    row.map(challenge_from_row).transpose()
                }

                async fn pending_for_device(&self, device: &DeviceRecord, nonce: &Nonce, at: Timestamp) -> StoreResult<Option<Vec<ChallengeRecord>>> {
                    // Listing is read-only: consuming the nonce is the only write, and the
                    // listing needs no transaction with it.
                    if !consume_nonce(self.writer(), nonce).await? {
                        return Ok(None);
                    }
                    let rows: Vec<ChallengeRow> = sqlx::query_as(&format!(
                        "SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE user_id = $1 AND status = 'pending' AND expires_at > $2 ORDER BY created_at"
                    ))
                    .bind(device.user_id)
                    .bind(at.millis())
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(challenge_from_row).collect::<StoreResult<Vec<_>>>().map(Some)
                }

                async fn record_answer(&self, a: &AnswerRecord, p: &PolicySettings, at: Timestamp) -> StoreResult<AnswerOutcome> {
                    let mut tx = self.writer().begin().await.map_err(backend)?;
                    if !consume_nonce(&mut *tx, &a.nonce).await? {
                        tx.rollback().await.map_err(backend)?;
                        return Ok(AnswerOutcome::Replay);
                    }
                    let mut state = lock_state(&mut tx, a.user_id).await?;
                    let before = state.clone();
                    let status = a.resolution.status();
                    let decided = sqlx::query(
                        "UPDATE challenges SET status = $3, reason = $4, decided_at = $5, device_id = $6 \
                         WHERE id = $1 AND user_id = $2 AND status = 'pending' AND expires_at > $5",
                    )
                    .bind(&a.challenge_id)
                    .bind(a.user_id)
                    .bind(status.as_str())
                    .bind(a.resolution.reason())
                    .bind(at.millis())
                    .bind(&a.device_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if decided.rows_affected() != 1 {
                        tx.rollback().await.map_err(backend)?;
                        return Ok(AnswerOutcome::NotAnswerable);
                    }
                    let login = a.login.as_str();
                    let actor = format!("device:{}", a.device_id);
                    match a.resolution {
                        Resolution::Approved => {
                            state.on_approved(at);
                            audit(&mut tx, at, "challenge.approved", Severity::Info, login, &actor, json!({ "challenge": a.challenge_id })).await?;
                        }
                        Resolution::Denied { .. } => {
                            let since = state.denies_since(p, at);
                            let (denies,): (i64,) = sqlx::query_as(
                                "SELECT COUNT(*) FROM challenges WHERE user_id = $1 AND created_at > $2 AND status = 'denied' AND decided_at > $3",
                            )
                            .bind(a.user_id)
                            .bind(since.minus_secs(600).millis())
                            .bind(since.millis())
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(backend)?;
                            state.on_denied(p, at, u32::try_from(denies).unwrap_or(u32::MAX));
                            audit(&mut tx, at, "challenge.denied", Severity::Medium, login, &actor,
                                json!({ "challenge": a.challenge_id, "reason": a.resolution.reason(), "denies_in_window": denies })).await?;
                        }
                        Resolution::NotMe => {
                            let killed = sqlx::query("UPDATE challenges SET status = 'not_me', reason = 'killed_by_not_me', decided_at = $2 WHERE user_id = $1 AND status = 'pending'")
                                .bind(a.user_id)
                                .bind(at.millis())
                                .execute(&mut *tx)
                                .await
                                .map_err(backend)?;
                            state.on_not_me(p, at);
                            audit(&mut tx, at, "challenge.not_me", Severity::Critical, login, &actor,
                                json!({ "challenge": a.challenge_id, "other_pending_killed": killed.rows_affected() })).await?;
                        }
                    }
                    let new_lock = audit_new_lock(&mut tx, &before, &state, at, login, &actor).await?;
                    save_state(&mut tx, a.user_id, &state).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(AnswerOutcome::Recorded { status, new_lock })
                }

                async fn expire_due(&self, p: &PolicySettings, at: Timestamp, limit: i64) -> StoreResult<usize> {
                    let due: Vec<(String, i64, String, i64)> = sqlx::query_as(
                        "SELECT id, user_id, login, expires_at FROM challenges WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
                    )
                    .bind(at.millis())
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    let mut expired = 0;
                    for (id, user_id, login, expires_at) in due {
                        let expires_at = Timestamp::from_millis(expires_at);
                        let mut tx = self.writer().begin().await.map_err(backend)?;
                        let mut state = lock_state(&mut tx, user_id).await?;
                        if expire_one(&mut tx, &id, expires_at).await? {
                            let before = state.clone();
                            state.on_unanswered(p, expires_at);
                            audit(&mut tx, expires_at, "challenge.expired", Severity::Low, &login, "system", json!({ "challenge": id })).await?;
                            audit_new_lock(&mut tx, &before, &state, at, &login, "system").await?;
                            save_state(&mut tx, user_id, &state).await?;
                            expired += 1;
                        }
                        tx.commit().await.map_err(backend)?;
                    }
                    Ok(expired)
                }

                async fn purge_nonces(&self, before: Timestamp) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM device_nonces WHERE expires_at < $1")
                        .bind(before.millis())
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(done.rows_affected())
                }

                async fn seal_audit(&self, limit: i64) -> StoreResult<usize> {
                    let mut tx = self.writer().begin().await.map_err(backend)?;
                    let (mut seq, mut prev): (i64, String) = sqlx::query_as(concat!("SELECT seq, hash FROM audit_head WHERE one = 1", $lock))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let rows: Vec<(i64, i64, String, String, String, String, String)> = sqlx::query_as(
                        "SELECT id, at, kind, severity, subject, actor, detail FROM audit_log WHERE seq IS NULL ORDER BY id LIMIT $1",
                    )
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if rows.is_empty() {
                        tx.rollback().await.map_err(backend)?;
                        return Ok(0);
                    }
                    let count = rows.len();
                    let mut links: Vec<(i64, i64, String, String)> = Vec::with_capacity(rows.len());
                    for r in rows {
                        let entry = AuditEntry {
                            id: r.0,
                            at: Timestamp::from_millis(r.1),
                            kind: r.2,
                            severity: Severity::parse(&r.3).unwrap_or(Severity::Critical),
                            subject: r.4,
                            actor: r.5,
                            detail: r.6,
                        };
                        seq += 1;
                        let hash = link_hash(seq, &prev, &entry);
                        links.push((entry.id, seq, std::mem::replace(&mut prev, hash.clone()), hash));
                    }
                    // One UPDATE per batch rather than per entry: VALUES columns are
                    // column1… on both SQLite (3.33+) and PostgreSQL.
                    for batch in links.chunks(SEAL_BATCH) {
                        let mut update = sqlx::QueryBuilder::<$db>::new(
                            "UPDATE audit_log SET seq = v.column2, prev_hash = v.column3, hash = v.column4 FROM (",
                        );
                        update.push_values(batch, |mut row, (id, seq, prev_hash, hash)| {
                            row.push_bind(*id).push_bind(*seq).push_bind(prev_hash.as_str()).push_bind(hash.as_str());
                        });
                        update.push(") AS v WHERE audit_log.id = v.column1");
                        update.build().execute(&mut *tx).await.map_err(backend)?;
                    }
                    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE one = 1")
                        .bind(seq)
                        .bind(&prev)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    Ok(count)
                }

                async fn audit_sealed(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<SealedEntry>> {
                    let rows: Vec<AuditRow> = sqlx::query_as(
                        "SELECT id, at, kind, severity, subject, actor, detail, seq, prev_hash, hash FROM audit_log \
                         WHERE seq > $1 ORDER BY seq LIMIT $2",
                    )
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(rows.into_iter().map(sealed_from_row).collect())
                }

                async fn audit_unsealed(&self) -> StoreResult<i64> {
                    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE seq IS NULL")
                        .fetch_one(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(n)
                }
            }
        }
    };
}

pub(crate) use impl_guard_store;
