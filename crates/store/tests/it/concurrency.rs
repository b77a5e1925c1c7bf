//! Racing answers: however many arrive at once, exactly one decides the challenge.

use std::sync::Arc;

use pushback_guard::proof::{Decision, KeyType};
use pushback_guard::{ChallengeStatus, GuardError, Refusal};
use tokio::sync::Barrier;

use crate::support::{Raw, backends, worlds};

const RACERS: usize = 64;
const ROUNDS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_racing_answers_record_exactly_one() {
    for w in worlds().await {
        let b = w.name;
        let phone = w.user_with_device("racer").await;
        let tablet = w.device("racer", KeyType::Ed25519).await;
        let mut outcomes = [0usize; 2];
        for round in 0..ROUNDS {
            // Two hours apart: no backoff, budget or lockout carries over between rounds.
            w.advance(2 * 3600);
            let ch = w.open_pending("racer").await;
            let ctx = w.context_sha(&ch.id).await;
            let before = w.state("racer").await;
            let now = w.now().millis();

            let answers: Vec<_> = (0..RACERS)
                .map(|i| {
                    let dev = if i % 2 == 0 { &phone } else { &tablet };
                    let (code, decision) = if (i / 2) % 2 == 0 {
                        (ch.code.as_str(), Decision::Approve)
                    } else {
                        ("", Decision::Deny)
                    };
                    dev.sign(dev.payload(&ch.id, code, decision, &ctx, now))
                })
                .collect();
            let start = Arc::new(Barrier::new(RACERS));
            let tasks: Vec<_> = answers
                .into_iter()
                .map(|answer| {
                    let guard = w.guard.clone();
                    let start = start.clone();
                    tokio::spawn(async move {
                        start.wait().await;
                        guard.answer(&answer).await
                    })
                })
                .collect();

            let mut winners = Vec::new();
            for task in tasks {
                match task.await.expect("answer task panicked") {
                    Ok(receipt) => winners.push(receipt),
                    Err(GuardError::Refused(Refusal::NotAnswerable)) => {}
                    Err(other) => panic!(
                        "[{b}] round {round}: a losing answer must be NotAnswerable, got {other:?}"
                    ),
                }
            }
            assert_eq!(
                winners.len(),
                1,
                "[{b}] round {round}: exactly one answer decides: {winners:?}"
            );
            let winner = &winners[0];
            assert!(
                matches!(
                    winner.status,
                    ChallengeStatus::Approved | ChallengeStatus::Denied
                ),
                "[{b}] round {round}: {winner:?}"
            );
            outcomes[usize::from(winner.status == ChallengeStatus::Denied)] += 1;

            // The stored status is the winner's, and only one decision was charged.
            assert_eq!(
                w.status(&ch.id).await,
                winner.status,
                "[{b}] round {round}: status is the winner's"
            );
            let record = w.record(&ch.id).await;
            assert_eq!(record.decided_at.map(|t| t.millis()), Some(now));
            assert!(
                record.device_id.as_deref() == Some(phone.id.as_str())
                    || record.device_id.as_deref() == Some(tablet.id.as_str()),
                "[{b}] round {round}: decided by one of the racing devices"
            );
            let after = w.state("racer").await;
            match winner.status {
                ChallengeStatus::Approved => {
                    assert_eq!(
                        after.last_approval_at.map(|t| t.millis()),
                        Some(now),
                        "[{b}] round {round}"
                    );
                    assert_eq!(
                        (after.failures, after.backoff_level),
                        (0, 0),
                        "[{b}] round {round}"
                    );
                }
                _ => {
                    assert_eq!(
                        after.failures,
                        before.failures + 1,
                        "[{b}] round {round}: one deny charged once"
                    );
                    assert_eq!(
                        after.backoff_level,
                        before.backoff_level + 1,
                        "[{b}] round {round}"
                    );
                    assert_eq!(after.last_approval_at, before.last_approval_at);
                }
            }
            let decisions = w
                .audit()
                .await
                .into_iter()
                .filter(|e| {
                    matches!(
                        e.entry.kind.as_str(),
                        "challenge.approved" | "challenge.denied"
                    ) && e.entry.detail.contains(&ch.id)
                })
                .count();
            assert_eq!(
                decisions, 1,
                "[{b}] round {round}: one decision in the audit log"
            );
        }
        eprintln!(
            "[{b}] winners over {ROUNDS} rounds: {} approvals, {} denies",
            outcomes[0], outcomes[1]
        );
    }
}

/// Sixteen apps asking at once for one user leave exactly one live challenge: the first
/// two push (the second superseding the first, which starts the backoff), the rest wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_opens_leave_exactly_one_live_challenge() {
    const OPENERS: usize = 16;
    for w in worlds().await {
        let b = w.name;
        for round in 0..10 {
            let login = format!("crowd{round}");
            let dev = w.user_with_device(&login).await;
            let start = Arc::new(Barrier::new(OPENERS));
            let tasks: Vec<_> = (0..OPENERS)
                .map(|_| {
                    let guard = w.guard.clone();
                    let app = w.app.clone();
                    let start = start.clone();
                    let req = pushback_guard::ChallengeRequest {
                        login_hint: login.clone(),
                        context: crate::support::context(),
                        requested_expiry: None,
                    };
                    tokio::spawn(async move {
                        start.wait().await;
                        guard.open(&app, &req).await
                    })
                })
                .collect();
            let mut pending = Vec::new();
            let mut waits = 0;
            for task in tasks {
                match task
                    .await
                    .expect("open task panicked")
                    .expect("open answers")
                {
                    pushback_guard::ChallengeAnswer::Pending { auth_req_id, .. } => {
                        pending.push(auth_req_id)
                    }
                    pushback_guard::ChallengeAnswer::Wait { .. } => waits += 1,
                    other => panic!("[{b}] round {round}: unexpected {other:?}"),
                }
            }
            assert_eq!(
                pending.len(),
                2,
                "[{b}] round {round}: the first pushes, the second supersedes it, then backoff"
            );
            assert_eq!(waits, OPENERS - 2);
            let live = w.pending(&dev).await.expect("pending");
            assert_eq!(
                live.len(),
                1,
                "[{b}] round {round}: exactly one live challenge"
            );
            assert!(pending.contains(&live[0].challenge_id));
            let mut statuses = Vec::new();
            for id in &pending {
                statuses.push(w.status(id).await);
            }
            statuses.sort_by_key(|s| s.as_str());
            assert_eq!(
                statuses,
                [ChallengeStatus::Pending, ChallengeStatus::Superseded],
                "[{b}] round {round}"
            );
            let state = w.state(&login).await;
            assert_eq!(
                (state.failures, state.backoff_level),
                (1, 1),
                "[{b}] round {round}: one supersede charged once"
            );
        }
    }
}

/// An approval racing a response lock: whichever commits first, the lock stands and
/// the approval is recorded. The approval reads the user's counters without a lock and
/// writes them back reset; were that write not conditional on their version, a lock
/// committed in between would be overwritten with the counters read before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_racing_a_response_lock_never_undoes_the_lock() {
    for w in worlds().await {
        let b = w.name;
        let phone = w.user_with_device("raced").await;
        let user = w.user_record("raced").await;
        for round in 0..ROUNDS {
            w.advance(2 * 3600);
            let ch = w.open_pending("raced").await;
            let answer = w
                .signed_answer(&phone, &ch.id, &ch.code, Decision::Approve)
                .await;
            let now = w.now();
            let until = now.plus_secs(600);
            let start = Arc::new(Barrier::new(2));
            let approving = {
                let (guard, start) = (w.guard.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    guard.answer(&answer).await
                })
            };
            let locking = {
                let (store, user) = (w.store.clone(), user.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    store.response_lock(&user, until, now, "test").await
                })
            };
            let approved = approving.await.expect("answer task panicked");
            locking
                .await
                .expect("lock task panicked")
                .expect("the lock is recorded");
            let receipt = approved.unwrap_or_else(|e| panic!("[{b}] round {round}: {e:?}"));
            assert_eq!(
                receipt.status,
                ChallengeStatus::Approved,
                "[{b}] round {round}"
            );
            let state = w.state("raced").await;
            assert_eq!(
                state.locked_until,
                Some(until),
                "[{b}] round {round}: the response lock stands"
            );
            assert_eq!(
                state.last_approval_at,
                Some(now),
                "[{b}] round {round}: the approval stands"
            );
            // Lifted for the next round.
            w.guard.unlock(&w.admin, "raced").await.expect("unlocks");
        }
    }
}

/// One enrolment token redeemed sixteen times at once enrols exactly one device.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_redemptions_of_one_token_enrol_one_device() {
    const REDEEMERS: usize = 16;
    for w in worlds().await {
        let b = w.name;
        w.user("twins").await;
        let enrolment = w
            .guard
            .create_enrolment(&w.admin, "twins")
            .await
            .expect("enrolment");
        let start = Arc::new(Barrier::new(REDEEMERS));
        let tasks: Vec<_> = (0..REDEEMERS)
            .map(|i| {
                let key = pushback_guard::DeviceKey::generate(KeyType::P256).expect("key");
                let req =
                    crate::support::enrol_request(&enrolment.token, &key, &format!("phone {i}"));
                let guard = w.guard.clone();
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    guard.enrol(&req).await
                })
            })
            .collect();
        let mut enrolled = 0;
        for task in tasks {
            match task.await.expect("enrol task panicked") {
                Ok(_) => enrolled += 1,
                Err(GuardError::Refused(Refusal::BadEnrolment)) => {}
                Err(other) => {
                    panic!("[{b}] a losing redemption must be BadEnrolment, got {other:?}")
                }
            }
        }
        assert_eq!(enrolled, 1, "[{b}] exactly one redemption wins");
        assert_eq!(
            w.guard
                .devices(&w.admin, "twins")
                .await
                .expect("devices")
                .len(),
            1,
            "[{b}]"
        );
    }
}

/// A pooled PostgreSQL connection that the server closed while it sat idle (a restart,
/// a proxy's idle timeout) is replaced, not handed to a request: a connection idle for
/// a second or more is pinged before use. (The one test here that sleeps: the pool
/// pings only connections idle that long.)
#[tokio::test]
async fn a_pooled_connection_the_server_closed_is_replaced() {
    for b in backends().await {
        let Raw::Postgres(raw) = &b.raw else { continue };
        b.store.admin_key_count().await.expect("a first query");
        let ended = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'pushback:' || current_schema() AND pid <> pg_backend_pid()",
        )
        .execute(raw)
        .await
        .expect("end the store's connections")
        .rows_affected();
        assert!(ended >= 1, "the store had a pooled connection");
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        for _ in 0..3 {
            b.store
                .admin_key_count()
                .await
                .expect("served on a fresh connection");
        }
    }
}
