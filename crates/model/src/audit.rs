//! The audit log: every state change is an [`AuditEntry`]; once sealed it becomes a
//! [`SealedEntry`] carrying the hash of the entry before it, so editing, removing or
//! reordering any sealed entry breaks the chain at that point.
//!
//! The hash of entry `n` is SHA-256 over a domain tag and the length-prefixed fields of
//! the entry, including its chain position and the hash of entry `n - 1` (all zeros for
//! the first). [`verify_chain`] recomputes it and names the first broken link.

use serde::{Deserialize, Serialize};

use crate::{Severity, Timestamp, sha256};

/// The hash that the first sealed entry links to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"pushback-audit-v1";

/// One state change, as recorded in the same transaction as the change itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Database id: insertion order, not chain order.
    pub id: i64,
    pub at: Timestamp,
    /// What happened, dotted: `challenge.created`, `user.not_me`, `device.revoked`, …
    pub kind: String,
    pub severity: Severity,
    /// Whom it is about (a user's login, an app id, a device id); empty when no one.
    pub subject: String,
    /// Who did it: `app:<id>`, `device:<id>`, `admin:<key id>`, `system`.
    pub actor: String,
    /// Details as a JSON object; never holds a code, key or token.
    pub detail: String,
}

/// An entry with its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedEntry {
    pub seq: i64,
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash that entry `entry`, sealed at position `seq` after `prev_hash`, must carry.
pub fn link_hash(seq: i64, prev_hash: &str, entry: &AuditEntry) -> String {
    let mut buf = Vec::with_capacity(256 + entry.detail.len());
    buf.extend_from_slice(DOMAIN);
    for field in [
        seq.to_string().as_bytes(),
        prev_hash.as_bytes(),
        entry.id.to_string().as_bytes(),
        entry.at.millis().to_string().as_bytes(),
        entry.kind.as_bytes(),
        entry.severity.as_str().as_bytes(),
        entry.subject.as_bytes(),
        entry.actor.as_bytes(),
        entry.detail.as_bytes(),
    ] {
        buf.push(b'\n');
        buf.extend_from_slice(field.len().to_string().as_bytes());
        buf.push(b':');
        buf.extend_from_slice(field);
    }
    hex::encode(sha256(&buf))
}

/// Where and why a chain stopped verifying.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at seq {seq} (entry id {id}): {reason}")]
pub struct BrokenLink {
    pub seq: i64,
    pub id: i64,
    pub reason: String,
}

/// Walks sealed entries in chain order. `expected_prev` is the hash the first entry
/// must link to ([`GENESIS_HASH`] when starting from the beginning) and `expected_seq`
/// its position. Returns the hash of the last entry.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a SealedEntry>,
    mut expected_seq: i64,
    expected_prev: &str,
) -> Result<String, BrokenLink> {
    let mut prev = expected_prev.to_owned();
    for sealed in entries {
        let broken = |reason: String| BrokenLink {
            seq: sealed.seq,
            id: sealed.entry.id,
            reason,
        };
        if sealed.seq != expected_seq {
            return Err(broken(format!(
                "expected position {expected_seq}, found {} (an entry is missing or was inserted)",
                sealed.seq
            )));
        }
        if sealed.prev_hash != prev {
            return Err(broken(
                "does not link to the entry before it (an entry before it was removed or changed)"
                    .into(),
            ));
        }
        let recomputed = link_hash(sealed.seq, &sealed.prev_hash, &sealed.entry);
        if recomputed != sealed.hash {
            return Err(broken(
                "its content no longer matches its hash (it was edited)".into(),
            ));
        }
        prev = recomputed;
        expected_seq += 1;
    }
    Ok(prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, kind: &str) -> AuditEntry {
        AuditEntry {
            id,
            at: Timestamp::from_millis(1_000 + id),
            kind: kind.into(),
            severity: Severity::Info,
            subject: "alice".into(),
            actor: "system".into(),
            detail: "{}".into(),
        }
    }

    fn chain(n: i64) -> Vec<SealedEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let e = entry(seq * 10, "challenge.created");
                let hash = link_hash(seq, &prev, &e);
                let sealed = SealedEntry {
                    seq,
                    entry: e,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                sealed
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify_chain(&c, 1, GENESIS_HASH), Ok(c[4].hash.clone()));
    }

    #[test]
    fn edited_entry_is_named() {
        let mut c = chain(5);
        c[2].entry.subject = "mallory".into();
        let err = verify_chain(&c, 1, GENESIS_HASH).expect_err("edit must break the chain");
        assert_eq!(err.seq, 3);
        assert!(err.reason.contains("edited"));
    }

    #[test]
    fn removed_entry_is_named() {
        let mut c = chain(5);
        c.remove(1);
        let err = verify_chain(&c, 1, GENESIS_HASH).expect_err("gap must break the chain");
        assert_eq!(err.seq, 3);
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let mut a = entry(1, "x");
        let mut b = entry(1, "x");
        a.subject = "ab".into();
        a.actor = "c".into();
        b.subject = "a".into();
        b.actor = "bc".into();
        assert_ne!(
            link_hash(1, GENESIS_HASH, &a),
            link_hash(1, GENESIS_HASH, &b)
        );
    }
}
