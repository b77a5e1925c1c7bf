//! The happy paths: bootstrap, apps, users, enrolment, one challenge from open to approval.

use pushback_guard::proof::{DeviceKey, KeyType, enrolment_payload};
use pushback_guard::{
    ChallengeAnswer, ChallengeStatus, CodeMode, Decision, DisplayContext, Refusal,
};
use pushback_model::sha256;

use crate::support::{
    Raw, World, assert_not_found, assert_refused, assert_unauthorized, context, enrol_request,
    postgres_pool_of, worlds,
};

#[tokio::test]
async fn full_lifecycle_from_bootstrap_to_approval() {
    for w in worlds().await {
        let b = w.name;

        // The admin key is made once (World::new got it) and authenticates.
        assert!(
            w.admin_key.starts_with("pba."),
            "[{b}] admin keys are pba.<id>.<secret>"
        );
        let again = w
            .guard
            .bootstrap_admin_key()
            .await
            .expect("bootstrap again");
        assert!(
            again.is_none(),
            "[{b}] a second bootstrap must not mint another admin key"
        );
        w.guard
            .authenticate_admin(&w.admin_key)
            .await
            .expect("the admin key authenticates");
        assert_unauthorized(
            w.guard
                .authenticate_admin(&format!("{}x", w.admin_key))
                .await,
            "admin key with a wrong secret",
        );
        assert_unauthorized(
            w.guard.authenticate_admin(&w.app_key).await,
            "an app key used as an admin key",
        );

        // An app key authenticates its own app and nothing else.
        let (intranet, intranet_key) = w
            .guard
            .create_app(&w.admin, "Intranet", None)
            .await
            .expect("create app");
        let authed = w
            .guard
            .authenticate_app(&intranet_key)
            .await
            .expect("app key authenticates");
        assert_eq!(authed, intranet, "[{b}] the stored app round-trips");
        assert_eq!(authed.name, "Intranet");
        let payroll = w
            .guard
            .authenticate_app(&w.app_key)
            .await
            .expect("Payroll key authenticates");
        assert_eq!(payroll.id, w.app.id);
        let (prefix, secret) = intranet_key.rsplit_once('.').expect("pbk.<id>.<secret>");
        let wrong_secret = format!("{prefix}.{}", "A".repeat(secret.len()));
        assert_unauthorized(
            w.guard.authenticate_app(&wrong_secret).await,
            "app key with a wrong secret",
        );
        let other_id = format!("pbk.{}.{secret}", w.app.id);
        assert_unauthorized(
            w.guard.authenticate_app(&other_id).await,
            "Intranet's secret under Payroll's id",
        );
        assert_unauthorized(
            w.guard.authenticate_app("pbk.nope.nope").await,
            "unknown app",
        );

        // A user with one enrolled device.
        let user = w
            .guard
            .create_user(&w.admin, "alice@example.com", "Alice")
            .await
            .expect("create user");
        assert_eq!(user.login, "alice@example.com");
        let dev = w.device("alice@example.com", KeyType::P256).await;
        let devices = w
            .guard
            .devices(&w.admin, "alice@example.com")
            .await
            .expect("list devices");
        assert_eq!(devices.len(), 1, "[{b}]");
        assert_eq!(devices[0].id, dev.id);
        assert_eq!(devices[0].public_key, dev.key.public_key());
        assert_eq!(devices[0].revoked_at, None);

        // Payroll opens a challenge.
        let opened_at = w.now();
        let answer = w.open("alice@example.com").await;
        let ChallengeAnswer::Pending {
            auth_req_id,
            user_code,
            mode,
            expires_at,
            prompts,
        } = answer
        else {
            panic!("[{b}] expected Pending, got {answer:?}");
        };
        assert_eq!(user_code.len(), 6, "[{b}] a six-digit code");
        assert!(
            user_code.bytes().all(|c| c.is_ascii_digit()),
            "[{b}] the code is digits"
        );
        assert_eq!(mode, CodeMode::Code);
        assert_eq!(
            expires_at,
            opened_at.plus_secs(120),
            "[{b}] default expiry is two minutes"
        );
        assert_eq!(prompts, 1);
        assert_eq!(w.status(&auth_req_id).await, ChallengeStatus::Pending);

        // The device sees it, with the context it will sign over.
        let items = w.pending(&dev).await.expect("device lists pending");
        assert_eq!(items.len(), 1, "[{b}] exactly the one challenge");
        let item = &items[0];
        assert_eq!(item.challenge_id, auth_req_id);
        let ctx = context();
        assert_eq!(item.context.action, ctx.action);
        assert_eq!(item.context.ip, ctx.ip);
        assert_eq!(item.context.location, ctx.location);
        assert_eq!(item.context.user_agent, ctx.user_agent);
        assert_eq!(
            item.context.app, "Payroll",
            "[{b}] the app name comes from the registration"
        );
        assert_eq!(item.context.mode, "code");
        assert!(item.context.options.is_empty());
        assert_eq!(item.context.requested_at, opened_at.millis());
        assert_eq!(item.context.expires_at, expires_at.millis());
        assert_eq!(item.expires_at, expires_at.millis());
        let expected =
            DisplayContext::new("Payroll", &ctx, CodeMode::Code, None, opened_at, expires_at);
        assert_eq!(
            item.context, expected,
            "[{b}] the device is shown exactly what was requested"
        );
        let recomputed = hex::encode(sha256(item.context.canonical().as_bytes()));
        assert_eq!(
            item.context_sha256, recomputed,
            "[{b}] context_sha256 is the SHA-256 of the canonical context"
        );

        // Another node polls while it is pending.
        let other = w.another_node();
        let polled = other.status(&w.app, &auth_req_id).await.expect("status");
        assert_eq!(polled.status, ChallengeStatus::Pending, "[{b}]");

        // The user types the code and approves.
        w.advance(7);
        let receipt = w
            .answer(&dev, &auth_req_id, &user_code, Decision::Approve)
            .await
            .expect("approve");
        assert_eq!(receipt.status, ChallengeStatus::Approved);
        assert_eq!(receipt.decided_at, w.now());
        assert_eq!(receipt.challenge_created_at, opened_at);

        // The app sees the approval; another app cannot see the challenge at all.
        let view = w.guard.status(&w.app, &auth_req_id).await.expect("status");
        assert_eq!(view.status, ChallengeStatus::Approved, "[{b}]");
        assert_eq!(view.decided_at, Some(w.now()));
        assert_eq!(view.expires_at, expires_at);
        assert_not_found(
            w.guard.status(&intranet, &auth_req_id).await,
            "another app's challenge",
        );
        assert_not_found(
            w.guard.status(&w.app, "ch_doesnotexist").await,
            "unknown challenge",
        );
        // The node that polled it pending sees the decision made on another, and so do
        // its later polls; the other app is refused there too.
        for poll in 0..2 {
            let seen = other.status(&w.app, &auth_req_id).await.expect("status");
            assert_eq!(
                (seen.status, seen.decided_at, seen.expires_at),
                (ChallengeStatus::Approved, Some(w.now()), expires_at),
                "[{b}] poll {poll} on the node that did not decide"
            );
            assert_not_found(
                other.status(&intranet, &auth_req_id).await,
                "another app's challenge, on the other node",
            );
        }

        let record = w.record(&auth_req_id).await;
        assert_eq!(record.device_id.as_deref(), Some(dev.id.as_str()));
        assert_eq!(record.reason.as_deref(), Some("approved"));
        let state = w.state("alice@example.com").await;
        assert_eq!(state.last_approval_at, Some(w.now()));
        assert_eq!(
            (state.failures, state.backoff_level, state.locked_until),
            (0, 0, None)
        );
        assert!(
            w.pending(&dev).await.expect("pending").is_empty(),
            "[{b}] nothing left to answer"
        );
    }
}

#[tokio::test]
async fn duplicate_names_conflict() {
    for w in worlds().await {
        w.user("dup").await;
        let again = w.guard.create_user(&w.admin, "dup", "Again").await;
        assert!(
            matches!(again, Err(pushback_guard::GuardError::Conflict(_))),
            "[{}] got {again:?}",
            w.name
        );
        let unknown = w.guard.create_enrolment(&w.admin, "nobody").await;
        assert!(
            matches!(unknown, Err(pushback_guard::GuardError::NotFound)),
            "[{}] enrolment for an unknown user",
            w.name
        );
    }
}

#[tokio::test]
async fn ed25519_device_enrols_and_approves() {
    for w in worlds().await {
        w.user("eddie").await;
        let dev = w.device("eddie", KeyType::Ed25519).await;
        let devices = w.guard.devices(&w.admin, "eddie").await.expect("devices");
        assert_eq!(devices.len(), 1);
        assert_eq!(
            devices[0].key_type,
            KeyType::Ed25519,
            "[{}] key type round-trips",
            w.name
        );
        assert_eq!(devices[0].public_key.len(), 32);

        let ch = w.open_pending("eddie").await;
        let items = w
            .pending(&dev)
            .await
            .expect("Ed25519-signed request accepted");
        assert_eq!(
            items
                .iter()
                .map(|i| i.challenge_id.as_str())
                .collect::<Vec<_>>(),
            [ch.id.as_str()]
        );
        let receipt = w
            .answer(&dev, &ch.id, &ch.code, Decision::Approve)
            .await
            .expect("Ed25519 approval");
        assert_eq!(receipt.status, ChallengeStatus::Approved);
        assert_eq!(w.status(&ch.id).await, ChallengeStatus::Approved);
    }
}

#[tokio::test]
async fn pick3_app_offers_three_numbers_including_the_shown_one() {
    for w in worlds().await {
        let (_, key) = w
            .guard
            .create_app(&w.admin, "Legacy VPN", Some(CodeMode::Pick3))
            .await
            .expect("create app");
        let vpn = w.guard.authenticate_app(&key).await.expect("authenticate");
        assert_eq!(
            vpn.mode,
            Some(CodeMode::Pick3),
            "[{}] the app's mode round-trips",
            w.name
        );
        let dev = w.user_with_device("pia").await;
        let answer = w.open_with(&vpn, "pia", None).await;
        let ChallengeAnswer::Pending {
            auth_req_id,
            user_code,
            mode,
            ..
        } = answer
        else {
            panic!("[{}] expected Pending, got {answer:?}", w.name);
        };
        assert_eq!(mode, CodeMode::Pick3);
        assert_eq!(user_code.len(), 2);
        let items = w.pending(&dev).await.expect("pending");
        let item = &items[0];
        assert_eq!(item.context.app, "Legacy VPN");
        assert_eq!(item.context.mode, "pick3");
        assert_eq!(item.context.options.len(), 3);
        assert!(
            item.context.options.contains(&user_code),
            "[{}] the shown number is offered",
            w.name
        );
        let receipt = w
            .answer(&dev, &auth_req_id, &user_code, Decision::Approve)
            .await
            .expect("pick the right number");
        assert_eq!(receipt.status, ChallengeStatus::Approved);
        assert_eq!(
            w.guard
                .status(&vpn, &auth_req_id)
                .await
                .expect("status")
                .status,
            ChallengeStatus::Approved
        );
    }
}

#[tokio::test]
async fn enrolment_token_is_single_use_and_expires_after_ten_minutes() {
    for w in worlds().await {
        let b = w.name;
        let user = w.user("bob").await;

        let enrolment = w
            .guard
            .create_enrolment(&w.admin, "bob")
            .await
            .expect("enrolment");
        assert_eq!(
            enrolment.expires_at,
            w.now().plus_secs(600),
            "[{b}] enrolment links live ten minutes"
        );
        let key = DeviceKey::generate(KeyType::P256).expect("key");
        let device = w
            .guard
            .enrol(&enrol_request(&enrolment.token, &key, "Pixel"))
            .await
            .expect("first use enrols");
        assert_eq!(device.user_id, user.id);
        assert_eq!(device.login, "bob");
        assert_eq!(device.name, "Pixel");
        assert_eq!(device.key_type, KeyType::P256);
        assert_eq!(device.public_key, key.public_key());
        assert_eq!(device.revoked_at, None);
        assert_eq!(
            w.store.device(&device.id).await.expect("read device"),
            Some(device.clone()),
            "[{b}] stored as returned"
        );

        // Second use of the same token, even with a fresh valid proof, is refused.
        let key2 = DeviceKey::generate(KeyType::P256).expect("key");
        assert_refused(
            w.guard
                .enrol(&enrol_request(&enrolment.token, &key2, "Thief"))
                .await,
            Refusal::BadEnrolment,
            "token reuse",
        );
        assert_eq!(
            w.guard
                .devices(&w.admin, "bob")
                .await
                .expect("devices")
                .len(),
            1,
            "[{b}] no second device"
        );

        // A token is dead after 600 s...
        let late = w
            .guard
            .create_enrolment(&w.admin, "bob")
            .await
            .expect("enrolment");
        w.advance(601);
        let key3 = DeviceKey::generate(KeyType::P256).expect("key");
        assert_refused(
            w.guard
                .enrol(&enrol_request(&late.token, &key3, "Late"))
                .await,
            Refusal::BadEnrolment,
            "expired token",
        );
        assert_eq!(
            w.guard
                .devices(&w.admin, "bob")
                .await
                .expect("devices")
                .len(),
            1,
            "[{b}] no device from an expired token"
        );

        // ...but works just before.
        let timely = w
            .guard
            .create_enrolment(&w.admin, "bob")
            .await
            .expect("enrolment");
        w.advance(599);
        w.guard
            .enrol(&enrol_request(&timely.token, &key3, "Timely"))
            .await
            .expect("a token 599 s old still works");
        assert_eq!(
            w.guard
                .devices(&w.admin, "bob")
                .await
                .expect("devices")
                .len(),
            2
        );

        // An unknown token never works.
        let key4 = DeviceKey::generate(KeyType::P256).expect("key");
        assert_refused(
            w.guard
                .enrol(&enrol_request("not-a-token", &key4, "X"))
                .await,
            Refusal::BadEnrolment,
            "unknown token",
        );
    }
}

#[tokio::test]
async fn bad_proof_of_possession_is_refused_without_burning_the_token() {
    for w in worlds().await {
        let b = w.name;
        w.user("carl").await;
        let enrolment = w
            .guard
            .create_enrolment(&w.admin, "carl")
            .await
            .expect("enrolment");
        let key = DeviceKey::generate(KeyType::P256).expect("key");
        let impostor = DeviceKey::generate(KeyType::P256).expect("key");

        // Presents `key` but signs with another key.
        let mut forged = enrol_request(&enrolment.token, &key, "Phone");
        let msg = enrolment_payload(&enrolment.token, KeyType::P256, &forged.public_key);
        forged.signature = pushback_guard::proof::b64(&impostor.sign(&msg).expect("sign"));
        assert_refused(
            w.guard.enrol(&forged).await,
            Refusal::BadEnrolment,
            "proof signed by another key",
        );

        // Signs with the right key over another token.
        let mut wrong_token = enrol_request("some-other-token", &key, "Phone");
        wrong_token.token.clone_from(&enrolment.token);
        assert_refused(
            w.guard.enrol(&wrong_token).await,
            Refusal::BadEnrolment,
            "proof over another token",
        );
        assert!(
            w.guard
                .devices(&w.admin, "carl")
                .await
                .expect("devices")
                .is_empty(),
            "[{b}] nothing enrolled"
        );

        // The token was not consumed: a correct retry enrols.
        let device = w
            .guard
            .enrol(&enrol_request(&enrolment.token, &key, "Phone"))
            .await
            .expect("correct retry enrols");
        assert_eq!(device.public_key, key.public_key());
        assert_eq!(
            w.guard
                .devices(&w.admin, "carl")
                .await
                .expect("devices")
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn one_live_challenge_per_user_the_newest_supersedes() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("dave").await;
        let first = w.open_pending("dave").await;
        let second = w.open_pending("dave").await;
        assert_ne!(first.id, second.id);
        assert_eq!(second.prompts, 2, "[{b}] both count against the budget");

        assert_eq!(
            w.status(&first.id).await,
            ChallengeStatus::Superseded,
            "[{b}]"
        );
        assert_eq!(w.status(&second.id).await, ChallengeStatus::Pending);
        assert_eq!(
            w.record(&first.id).await.reason.as_deref(),
            Some("superseded")
        );
        let items = w.pending(&dev).await.expect("pending");
        let ids: Vec<&str> = items.iter().map(|i| i.challenge_id.as_str()).collect();
        assert_eq!(
            ids,
            [second.id.as_str()],
            "[{b}] the device sees only the new challenge"
        );

        // The superseded challenge cannot be approved, even with its right code.
        assert_refused(
            w.answer(&dev, &first.id, &first.code, Decision::Approve)
                .await,
            Refusal::NotAnswerable,
            "answer to a superseded challenge",
        );
        assert_eq!(w.status(&first.id).await, ChallengeStatus::Superseded);
        assert_eq!(w.status(&second.id).await, ChallengeStatus::Pending);

        // Superseding counts as an unanswered prompt, and is audited.
        let state = w.state("dave").await;
        assert_eq!((state.failures, state.backoff_level), (1, 1), "[{b}]");
        let audit = w.audit().await;
        let entry = audit
            .iter()
            .find(|e| e.entry.kind == "challenge.superseded")
            .expect("the supersede is audited");
        assert_eq!(entry.entry.subject, "dave");
        assert!(
            entry.entry.detail.contains(&first.id) && entry.entry.detail.contains(&second.id),
            "[{b}] {}",
            entry.entry.detail
        );

        let receipt = w
            .answer(&dev, &second.id, &second.code, Decision::Approve)
            .await
            .expect("approve the live one");
        assert_eq!(receipt.status, ChallengeStatus::Approved);
    }
}

/// `[database] max_connections` may be as low as 1, so no path may hold two of the
/// pool's connections at once: it would wait for itself until the pool gives up.
/// A device fetch's nonce is committed without waiting for the disk (a crash may lose
/// it; it guards a read): on PostgreSQL, asynchronous commit for its transaction only.
/// A trigger notes the setting each insert ran under. On a pool of one connection,
/// the fetch's setting must not reach the opening and the answer that follow it.
#[tokio::test]
async fn only_a_fetch_commits_without_waiting_for_the_disk() {
    let Some(backend) = postgres_pool_of(1).await else {
        return;
    };
    let w = World::new(backend).await;
    let Raw::Postgres(raw) = &w.raw else {
        unreachable!("a PostgreSQL world")
    };
    for sql in [
        "CREATE TABLE seen_commits (n BIGSERIAL, what TEXT, setting TEXT)",
        "CREATE FUNCTION note_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         INSERT INTO seen_commits (what, setting) VALUES (TG_TABLE_NAME, current_setting('synchronous_commit')); \
         RETURN NEW; END $$",
        "CREATE TRIGGER note_nonce AFTER INSERT ON device_nonces FOR EACH ROW EXECUTE FUNCTION note_commit()",
        "CREATE TRIGGER note_challenge AFTER INSERT ON challenges FOR EACH ROW EXECUTE FUNCTION note_commit()",
    ] {
        sqlx::query(sql).execute(raw).await.expect("the trigger");
    }
    let dev = w.user_with_device("alice@example.com").await;
    w.open_fetch_approve(&dev).await;
    w.open_pending("alice@example.com").await;
    let seen: Vec<(String, String)> =
        sqlx::query_as("SELECT what, setting FROM seen_commits ORDER BY n")
            .fetch_all(raw)
            .await
            .expect("what the trigger saw");
    let seen: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("challenges", "on"),
            ("device_nonces", "off"),
            ("device_nonces", "on"),
            ("challenges", "on"),
        ]
    );
}

#[tokio::test]
async fn a_postgres_pool_of_one_connection_serves_every_path() {
    let Some(backend) = postgres_pool_of(1).await else {
        return;
    };
    assert!(
        pushback_store::PostgresStore::connect_with("postgres://127.0.0.1/x", None, 0)
            .await
            .is_err(),
        "a pool of no connections is refused"
    );
    let w = World::new(backend).await;
    let dev = w.user_with_device("alice@example.com").await;
    let first = w.open_fetch_approve(&dev).await;
    assert_eq!(w.status(&first.id).await, ChallengeStatus::Approved);

    w.skip_backoff("alice@example.com").await;
    let denied = w.open_pending("alice@example.com").await;
    w.answer(&dev, &denied.id, "", Decision::Deny)
        .await
        .expect("deny");
    w.skip_backoff("alice@example.com").await;
    let reported = w.open_pending("alice@example.com").await;
    w.answer(&dev, &reported.id, "", Decision::NotMe)
        .await
        .expect("not me");
    assert_eq!(w.status(&reported.id).await, ChallengeStatus::NotMe);
    w.guard
        .unlock(&w.admin, "alice@example.com")
        .await
        .expect("an admin unlocks");

    w.skip_backoff("alice@example.com").await;
    let lapsed = w.open_pending("alice@example.com").await;
    w.advance(3600);
    w.guard.housekeeping().await.expect("housekeeping");
    assert_eq!(w.status(&lapsed.id).await, ChallengeStatus::Expired);
    let report = pushback_guard::audit::verify_audit(w.store.as_ref())
        .await
        .expect("verify the audit log");
    assert_eq!(report.broken, None);
    assert!(report.verified > 0);
}
