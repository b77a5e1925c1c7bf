//! The [`FindingStore`](pushback_watch::FindingStore) implementation, written once
//! against [`Database`](crate::sql::Database) and expanded for each backend by
//! [`impl_finding_store!`], like the guard's store. A finding is stored as its JSON with
//! the columns it is listed and filtered by beside it; its episode key
//! ([`pushback_watch::finding_key`]) is unique, so storing it again changes nothing.

use pushback_model::{Finding, Timestamp};
use pushback_watch::FindingStoreError;
use pushback_watch::store::{FindingCursor, FindingPage, FindingQuery, StoredFinding};

use crate::sql::{Row, Session, SqlError, SqlResult, args};

impl From<SqlError> for FindingStoreError {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Unique(msg) | SqlError::Other(msg) => FindingStoreError::Backend(msg),
        }
    }
}

/// The most findings one page may hold.
pub(crate) const MAX_PAGE: u32 = 1_000;

fn stored_row(r: &dyn Row) -> SqlResult<StoredFinding> {
    let body = r.text(2)?;
    let finding: Finding = serde_json::from_str(&body)
        .map_err(|e| SqlError::Other(format!("a stored finding does not parse: {e}")))?;
    Ok(StoredFinding {
        seq: r.int(0)?,
        stored_at: Timestamp::from_millis(r.int(1)?),
        finding,
    })
}

/// Stores each finding unless its key is taken; whether each was new.
pub(crate) async fn insert(
    s: &mut impl Session,
    findings: &[Finding],
    at: Timestamp,
) -> Result<Vec<bool>, FindingStoreError> {
    let mut fresh = Vec::with_capacity(findings.len());
    for f in findings {
        let key = pushback_watch::finding_key(f);
        let body = serde_json::to_string(f)
            .map_err(|e| FindingStoreError::Backend(format!("serialising a finding: {e}")))?;
        let done = s
            .exec(
                "INSERT INTO findings (finding_key, rule_id, user_name, source, severity, window_start, window_end, stored_at, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (finding_key) DO NOTHING",
                args![
                    &key,
                    &f.rule_id,
                    f.user.as_deref(),
                    f.source.map(|s| s.as_str()),
                    f.severity.as_str(),
                    f.window_start.millis(),
                    f.window_end.millis(),
                    at.millis(),
                    &body,
                ],
            )
            .await?;
        fresh.push(done == 1);
    }
    Ok(fresh)
}

/// One page, newest first; one row more than asked is read to learn whether there are
/// more.
pub(crate) async fn page(
    s: &mut impl Session,
    q: &FindingQuery,
) -> Result<FindingPage, FindingStoreError> {
    let limit = q.limit.clamp(1, MAX_PAGE);
    let mut rows = s
        .rows(
            "SELECT seq, stored_at, body FROM findings \
             WHERE ($1 IS NULL OR rule_id = $1) AND ($2 IS NULL OR user_name = $2) \
             AND ($3 IS NULL OR window_end >= $3) \
             AND ($4 IS NULL OR window_end < $4 OR (window_end = $4 AND seq < $5)) \
             ORDER BY window_end DESC, seq DESC LIMIT $6",
            args![
                q.rule_id.as_deref(),
                q.user.as_deref(),
                q.since.map(Timestamp::millis),
                q.after.map(|c| c.window_end.millis()),
                q.after.map(|c| c.seq),
                i64::from(limit) + 1,
            ],
            stored_row,
        )
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|f| FindingCursor {
            window_end: f.finding.window_end,
            seq: f.seq,
        })
    } else {
        None
    };
    Ok(FindingPage {
        findings: rows,
        next,
    })
}

/// Expands the finding store for one backend type.
macro_rules! impl_finding_store {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;

            use pushback_model::{Finding, Timestamp};
            use pushback_watch::FindingStoreError;
            use pushback_watch::store::{FindingPage, FindingQuery, FindingStore};

            use $crate::sql::{Database as _, Session as _, Transaction as _};

            #[async_trait]
            impl FindingStore for $store {
                async fn insert_findings(
                    &self,
                    findings: &[Finding],
                    at: Timestamp,
                ) -> Result<Vec<bool>, FindingStoreError> {
                    if findings.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut tx = self.begin().await?;
                    let fresh = $crate::findings::insert(&mut tx, findings, at).await?;
                    tx.commit().await?;
                    Ok(fresh)
                }

                async fn findings(
                    &self,
                    query: &FindingQuery,
                ) -> Result<FindingPage, FindingStoreError> {
                    $crate::findings::page(&mut self.reader().await?, query).await
                }

                async fn checkpoint(&self, source: &str) -> Result<Option<String>, FindingStoreError> {
                    Ok(self
                        .reader()
                        .await?
                        .opt(
                            "SELECT checkpoint FROM poll_checkpoints WHERE source = $1",
                            $crate::sql::args![source],
                            $crate::sql::text,
                        )
                        .await?)
                }

                async fn poller_lease(&self, source: &str) -> Result<Option<pushback_watch::store::PollerLease>, FindingStoreError> {
                    Ok(self.try_lease(&format!("poller.{source}")).await?)
                }

                async fn engine_state(&self) -> Result<Option<String>, FindingStoreError> {
                    Ok(self
                        .reader()
                        .await?
                        .opt(
                            "SELECT state FROM engine_state WHERE name = 'live'",
                            $crate::sql::args![],
                            $crate::sql::text,
                        )
                        .await?)
                }

                async fn save_engine_state(
                    &self,
                    state: &str,
                    checkpoints: &[(String, String)],
                    at: Timestamp,
                ) -> Result<(), FindingStoreError> {
                    let mut tx = self.begin().await?;
                    tx.exec(
                        "INSERT INTO engine_state (name, state, updated_at) VALUES ('live', $1, $2) \
                         ON CONFLICT (name) DO UPDATE SET state = $1, updated_at = $2",
                        $crate::sql::args![state, at.millis()],
                    )
                    .await?;
                    for (source, checkpoint) in checkpoints {
                        tx.exec(
                            "INSERT INTO poll_checkpoints (source, checkpoint, updated_at) VALUES ($1, $2, $3) \
                             ON CONFLICT (source) DO UPDATE SET checkpoint = $2, updated_at = $3",
                            $crate::sql::args![source, checkpoint, at.millis()],
                        )
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }
            }
        };
    };
}

pub(crate) use impl_finding_store;
