//! Verifying the audit log held in a [`GuardStore`].

use pushback_model::audit::{BrokenLink, GENESIS_HASH, verify_chain};

use crate::store::{GuardStore, StoreError};

/// What a verification pass found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    /// Sealed entries checked.
    pub verified: i64,
    /// Hash of the last sealed entry (the chain head).
    pub head: String,
    /// Entries recorded but not yet chained (the server seals them about every 100 ms:
    /// `[server] seal_interval_ms`).
    pub unsealed: i64,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
}

/// Seals what is pending, then recomputes the whole chain page by page.
pub async fn verify_audit(store: &dyn GuardStore) -> Result<AuditReport, StoreError> {
    while store.seal_audit(10_000).await? > 0 {}
    let mut after = 0;
    let mut prev = GENESIS_HASH.to_owned();
    loop {
        let page = store.audit_sealed(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        let last_seq = last.seq;
        match verify_chain(&page, after + 1, &prev) {
            Ok(head) => prev = head,
            Err(broken) => {
                // Entries actually checked: fewer than positions when one is missing.
                let good = page.iter().take_while(|e| e.seq != broken.seq).count();
                return Ok(AuditReport {
                    verified: after + i64::try_from(good).unwrap_or(i64::MAX),
                    head: prev,
                    unsealed: store.audit_unsealed().await?,
                    broken: Some(broken),
                });
            }
        }
        after = last_seq;
    }
    Ok(AuditReport {
        verified: after,
        head: prev,
        unsealed: store.audit_unsealed().await?,
        broken: None,
    })
}
