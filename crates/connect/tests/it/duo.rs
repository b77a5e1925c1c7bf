//! Duo Admin API against a local server that recomputes every request's signature
//! (v5: HMAC-SHA512 over date, method, host, path, sorted parameters and body
//! hashes) from what it received, then plays users and the authentication log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use pushback_connect::{
    ConnectorError, Duo, DuoConfig, IdentityProvider, LogSource, Outcome, Secret, UserRef,
};
use pushback_model::{Clock as _, ManualClock};
use ring::{digest, hmac};
use serde_json::json;

use crate::support::{Req, Resp, Vendor, Waits, clock, drain, ids_once, quick_retry, vendor};

const IKEY: &str = "DIWJ8X6AEYOR5OMC6TQ1";
const SKEY: &str = "duo-secret-key-0123456789abcdefghijklmn";

fn client(v: &Vendor) -> (Duo, Arc<Waits>, Arc<ManualClock>) {
    let config = DuoConfig {
        base_url: v.url.clone(),
        integration_key: IKEY.into(),
        retry: quick_retry(),
        page_size: 2,
        ..DuoConfig::default()
    };
    let waits = Arc::new(Waits::default());
    let c = clock();
    let d = Duo::with_secret_key(&config, Secret::new(SKEY), c.clone())
        .unwrap()
        .with_pause(waits.clone());
    (d, waits, c)
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Recomputes the v5 signature from the request as received.
fn signed(r: &Req, clock: &ManualClock) -> bool {
    let date = r.header("x-duo-date");
    let at =
        time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc2822).unwrap();
    assert_eq!(
        at.unix_timestamp() * 1000,
        clock.now().millis() / 1000 * 1000,
        "the date is the clock's"
    );
    let params: BTreeMap<String, String> = r.query();
    let canon_params = params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let canon = [
        date.to_owned(),
        r.method.clone(),
        r.header("host").to_lowercase(),
        r.path.clone(),
        canon_params,
        hex::encode(digest::digest(&digest::SHA512, &r.body)),
        hex::encode(digest::digest(&digest::SHA512, b"")),
    ]
    .join("\n");
    let Some(basic) = r.header("authorization").strip_prefix("Basic ") else {
        return false;
    };
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(basic)
            .unwrap(),
    )
    .unwrap();
    let Some((ikey, sig)) = decoded.split_once(':') else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA512, SKEY.as_bytes());
    ikey == IKEY && hmac::verify(&key, canon.as_bytes(), &hex::decode(sig).unwrap()).is_ok()
}

fn ok(response: serde_json::Value) -> Resp {
    Resp::json(200, json!({ "stat": "OK", "response": response }))
}

#[tokio::test]
async fn status_changes_are_signed_and_idempotent() {
    let c0 = clock();
    let c = c0.clone();
    let v = vendor(move |r| {
        assert!(signed(r, &c), "bad signature: {r:?}");
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/admin/v1/users") => match r.query()["username"].as_str() {
                "alice" => {
                    ok(json!([{ "user_id": "DU1", "username": "alice", "status": "active" }]))
                }
                "bob smith" => {
                    ok(json!([{ "user_id": "DU2", "username": "bob smith", "status": "disabled" }]))
                }
                _ => ok(json!([])),
            },
            ("POST", "/admin/v1/users/DU1") => {
                assert_eq!(r.header("content-type"), "application/json");
                assert!(r.raw_query.is_empty(), "POST parameters go in the body");
                let status = r.json()["status"].as_str().unwrap().to_owned();
                assert_eq!(
                    status, "disabled",
                    "the one status an API client sets to keep a user out"
                );
                ok(json!({ "user_id": "DU1", "status": status }))
            }
            _ => panic!("unexpected {r:?}"),
        }
    })
    .await;
    let (duo, _, c) = client(&v);
    c.set(c0.now());
    let alice = UserRef::new("alice");
    let r = duo.suspend(&alice).await.unwrap();
    assert_eq!(
        (r.outcome, r.vendor_id.as_deref()),
        (Outcome::Done, Some("DU1"))
    );
    let bob = duo.suspend(&UserRef::new("bob smith")).await.unwrap();
    assert_eq!(bob.outcome, Outcome::AlreadyDone);
    assert_eq!(v.count("POST", "/admin/v1/users/DU2"), 0);
    let err = duo.suspend(&UserRef::new("nobody")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::UnknownUser { .. }), "{err}");
    let err = duo.revoke_sessions(&alice).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported { .. }), "{err}");
}

#[tokio::test]
async fn refusals_carry_duos_message_and_rate_limits_back_off() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let v = vendor(move |r| match (r.query().get("username").map(String::as_str), c.fetch_add(1, Ordering::SeqCst)) {
        (Some("alice"), 0) => Resp::json(429, json!({ "stat": "FAIL", "code": 42901, "message": "Too Many Requests" })),
        (Some("alice"), _) => ok(json!([{ "user_id": "DU1", "status": "disabled" }])),
        _ => Resp::json(401, json!({ "stat": "FAIL", "code": 40103, "message": "Invalid signature in request credentials" })),
    })
    .await;
    let (duo, waits, _) = client(&v);
    assert_eq!(
        duo.suspend(&UserRef::new("alice")).await.unwrap().outcome,
        Outcome::AlreadyDone
    );
    assert_eq!(
        waits.all(),
        vec![Duration::from_millis(10)],
        "backoff, no Retry-After"
    );
    let err = duo.suspend(&UserRef::new("x")).await.unwrap_err();
    assert!(
        err.to_string().contains("401") && err.to_string().contains("Invalid signature"),
        "{err}"
    );

    let v = vendor(|_| {
        Resp::json(
            200,
            json!({ "stat": "FAIL", "code": 40002, "message": "Invalid request parameters" }),
        )
    })
    .await;
    let (duo, _, _) = client(&v);
    let err = duo.suspend(&UserRef::new("x")).await.unwrap_err();
    assert!(
        err.to_string().contains("Invalid request parameters"),
        "{err}"
    );
}

/// An authentication log: `records` (`txid`, `timestamp` in seconds), filtered by
/// `mintime`/`maxtime` in milliseconds (both inclusive), oldest first, `limit` at a
/// time with `next_offset` = `["<ms>", "<txid>"]` of the last record.
fn auth_log(
    c: Arc<ManualClock>,
    records: Arc<Mutex<Vec<serde_json::Value>>>,
    loop_offset: bool,
) -> impl Fn(&Req) -> Resp + Send + Sync + 'static {
    move |r| {
        assert!(signed(r, &c), "bad signature: {r:?}");
        assert!(r.is("GET", "/admin/v2/logs/authentication"), "{r:?}");
        let q = r.query();
        assert_eq!(q["sort"], "ts:asc");
        let (min, max): (i64, i64) = (q["mintime"].parse().unwrap(), q["maxtime"].parse().unwrap());
        assert!(
            max <= c.now().millis() - 120_000,
            "maxtime respects Duo's two-minute delay"
        );
        let limit: usize = q["limit"].parse().unwrap();
        let hits: Vec<_> = records
            .lock()
            .unwrap()
            .iter()
            .filter(|l| (min..=max).contains(&(l["timestamp"].as_i64().unwrap() * 1000)))
            .cloned()
            .collect();
        let start = match q.get("next_offset") {
            Some(o) => {
                let (_, txid) = o.split_once(',').unwrap();
                hits.iter().position(|l| l["txid"] == txid).unwrap() + 1
            }
            None => 0,
        };
        let page: Vec<_> = hits.iter().skip(start).take(limit).cloned().collect();
        let next = if loop_offset && start > 0 {
            json!([
                q["next_offset"].split_once(',').unwrap().0,
                q["next_offset"].split_once(',').unwrap().1
            ])
        } else if start + page.len() < hits.len() {
            let last = page.last().unwrap();
            json!([
                (last["timestamp"].as_i64().unwrap() * 1000).to_string(),
                last["txid"]
            ])
        } else {
            serde_json::Value::Null
        };
        ok(
            json!({ "authlogs": page, "metadata": { "next_offset": next, "total_objects": hits.len() } }),
        )
    }
}

fn authlog(txid: &str, secs: i64) -> serde_json::Value {
    json!({
        "txid": txid, "timestamp": secs, "event_type": "authentication", "factor": "duo_push",
        "result": "denied", "reason": "user_mistake", "user": { "name": "alice", "key": "DU1" },
    })
}

#[tokio::test]
async fn the_authentication_log_is_read_in_lagged_windows_without_gap_or_duplicate_across_a_restart()
 {
    let records = Arc::new(Mutex::new(Vec::new()));
    let c0 = clock();
    let v = vendor(auth_log(c0.clone(), records.clone(), false)).await;
    let now = c0.now().millis() / 1000;
    {
        let mut r = records.lock().unwrap();
        for (i, back) in [3000, 2500, 2000, 1500, 1000].iter().enumerate() {
            r.push(authlog(&format!("t{i}"), now - back));
        }
        // Happened, but Duo does not serve it yet.
        r.push(authlog("late", now - 100));
    }
    let (duo, _, _) = client(&v);
    let mut first = duo.auth_logs();
    let (got, stored) = drain(&mut first, None, Some(2)).await;
    assert_eq!(got.len(), 4);
    drop(first);

    let (duo2, _, _) = client(&v);
    let mut again = duo2.auth_logs();
    let (rest, stored) = drain(&mut again, stored, None).await;
    let mut all = got;
    all.extend(rest);
    assert_eq!(ids_once(&all, "txid"), vec!["t0", "t1", "t2", "t3", "t4"]);

    // Five minutes on, "late" is served, in a window that starts a millisecond
    // after the last one ended.
    c0.advance_secs(300);
    let (duo3, _, c3) = client(&v);
    c3.set(c0.now());
    let mut later = duo3.auth_logs();
    let (new, _) = drain(&mut later, stored, None).await;
    assert_eq!(ids_once(&new, "txid"), vec!["late"]);
    let reqs = v.requests();
    let b = reqs.last().unwrap().query();
    assert_eq!(
        b["mintime"].parse::<i64>().unwrap(),
        (c0.now().millis() - 300_000) - 180_000 + 1,
        "the window after [.., now − lag] at the previous poll"
    );
}

#[tokio::test]
async fn a_looping_offset_and_a_malformed_page_are_refused() {
    let records = Arc::new(Mutex::new(
        (0..5)
            .map(|i| authlog(&format!("t{i}"), 1_700_000_000 - 1000 + i))
            .collect::<Vec<_>>(),
    ));
    let c0 = clock();
    let v = vendor(auth_log(c0.clone(), records, true)).await;
    let (duo, _, c) = client(&v);
    c.set(c0.now());
    let mut log = duo.auth_logs();
    let first = log.poll(None).await.unwrap();
    assert!(first.more);
    let err = log.poll(Some(&first.checkpoint)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Cursor { .. }), "{err}");

    let v = vendor(|_| ok(json!({ "authlogs": "nope" }))).await;
    let (duo, _, _) = client(&v);
    let err = duo.auth_logs().poll(None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed { .. }), "{err}");
}
