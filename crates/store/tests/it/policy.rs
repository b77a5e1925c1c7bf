//! The fatigue policy as the store applies it: backoff, budget, lockout, timeouts,
//! wrong codes and "not me".

use pushback_guard::policy::{LockReason, StepUpReason};
use pushback_guard::{ChallengeAnswer, ChallengeStatus, Decision, Refusal};
use pushback_model::Severity;
use pushback_model::Timestamp;

use std::sync::Arc;

use pushback_guard::{ChallengeRequest, GuardSettings};
use pushback_model::ManualClock;

use crate::support::{Device, Opened, World, assert_refused, context, request, worlds};

/// Opens a challenge for the device's user and approves it, a second apart.
async fn approve(w: &World, dev: &Device) -> Opened {
    let ch = w.open_pending(&dev.login).await;
    w.advance(1);
    w.answer(dev, &ch.id, &ch.code, Decision::Approve)
        .await
        .expect("approve");
    w.advance(1);
    ch
}

/// Opens and explicitly denies one challenge; returns when the deny was recorded.
async fn open_and_deny(w: &World, dev: &Device) -> Timestamp {
    let ch = w.open_pending(&dev.login).await;
    w.advance(2);
    let receipt = w
        .answer(dev, &ch.id, "", Decision::Deny)
        .await
        .expect("deny");
    assert_eq!(receipt.status, ChallengeStatus::Denied, "[{}]", w.name);
    assert_eq!(w.status(&ch.id).await, ChallengeStatus::Denied);
    w.now()
}

#[tokio::test]
async fn backoff_doubles_on_consecutive_unanswered_prompts_and_resets_on_approval() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("erin").await;

        let t1 = w.now();
        w.open_pending("erin").await;
        let _b = w.open_pending("erin").await; // supersedes the first: 10 s
        assert_eq!(
            w.open("erin").await,
            ChallengeAnswer::Wait {
                until: t1.plus_secs(10)
            },
            "[{b}] first backoff"
        );
        w.clock.advance_millis(9_999);
        assert_eq!(
            w.open("erin").await,
            ChallengeAnswer::Wait {
                until: t1.plus_secs(10)
            },
            "[{b}] still waiting 1 ms before"
        );

        w.set_clock(t1.plus_secs(10));
        let t2 = w.now();
        w.open_pending("erin").await; // supersedes the second: 20 s
        assert_eq!(
            w.open("erin").await,
            ChallengeAnswer::Wait {
                until: t2.plus_secs(20)
            },
            "[{b}] doubled"
        );
        w.advance(19);
        assert_eq!(
            w.open("erin").await,
            ChallengeAnswer::Wait {
                until: t2.plus_secs(20)
            }
        );

        w.set_clock(t2.plus_secs(20));
        let t3 = w.now();
        let last = w.open_pending("erin").await; // supersedes the third: 40 s
        assert_eq!(
            w.open("erin").await,
            ChallengeAnswer::Wait {
                until: t3.plus_secs(40)
            },
            "[{b}] doubled again"
        );
        let state = w.state("erin").await;
        assert_eq!((state.backoff_level, state.failures), (3, 3), "[{b}]");
        assert_eq!(state.backoff_until, Some(t3.plus_secs(40)));
        assert_eq!(
            w.status(&last.id).await,
            ChallengeStatus::Pending,
            "[{b}] a Wait leaves the live challenge alone"
        );

        // Approval resets the backoff: the next prompt goes straight out.
        w.advance(5);
        w.answer(&dev, &last.id, &last.code, Decision::Approve)
            .await
            .expect("approve");
        let state = w.state("erin").await;
        assert_eq!(
            (state.backoff_level, state.failures, state.backoff_until),
            (0, 0, None),
            "[{b}] approval resets"
        );
        w.advance(1);
        let next = w.open_pending("erin").await;
        assert_eq!(next.prompts, 1, "[{b}] a new budget after approval");
    }
}

#[tokio::test]
async fn a_deny_buys_a_wait_that_doubles() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("frank").await;
        let t1 = open_and_deny(&w, &dev).await;
        assert_eq!(
            w.open("frank").await,
            ChallengeAnswer::Wait {
                until: t1.plus_secs(10)
            },
            "[{b}] deny → 10 s"
        );
        w.set_clock(t1.plus_secs(10));
        let t2 = open_and_deny(&w, &dev).await;
        assert_eq!(
            w.open("frank").await,
            ChallengeAnswer::Wait {
                until: t2.plus_secs(20)
            },
            "[{b}] second deny → 20 s"
        );
    }
}

#[tokio::test]
async fn five_prompts_spend_the_budget_until_an_approval() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("gina").await;
        let start = w.now();
        let mut last = None;
        for n in 1..=5 {
            let ch = w.expect_pending(w.open_with(&w.app, "gina", Some(600)).await);
            assert_eq!(ch.prompts, n, "[{b}] prompt {n}");
            w.skip_backoff("gina").await;
            last = Some(ch);
        }
        let last = last.expect("five prompts");
        assert!(
            w.now() < start.plus_secs(3600),
            "[{b}] all five within the hour"
        );
        assert_eq!(
            w.state("gina").await.backoff_until,
            Some(w.now()),
            "[{b}] backoff has just run out"
        );

        let sixth = w.open_with(&w.app, "gina", Some(600)).await;
        assert_eq!(
            sixth,
            ChallengeAnswer::StepUpRequired {
                reason: StepUpReason::BudgetSpent
            },
            "[{b}] sixth prompt"
        );
        assert_eq!(
            w.status(&last.id).await,
            ChallengeStatus::Pending,
            "[{b}] a refused open supersedes nothing"
        );
        w.advance(60);
        assert_eq!(
            w.open_with(&w.app, "gina", Some(600)).await,
            ChallengeAnswer::StepUpRequired {
                reason: StepUpReason::BudgetSpent
            },
            "[{b}] still spent a minute later"
        );

        // An approval opens a new budget.
        w.answer(&dev, &last.id, &last.code, Decision::Approve)
            .await
            .expect("approve the fifth");
        w.advance(1);
        let fresh = w.open_pending("gina").await;
        assert_eq!(
            fresh.prompts, 1,
            "[{b}] the budget restarts at the approval"
        );
    }
}

/// Prompts that lapsed unanswered count toward the budget once their backoff is over:
/// the opening that finds five in the hour and none pending is refused.
#[tokio::test]
async fn prompts_that_lapsed_still_spend_the_budget() {
    for w in worlds().await {
        let b = w.name;
        w.user_with_device("hana").await;
        for n in 1..=5 {
            let ch = w.open_pending("hana").await;
            assert_eq!(ch.prompts, n, "[{b}] prompt {n}");
            w.set_clock(ch.expires_at);
            w.guard.housekeeping().await.expect("housekeeping");
            assert_eq!(
                w.status(&ch.id).await,
                ChallengeStatus::Expired,
                "[{b}] prompt {n} lapsed"
            );
            w.skip_backoff("hana").await;
        }
        assert_eq!(
            w.open("hana").await,
            ChallengeAnswer::StepUpRequired {
                reason: StepUpReason::BudgetSpent
            },
            "[{b}] a sixth prompt in the hour, with none pending"
        );
    }
}

/// A backoff that outlasts the budget window still holds: the opening that finds no
/// prompt in the window and none pending waits for it.
#[tokio::test]
async fn a_backoff_longer_than_the_budget_window_still_holds() {
    for w in worlds().await {
        let b = w.name;
        w.user_with_device("ivy").await;
        // Each prompt supersedes the one before; the fifth then lapses: the fifth
        // prompt left unanswered, a backoff of 10 s doubled four times from its expiry.
        let mut last = None;
        for _ in 0..5 {
            w.skip_backoff("ivy").await;
            last = Some(w.open_pending("ivy").await);
        }
        let last = last.expect("five prompts");
        w.set_clock(last.expires_at);
        w.guard.housekeeping().await.expect("housekeeping");
        let until = w.state("ivy").await.backoff_until.expect("a backoff");
        assert_eq!(until, last.expires_at.plus_secs(160), "[{b}] the backoff");

        // A node whose budget window is a minute, a minute and a second later.
        let mut settings = GuardSettings::default();
        settings.policy.budget_window_secs = 60;
        let node = w.node_with(settings);
        w.advance(61);
        let req = request("ivy");
        assert_eq!(
            node.open(&w.app, &req).await.expect("open answers"),
            ChallengeAnswer::Wait { until },
            "[{b}] no prompt in the window, none pending, the backoff running"
        );
    }
}

/// On PostgreSQL an opening for a user no node has kept is one statement: the read
/// opens the challenge itself when it leaves the policy nothing to weigh. When there
/// is something to weigh, the read is followed by the policy's write: a superseding
/// opening, or a refusal's audit entry.
#[tokio::test]
async fn an_opening_no_node_kept_is_one_statement_on_postgres() {
    for w in worlds().await {
        let Some((store, node)) = w.counted_node().await else {
            continue;
        };
        w.user_with_device("jo").await;
        let req = request("jo");
        // What an opening answers, and how many statements it sent.
        let open = async || {
            let before = store.statements();
            let answer = node.open(&w.app, &req).await.expect("open answers");
            (answer, store.statements() - before)
        };

        let (first, sent) = open().await;
        let first = w.expect_pending(first);
        assert_eq!(sent, 1, "a plain opening");
        assert_eq!(first.prompts, 1);
        assert_eq!(w.status(&first.id).await, ChallengeStatus::Pending);

        let (second, sent) = open().await;
        let second = w.expect_pending(second);
        assert_eq!(
            sent, 2,
            "an opening that supersedes: the read, then the write"
        );
        assert_eq!(second.prompts, 2);
        assert_eq!(w.status(&first.id).await, ChallengeStatus::Superseded);

        let (third, sent) = open().await;
        assert!(
            matches!(third, ChallengeAnswer::Wait { .. }),
            "backoff: {third:?}"
        );
        assert_eq!(sent, 2, "a refusal: the read, then its audit entry");

        let kinds: Vec<String> = w.audit().await.into_iter().map(|e| e.entry.kind).collect();
        assert_eq!(
            kinds[kinds.len() - 4..],
            [
                "challenge.created",
                "challenge.superseded",
                "challenge.created",
                "challenge.refused"
            ],
            "what the openings audited"
        );
    }
}

#[tokio::test]
async fn three_denies_in_fifteen_minutes_lock_and_admin_unlock_lifts_it() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("hank").await;
        let start = w.now();
        let mut locked_at = start;
        for i in 1..=3u32 {
            if i > 1 {
                w.skip_backoff("hank").await;
            }
            let ch = w.open_pending("hank").await;
            // A new challenge never resets the counters.
            let state = w.state("hank").await;
            assert_eq!(
                (state.failures, state.backoff_level),
                (i - 1, i - 1),
                "[{b}] counters survive a new challenge"
            );
            w.advance(2);
            let receipt = w
                .answer(&dev, &ch.id, "", Decision::Deny)
                .await
                .expect("deny");
            assert_eq!(receipt.status, ChallengeStatus::Denied);
            let state = w.state("hank").await;
            assert_eq!(
                (state.failures, state.backoff_level),
                (i, i),
                "[{b}] deny {i} is charged"
            );
            if i < 3 {
                assert_eq!(state.locked_until, None, "[{b}] {i} denies do not lock");
            }
            locked_at = w.now();
        }
        assert!(
            locked_at < start.plus_secs(900),
            "[{b}] all three inside the window"
        );
        let state = w.state("hank").await;
        assert_eq!(
            state.locked_until,
            Some(locked_at.plus_secs(3600)),
            "[{b}] locked for an hour"
        );
        assert_eq!(state.lock_reason, Some(LockReason::Denies));

        let want = ChallengeAnswer::Locked {
            until: locked_at.plus_secs(3600),
            reason: LockReason::Denies,
        };
        assert_eq!(w.open("hank").await, want, "[{b}] push is locked");
        w.set_clock(locked_at.plus_secs(3599));
        assert_eq!(
            w.open("hank").await,
            want,
            "[{b}] still locked a second before the hour"
        );

        let audit = w.audit().await;
        let lock = audit
            .iter()
            .find(|e| e.entry.kind == "user.locked")
            .expect("the lock is audited");
        assert_eq!(lock.entry.severity, Severity::High);
        assert_eq!(lock.entry.subject, "hank");

        let state = w.guard.unlock(&w.admin, "hank").await.expect("unlock");
        assert_eq!(
            (state.locked_until, state.lock_reason),
            (None, None),
            "[{b}] unlocked"
        );
        assert_eq!(
            (state.failures, state.backoff_level, state.backoff_until),
            (0, 0, None),
            "[{b}] counters restart"
        );
        assert_eq!(state.reset_at, Some(w.now()));
        let ch = w.open_pending("hank").await;
        assert_eq!(
            ch.prompts, 1,
            "[{b}] prompts before the unlock no longer count"
        );
        assert!(audit.iter().all(|e| e.entry.kind != "user.unlocked"));
        assert!(
            w.audit()
                .await
                .iter()
                .any(|e| e.entry.kind == "user.unlocked" && e.entry.subject == "hank")
        );
    }
}

#[tokio::test]
async fn a_deny_lock_lapses_after_an_hour() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("iris").await;
        let mut locked_at = w.now();
        for i in 0..3 {
            if i > 0 {
                w.skip_backoff("iris").await;
            }
            locked_at = open_and_deny(&w, &dev).await;
        }
        assert!(
            matches!(
                w.open("iris").await,
                ChallengeAnswer::Locked {
                    reason: LockReason::Denies,
                    ..
                }
            ),
            "[{b}]"
        );
        w.set_clock(locked_at.plus_secs(3600));
        let ch = w.open_pending("iris").await;
        // The old denies have left the window: one more deny does not lock again.
        w.advance(2);
        w.answer(&dev, &ch.id, "", Decision::Deny)
            .await
            .expect("deny");
        w.skip_backoff("iris").await;
        w.open_pending("iris").await;
    }
}

#[tokio::test]
async fn denies_spread_beyond_fifteen_minutes_do_not_lock() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("jack").await;
        open_and_deny(&w, &dev).await;
        w.skip_backoff("jack").await;
        open_and_deny(&w, &dev).await;
        w.advance(16 * 60);
        open_and_deny(&w, &dev).await;
        let state = w.state("jack").await;
        assert_eq!(state.failures, 3, "[{b}] every deny is a failure");
        assert_eq!(
            state.locked_until, None,
            "[{b}] but only two fall in any 15-minute window"
        );
        w.skip_backoff("jack").await;
        w.open_pending("jack").await;
    }
}

#[tokio::test]
async fn timeouts_back_off_but_never_lock() {
    for w in worlds().await {
        let b = w.name;
        let _dev = w.user_with_device("ivan").await;
        for i in 1..=8u32 {
            let ch = w.expect_pending(w.open_with(&w.app, "ivan", Some(60)).await);
            if i > 1 {
                // The previous one expired; counters kept growing across challenges.
                let state = w.state("ivan").await;
                assert_eq!(
                    (state.failures, state.backoff_level),
                    (i - 1, i - 1),
                    "[{b}] after {} timeouts",
                    i - 1
                );
                assert_eq!(
                    (state.locked_until, state.lock_reason),
                    (None, None),
                    "[{b}] timeouts never lock"
                );
            }
            w.advance(1000);
            assert_eq!(
                w.status(&ch.id).await,
                ChallengeStatus::Expired,
                "[{b}] past expiry"
            );
            if i % 2 == 0 {
                // Half the time the sweeper records the expiry; otherwise the next open does.
                let done = w.guard.housekeeping().await.expect("housekeeping");
                assert_eq!(
                    done.expired, 1,
                    "[{b}] the sweeper expires the lapsed challenge"
                );
                let state = w.state("ivan").await;
                assert_eq!(state.failures, i, "[{b}] charged once by the sweeper");
            }
        }
        let state = w.state("ivan").await;
        assert_eq!((state.failures, state.backoff_level), (8, 8), "[{b}]");
        assert_eq!(
            (state.locked_until, state.lock_reason),
            (None, None),
            "[{b}] eight timeouts, no lock"
        );
        w.open_pending("ivan").await;
        assert_eq!(
            w.guard.housekeeping().await.expect("housekeeping").expired,
            0,
            "[{b}] nothing charged twice"
        );
        assert_eq!(w.state("ivan").await.failures, 8);
    }
}

#[tokio::test]
async fn housekeeping_records_expiry_at_the_deadline_and_forgets_old_nonces() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("kim").await;
        let ch = w.open_pending("kim").await;
        w.pending(&dev).await.expect("pending"); // uses one nonce, kept 600 s past its timestamp
        w.advance(121);
        let first = w.guard.housekeeping().await.expect("housekeeping");
        assert_eq!(first.expired, 1, "[{b}]");
        assert!(first.sealed > 0, "[{b}] housekeeping seals the audit log");
        assert_eq!(first.nonces_purged, 0, "[{b}] the nonce is still needed");
        let record = w.record(&ch.id).await;
        assert_eq!(record.status, ChallengeStatus::Expired);
        assert_eq!(record.reason.as_deref(), Some("timeout"));
        assert_eq!(
            record.decided_at,
            Some(ch.expires_at),
            "[{b}] expired at its deadline, not when swept"
        );
        assert_eq!(w.store.audit_unsealed().await.expect("unsealed"), 0);

        w.advance(600);
        let second = w.guard.housekeeping().await.expect("housekeeping");
        assert_eq!(second.expired, 0);
        assert!(second.nonces_purged >= 1, "[{b}] old nonces are forgotten");
    }
}

#[tokio::test]
async fn a_wrong_code_kills_the_challenge_as_a_deny() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("judy").await;
        let ch = w.open_pending("judy").await;
        let last = ch.code.as_bytes()[ch.code.len() - 1] - b'0';
        let wrong = format!("{}{}", &ch.code[..ch.code.len() - 1], (last + 1) % 10);
        assert_ne!(wrong, ch.code);

        assert_refused(
            w.answer(&dev, &ch.id, &wrong, Decision::Approve).await,
            Refusal::WrongCode,
            "wrong code",
        );
        assert_eq!(
            w.status(&ch.id).await,
            ChallengeStatus::Denied,
            "[{b}] one guess per challenge"
        );
        let record = w.record(&ch.id).await;
        assert_eq!(record.reason.as_deref(), Some("wrong_code"));
        assert_eq!(record.device_id.as_deref(), Some(dev.id.as_str()));
        let state = w.state("judy").await;
        assert_eq!(
            (state.failures, state.backoff_level),
            (1, 1),
            "[{b}] a wrong code is charged as a deny"
        );

        assert_refused(
            w.answer(&dev, &ch.id, &ch.code, Decision::Approve).await,
            Refusal::NotAnswerable,
            "right code after a wrong one",
        );
        assert_eq!(
            w.status(&ch.id).await,
            ChallengeStatus::Denied,
            "[{b}] still denied"
        );
        assert_eq!(
            w.state("judy").await,
            state,
            "[{b}] the late answer changed nothing"
        );
    }
}

#[tokio::test]
async fn not_me_locks_push_for_a_day_and_is_audited_as_critical() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("kate").await;
        let ch = w.open_pending("kate").await;
        w.advance(3);
        let receipt = w
            .answer(&dev, &ch.id, "", Decision::NotMe)
            .await
            .expect("not me");
        assert_eq!(receipt.status, ChallengeStatus::NotMe);
        let t = w.now();
        assert_eq!(w.status(&ch.id).await, ChallengeStatus::NotMe, "[{b}]");

        let want = ChallengeAnswer::Locked {
            until: t.plus_secs(86_400),
            reason: LockReason::NotMe,
        };
        assert_eq!(w.open("kate").await, want, "[{b}] locked for 24 h");
        w.set_clock(t.plus_secs(86_399));
        assert_eq!(
            w.open("kate").await,
            want,
            "[{b}] still locked a second before"
        );

        while w.store.seal_audit(1000).await.expect("seal") > 0 {}
        let entries = w.store.audit_sealed(0, 10_000).await.expect("audit");
        let not_me = entries
            .iter()
            .find(|e| e.entry.kind == "challenge.not_me")
            .expect("challenge.not_me is audited");
        assert_eq!(not_me.entry.severity, Severity::Critical, "[{b}]");
        assert_eq!(not_me.entry.subject, "kate");
        assert_eq!(not_me.entry.actor, format!("device:{}", dev.id));
        assert!(
            not_me.entry.detail.contains(&ch.id),
            "[{b}] names the challenge: {}",
            not_me.entry.detail
        );
        let locked = entries
            .iter()
            .find(|e| e.entry.kind == "user.locked")
            .expect("the lock is audited");
        assert_eq!(locked.entry.severity, Severity::Critical);
        assert!(
            locked.entry.detail.contains("not_me"),
            "[{b}] {}",
            locked.entry.detail
        );

        let state = w.guard.unlock(&w.admin, "kate").await.expect("unlock");
        assert_eq!(state.locked_until, None);
        let again = w.open_pending("kate").await;
        w.answer(&dev, &again.id, &again.code, Decision::Approve)
            .await
            .expect("push works again");
    }
}

/// A user whose counters row is missing (a database restored in part, say) gets the
/// default counters when a challenge is opened or answered: both read the counters'
/// version, and without a row there is none to check until one is made.
#[tokio::test]
async fn a_user_without_a_counters_row_gets_default_counters() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("rowless").await;
        let forget =
            "DELETE FROM user_state WHERE user_id = (SELECT id FROM users WHERE login = 'rowless')";
        assert_eq!(w.raw.execute(forget).await, 1, "[{b}]");
        let ch = w.open_pending("rowless").await;
        assert_eq!(ch.prompts, 1, "[{b}]");

        assert_eq!(w.raw.execute(forget).await, 1, "[{b}]");
        w.advance(2);
        let receipt = w
            .answer(&dev, &ch.id, &ch.code, Decision::Approve)
            .await
            .unwrap_or_else(|e| panic!("[{b}] the approval is recorded: {e:?}"));
        assert_eq!(receipt.status, ChallengeStatus::Approved, "[{b}]");
        let state = w.state("rowless").await;
        assert_eq!(state.last_approval_at, Some(w.now()), "[{b}]");
        assert_eq!((state.failures, state.backoff_level), (0, 0), "[{b}]");
    }
}

/// An answer on the node that opened its challenge starts from what the opening kept in
/// memory; on another node it reads the database. Each step below is taken by two users
/// at the same instants, one answering where the challenge was opened and one
/// elsewhere, and their counters must agree after every answer: supersession, deny,
/// wrong code, approval and not-me.
#[tokio::test]
async fn an_answer_where_its_challenge_was_opened_leaves_the_counters_a_read_would() {
    for w in worlds().await {
        let b = w.name;
        let elsewhere = w.separate_node().await;
        let here_dev = w.user_with_device("here").await;
        let there_dev = w.user_with_device("there").await;
        let steps = [
            (Decision::Deny, false),
            (Decision::Approve, true),
            (Decision::Approve, false),
            (Decision::Approve, true),
            (Decision::NotMe, false),
        ];
        for (step, (decision, right_code)) in steps.into_iter().enumerate() {
            for login in ["here", "there"] {
                w.skip_backoff(login).await;
            }
            // Two prompts each, the second superseding the first: the opening changes
            // the counters that the answer then starts from.
            let mut last = Vec::new();
            for _ in 0..2 {
                last.clear();
                for login in ["here", "there"] {
                    last.push(w.open_pending(login).await);
                }
                // "here" last approved on this node, which opens without reading.
                assert_eq!(last[0].prompts, last[1].prompts, "[{b}] step {step}");
                assert_eq!(
                    w.state("here").await,
                    w.state("there").await,
                    "[{b}] step {step}: opened"
                );
                w.advance(1);
            }
            for (dev, ch, node) in [
                (&here_dev, &last[0], &*w.guard),
                (&there_dev, &last[1], &elsewhere),
            ] {
                let code = match decision {
                    Decision::Approve if right_code => ch.code.clone(),
                    Decision::Approve if ch.code == "000000" => "111111".to_owned(),
                    Decision::Approve => "000000".to_owned(),
                    _ => String::new(),
                };
                let signed = w.signed_answer(dev, &ch.id, &code, decision).await;
                let _ = node.answer(&signed).await;
            }
            let (here, there) = (w.state("here").await, w.state("there").await);
            assert_eq!(here, there, "[{b}] step {step}: {decision:?}");
            assert_eq!(
                (
                    w.status(&last[0].id).await,
                    w.record(&last[0].id).await.reason
                ),
                (
                    w.status(&last[1].id).await,
                    w.record(&last[1].id).await.reason
                ),
                "[{b}] step {step}: both challenges decided alike"
            );
        }
        let here = w.state("here").await;
        assert!(
            here.locked_until.is_some() && here.backoff_level > 0,
            "[{b}] the steps reached a lock and a backoff: {here:?}"
        );
    }
}

/// A node that saw a user approve opens their next challenge without reading, on what
/// the approval left: no live challenge, no prompt in the budget, an active device. The
/// write checks each, so a change the node did not make is found and read.
#[tokio::test]
async fn an_opening_after_an_approval_here_still_sees_what_changed_elsewhere() {
    for w in worlds().await {
        let b = w.name;
        // The device was revoked since.
        let kim = w.user_with_device("kim").await;
        approve(&w, &kim).await;
        w.guard
            .revoke_device(&w.admin, &kim.id)
            .await
            .expect("revoke");
        assert_eq!(
            w.open("kim").await,
            w.open("nobody").await,
            "[{b}] no device left: the answer an unknown user gets"
        );

        // Push was locked since, by a responder: no opening may undo the lock.
        let ada = w.user_with_device("ada").await;
        approve(&w, &ada).await;
        let user = w.user_record("ada").await;
        let until = w.now().plus_secs(600);
        w.store
            .response_lock(&user, until, w.now(), "test")
            .await
            .expect("the lock is recorded");
        assert!(
            matches!(w.open("ada").await, ChallengeAnswer::Locked { .. }),
            "[{b}] locked since the approval"
        );
        assert_eq!(w.state("ada").await.locked_until, Some(until), "[{b}]");

        // A node whose clock runs 30 s ahead opened a prompt that this node then
        // superseded: created "after" the approval, it counts toward the budget.
        let lee = w.user_with_device("lee").await;
        let ahead = w
            .separate_node_on(Arc::new(ManualClock::new(w.now().plus_secs(30))))
            .await;
        let early = ahead
            .open(
                &w.app,
                &ChallengeRequest {
                    login_hint: "lee".into(),
                    context: context(),
                    requested_expiry: None,
                },
            )
            .await
            .expect("open on the node ahead");
        assert!(matches!(early, ChallengeAnswer::Pending { .. }), "[{b}]");
        approve(&w, &lee).await;
        let next = w.open_pending("lee").await;
        assert_eq!(next.prompts, 2, "[{b}] the early prompt still counts");

        // A pending challenge the counters do not know of (written behind the store's
        // back) is still superseded: one live challenge per user.
        let max = w.user_with_device("max").await;
        let approved = approve(&w, &max).await;
        let ghost = format!("{}x", approved.id);
        let copied = w
            .raw
            .execute(&format!(
                "INSERT INTO challenges (id, user_id, login, app_id, status, code_hash, context_json, \
                 context_sha256, created_at, expires_at) SELECT '{ghost}', user_id, login, app_id, \
                 'pending', code_hash, context_json, context_sha256, created_at - 1, expires_at + 600000 \
                 FROM challenges WHERE id = '{}'",
                approved.id
            ))
            .await;
        assert_eq!(copied, 1);
        w.open_pending("max").await;
        assert_eq!(
            w.status(&ghost).await,
            ChallengeStatus::Superseded,
            "[{b}] the unknown pending challenge"
        );
    }
}
