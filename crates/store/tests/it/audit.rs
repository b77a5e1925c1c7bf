//! The audit chain: intact after real traffic, and tampering is found at the right row.

use pushback_guard::ChallengeStatus;
use pushback_guard::audit::{AuditReport, verify_audit};
use pushback_guard::proof::Decision;

use crate::support::{World, worlds};

async fn verify(w: &World) -> AuditReport {
    verify_audit(w.store.as_ref())
        .await
        .expect("verify the audit log")
}

/// Some ordinary traffic: an approval, a deny, an expiry, a revocation.
async fn traffic(w: &World) {
    let dev = w.user_with_device("leo").await;
    let ch = w.open_pending("leo").await;
    w.advance(3);
    assert_eq!(
        w.answer(&dev, &ch.id, &ch.code, Decision::Approve)
            .await
            .expect("approve")
            .status,
        ChallengeStatus::Approved
    );
    w.advance(1);
    let ch = w.open_pending("leo").await;
    w.answer(&dev, &ch.id, "", Decision::Deny)
        .await
        .expect("deny");
    w.skip_backoff("leo").await;
    w.open_pending("leo").await;
    w.advance(121);
    w.guard.housekeeping().await.expect("housekeeping");
    w.guard
        .revoke_device(&w.admin, &dev.id)
        .await
        .expect("revoke");
}

#[tokio::test]
async fn the_chain_verifies_after_real_traffic_and_names_an_edited_row() {
    for w in worlds().await {
        let b = w.name;
        traffic(&w).await;
        let entries = w.audit().await;
        let report = verify(&w).await;
        assert_eq!(report.broken, None, "[{b}] an untouched log verifies");
        assert!(report.verified > 0);
        assert_eq!(
            report.verified,
            i64::try_from(entries.len()).expect("count"),
            "[{b}] every entry is checked"
        );
        assert_eq!(report.unsealed, 0);
        assert_eq!(Some(&report.head), entries.last().map(|e| &e.hash));
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=i64::try_from(entries.len()).expect("count")).collect::<Vec<_>>(),
            "[{b}] contiguous"
        );
        for kind in [
            "admin.key_created",
            "app.created",
            "user.created",
            "device.enrolment_created",
            "device.enrolled",
            "challenge.created",
            "challenge.approved",
            "challenge.denied",
            "challenge.expired",
            "device.revoked",
        ] {
            assert!(
                entries.iter().any(|e| e.entry.kind == kind),
                "[{b}] {kind} is audited"
            );
        }

        // Someone edits a sealed row.
        let original = entries[2].entry.subject.clone();
        assert_ne!(original, "mallory");
        assert!(
            !original.contains('\''),
            "[{b}] subject is safe to put back by hand"
        );
        assert_eq!(
            w.raw
                .execute("UPDATE audit_log SET subject = 'mallory' WHERE seq = 3")
                .await,
            1
        );
        let report = verify(&w).await;
        let broken = report.broken.expect("an edited row breaks the chain");
        assert_eq!(broken.seq, 3, "[{b}] the edited row is named: {broken}");
        assert_eq!(broken.id, entries[2].entry.id);
        assert_eq!(report.verified, 2, "[{b}] the rows before it still verify");

        // Putting it back restores the chain.
        let restore = format!("UPDATE audit_log SET subject = '{original}' WHERE seq = 3");
        assert_eq!(w.raw.execute(&restore).await, 1);
        assert_eq!(verify(&w).await.broken, None, "[{b}] restored");

        // An edit to the detail of the last row is found too.
        let last = entries.len();
        let edit = format!("UPDATE audit_log SET detail = '{{}}' WHERE seq = {last}");
        assert_eq!(w.raw.execute(&edit).await, 1);
        let broken = verify(&w)
            .await
            .broken
            .expect("an edited detail breaks the chain");
        assert_eq!(broken.seq, i64::try_from(last).expect("seq"), "[{b}]");
    }
}

#[tokio::test]
async fn a_deleted_row_breaks_the_chain_at_the_next_seq() {
    for w in worlds().await {
        let b = w.name;
        traffic(&w).await;
        let entries = w.audit().await;
        assert!(
            entries.len() > 6,
            "[{b}] enough entries to delete one in the middle"
        );
        assert_eq!(verify(&w).await.broken, None);

        assert_eq!(
            w.raw.execute("DELETE FROM audit_log WHERE seq = 5").await,
            1
        );
        let report = verify(&w).await;
        let broken = report.broken.expect("a deleted row breaks the chain");
        assert_eq!(
            broken.seq, 6,
            "[{b}] named at the row after the gap: {broken}"
        );
        assert_eq!(broken.id, entries[5].entry.id);
        assert!(
            report.verified < 6,
            "[{b}] the row after the gap is not counted as verified"
        );

        // New entries keep being sealed after the gap, and the break stays reported.
        w.user("after-the-gap").await;
        let report = verify(&w).await;
        assert_eq!(report.unsealed, 0);
        assert_eq!(report.broken.map(|l| l.seq), Some(6), "[{b}]");
    }
}

/// `AuditReport::verified` is documented as the sealed entries checked. After seq 5 is
/// deleted, entries 1 to 4 verify and the chain breaks at seq 6: four entries are good.
#[tokio::test]
async fn verified_counts_only_the_entries_before_a_gap() {
    for w in worlds().await {
        let b = w.name;
        traffic(&w).await;
        assert!(w.audit().await.len() > 6);
        assert_eq!(
            w.raw.execute("DELETE FROM audit_log WHERE seq = 5").await,
            1
        );
        let report = verify(&w).await;
        assert_eq!(report.broken.as_ref().map(|l| l.seq), Some(6), "[{b}]");
        assert_eq!(
            report.verified, 4,
            "[{b}] seq 1 to 4 verified; seq 5 is missing and must not be counted"
        );
    }
}

#[tokio::test]
async fn sealing_in_several_batches_keeps_one_unbroken_chain() {
    for w in worlds().await {
        let b = w.name;
        // More entries than one sealing statement carries (1,000), sealed in passes of
        // uneven size so batch and pass boundaries fall in different places.
        for i in 0..1_250 {
            w.guard
                .create_user(&w.admin, &format!("bulk{i:05}"), "")
                .await
                .expect("create a user");
            if i == 700 {
                assert!(w.store.seal_audit(333).await.expect("seal a first pass") > 0);
            }
        }
        let report = verify(&w).await;
        assert_eq!(report.broken, None, "[{b}]");
        assert!(report.verified > 1_250, "[{b}] {}", report.verified);
        assert_eq!(report.unsealed, 0, "[{b}]");
        let entries = w.audit().await;
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        let expected: Vec<i64> = (1..=i64::try_from(entries.len()).expect("count")).collect();
        assert_eq!(seqs, expected, "[{b}] positions are gapless");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sealers_never_fork_the_chain() {
    for w in worlds().await {
        let b = w.name;
        for i in 0..600 {
            w.guard
                .create_user(&w.admin, &format!("race{i:04}"), "")
                .await
                .expect("create a user");
        }
        // Eight sealers at once, as on eight nodes: each reads the head and hashes on
        // its own, and only the one that still finds the head where it read it may
        // move it.
        let mut sealers = Vec::new();
        for _ in 0..8 {
            let store = w.store.clone();
            sealers.push(tokio::spawn(async move {
                let mut sealed = 0;
                for _ in 0..20 {
                    sealed += store.seal_audit(50).await.expect("seal");
                }
                sealed
            }));
        }
        let mut total = 0;
        for s in sealers {
            total += s.await.expect("a sealer task");
        }
        while w.store.seal_audit(1_000).await.expect("seal the rest") > 0 {}
        let report = verify(&w).await;
        assert_eq!(report.broken, None, "[{b}]");
        assert_eq!(report.unsealed, 0, "[{b}]");
        let entries = w.audit().await;
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        let expected: Vec<i64> = (1..=i64::try_from(entries.len()).expect("count")).collect();
        assert_eq!(seqs, expected, "[{b}] positions are gapless");
        assert!(total > 0 && total <= entries.len(), "[{b}] {total}");
    }
}
