//! Microsoft Graph against a local server that plays both the identity platform's
//! token endpoint and Graph: client-credentials form, bearer tokens cached until
//! expiry, the actions, and the sign-in windows with `@odata.nextLink`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pushback_connect::{
    ConnectorError, Graph, GraphConfig, IdentityProvider, LogSource, Outcome, Secret, UserRef,
};
use pushback_model::{Clock as _, ManualClock, Timestamp};
use serde_json::json;

use crate::support::{Req, Resp, Vendor, Waits, clock, drain, ids_once, quick_retry, vendor};

const CLIENT_SECRET: &str = "graph-client-secret-value";
const TENANT: &str = "contoso.onmicrosoft.com";

fn client(v: &Vendor) -> (Graph, Arc<Waits>, Arc<ManualClock>) {
    let config = GraphConfig {
        tenant: TENANT.into(),
        client_id: "11111111-2222-3333-4444-555555555555".into(),
        graph_url: v.url.clone(),
        login_url: v.url.clone(),
        retry: quick_retry(),
        page_size: 2,
        ..GraphConfig::default()
    };
    let waits = Arc::new(Waits::default());
    let c = clock();
    let g = Graph::with_secret(&config, Secret::new(CLIENT_SECRET), c.clone())
        .unwrap()
        .with_pause(waits.clone());
    (g, waits, c)
}

/// Issues `tok-1`, `tok-2`, … (one hour each) to a correct client-credentials
/// request; every Graph call must carry the newest.
#[derive(Clone, Default)]
struct Tokens(Arc<AtomicUsize>);

impl Tokens {
    fn issue(&self, r: &Req) -> Resp {
        assert_eq!(
            r.header("content-type"),
            "application/x-www-form-urlencoded"
        );
        let form = r.form();
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["client_id"], "11111111-2222-3333-4444-555555555555");
        assert_eq!(form["client_secret"], CLIENT_SECRET);
        assert_eq!(form["scope"], "https://graph.microsoft.com/.default");
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Resp::json(
            200,
            json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": format!("tok-{n}") }),
        )
    }

    fn issued(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    fn current(&self, r: &Req) -> bool {
        r.header("authorization") == format!("Bearer tok-{}", self.issued())
    }
}

fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

#[tokio::test]
async fn actions_use_a_cached_client_credentials_token_and_the_documented_calls() {
    let tokens = Tokens::default();
    let t = tokens.clone();
    let v = vendor(move |r| {
        if r.is("POST", &token_path()) {
            return t.issue(r);
        }
        assert!(t.current(r), "{r:?}");
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/v1.0/users/alice@contoso.com/revokeSignInSessions") => {
                Resp::json(200, json!({ "@odata.context": "…", "value": true }))
            }
            ("GET", "/v1.0/users/alice@contoso.com") => {
                assert_eq!(r.query()["$select"], "id,accountEnabled");
                Resp::json(200, json!({ "id": "aaaa-1", "accountEnabled": true }))
            }
            ("GET", "/v1.0/users/bob@contoso.com") => {
                Resp::json(200, json!({ "id": "bbbb-2", "accountEnabled": false }))
            }
            ("GET", "/v1.0/users/nobody@contoso.com") => Resp::json(404, json!({ "error": { "code": "Request_ResourceNotFound", "message": "Resource 'nobody@contoso.com' does not exist" } })),
            ("PATCH", "/v1.0/users/aaaa-1") => {
                assert_eq!(r.json(), json!({ "accountEnabled": false }));
                Resp::empty(204)
            }
            ("POST", "/v1.0/identityProtection/riskyUsers/confirmCompromised") => {
                assert_eq!(r.json(), json!({ "userIds": ["aaaa-1"] }));
                Resp::empty(204)
            }
            _ => panic!("unexpected {r:?}"),
        }
    })
    .await;
    let (graph, _, c) = client(&v);
    let alice = UserRef::new("alice@contoso.com");
    assert_eq!(
        graph.revoke_sessions(&alice).await.unwrap().outcome,
        Outcome::Done
    );
    let disabled = graph.suspend(&alice).await.unwrap();
    assert_eq!(
        (disabled.outcome, disabled.vendor_id.as_deref()),
        (Outcome::Done, Some("aaaa-1"))
    );
    let bob = graph
        .suspend(&UserRef::new("bob@contoso.com"))
        .await
        .unwrap();
    assert_eq!(bob.outcome, Outcome::AlreadyDone);
    assert_eq!(
        v.count("PATCH", "/v1.0/users/bbbb-2"),
        0,
        "no call for an account already disabled"
    );
    graph.confirm_compromised(&alice).await.unwrap();
    let err = graph
        .suspend(&UserRef::new("nobody@contoso.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::UnknownUser { .. }), "{err}");
    assert_eq!(tokens.issued(), 1, "one token for all of it");

    // Past its expiry (less a minute), a new token.
    c.advance_secs(3599 - 59);
    graph.revoke_sessions(&alice).await.unwrap();
    assert_eq!(tokens.issued(), 2);
}

#[tokio::test]
async fn a_refused_token_is_replaced_once_and_a_bad_secret_is_a_clear_error() {
    let tokens = Tokens::default();
    let t = tokens.clone();
    let v = vendor(move |r| {
        if r.is("POST", &token_path()) {
            return t.issue(r);
        }
        // The first token is revoked on the Graph side.
        if r.header("authorization") == "Bearer tok-1" {
            return Resp::json(401, json!({ "error": { "code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid." } }));
        }
        Resp::json(200, json!({ "value": true }))
    })
    .await;
    let (graph, _, _) = client(&v);
    graph
        .revoke_sessions(&UserRef::new("a@contoso.com"))
        .await
        .unwrap();
    assert_eq!(tokens.issued(), 2);

    let v = vendor(|r| {
        assert!(r.is("POST", &token_path()));
        Resp::json(401, json!({ "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided." }))
    })
    .await;
    let (graph, _, _) = client(&v);
    let err = graph
        .revoke_sessions(&UserRef::new("a@contoso.com"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AADSTS7000215"), "{err}");
    assert_eq!(v.requests().len(), 1, "a refused secret is not retried");

    let v =
        vendor(|_| Resp::json(200, json!({ "token_type": "Bearer", "access_token": "x" }))).await;
    let (graph, _, _) = client(&v);
    let err = graph
        .revoke_sessions(&UserRef::new("a@contoso.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("expires_in"), "{err}");
}

#[tokio::test]
async fn throttling_honours_retry_after() {
    let tokens = Tokens::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let (t, c) = (tokens.clone(), calls.clone());
    let v = vendor(move |r| {
        if r.is("POST", &token_path()) {
            return t.issue(r);
        }
        match c.fetch_add(1, Ordering::SeqCst) {
            0 => Resp::json(
                429,
                json!({ "error": { "code": "TooManyRequests", "message": "Too many requests" } }),
            )
            .header("retry-after", "7"),
            1 => Resp::json(
                503,
                json!({ "error": { "code": "serviceNotAvailable", "message": "busy" } }),
            )
            .header("retry-after", "2"),
            _ => Resp::json(200, json!({ "value": true })),
        }
    })
    .await;
    let (graph, waits, _) = client(&v);
    graph
        .revoke_sessions(&UserRef::new("a@contoso.com"))
        .await
        .unwrap();
    assert_eq!(
        waits.all(),
        vec![Duration::from_secs(7), Duration::from_secs(2)]
    );
}

/// A sign-in log: `signins` (newest first, as Graph lists them), filtered by the
/// request's `createdDateTime ge A and createdDateTime le B`, served `$top` at a
/// time through a `$skiptoken` next link.
fn sign_in_log(
    tokens: Tokens,
    signins: Arc<Mutex<Vec<serde_json::Value>>>,
    base: Arc<Mutex<String>>,
    bad_next: Option<&'static str>,
) -> impl Fn(&Req) -> Resp + Send + Sync + 'static {
    move |r| {
        if r.is("POST", &token_path()) {
            return tokens.issue(r);
        }
        assert!(tokens.current(r), "{r:?}");
        assert!(r.is("GET", "/v1.0/auditLogs/signIns"), "{r:?}");
        assert!(!r.raw_query.contains('+'), "spaces as %20: {}", r.raw_query);
        let q = r.query();
        let filter = &q["$filter"];
        let parts: Vec<&str> = filter.split(' ').collect();
        assert_eq!(
            (parts[0], parts[1], parts[3], parts[4], parts[5], parts[6]),
            (
                "createdDateTime",
                "ge",
                "and",
                "createdDateTime",
                "le",
                parts[6]
            )
        );
        let (from, to) = (instant(parts[2]), instant(parts[6]));
        let top: usize = q["$top"].parse().unwrap();
        let skip: usize = q.get("$skiptoken").map_or(0, |s| s.parse().unwrap());
        let mut hits: Vec<_> = signins
            .lock()
            .unwrap()
            .iter()
            .filter(|s| {
                let at = instant(s["createdDateTime"].as_str().unwrap());
                from <= at && at <= to
            })
            .cloned()
            .collect();
        hits.sort_by(|a, b| {
            b["createdDateTime"]
                .as_str()
                .cmp(&a["createdDateTime"].as_str())
        });
        let page: Vec<_> = hits.iter().skip(skip).take(top).cloned().collect();
        let mut body = json!({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns", "value": page });
        if skip + top < hits.len() {
            let base = base.lock().unwrap().clone();
            let link = match bad_next {
                Some(l) => l.replace("{base}", &base),
                None => format!(
                    "{base}/v1.0/auditLogs/signIns?$filter={}&$top={top}&$skiptoken={}",
                    urlencode(filter),
                    skip + top
                ),
            };
            body["@odata.nextLink"] = json!(link);
        }
        Resp::json(200, body)
    }
}

fn urlencode(s: &str) -> String {
    s.replace(' ', "%20").replace(':', "%3A")
}

fn instant(s: &str) -> i128 {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp_nanos()
}

fn sign_in(id: &str, at: Timestamp) -> serde_json::Value {
    json!({
        "id": id,
        "createdDateTime": at.to_rfc3339(),
        "userPrincipalName": "alice@contoso.com",
        "status": { "errorCode": 500121, "additionalDetails": "MFA denied; user declined the authentication" },
    })
}

async fn log_vendor(
    bad_next: Option<&'static str>,
) -> (Vendor, Arc<Mutex<Vec<serde_json::Value>>>) {
    let signins = Arc::new(Mutex::new(Vec::new()));
    let base = Arc::new(Mutex::new(String::new()));
    let v = vendor(sign_in_log(
        Tokens::default(),
        signins.clone(),
        base.clone(),
        bad_next,
    ))
    .await;
    *base.lock().unwrap() = v.url.clone();
    (v, signins)
}

#[tokio::test]
async fn sign_ins_are_read_in_settled_windows_without_gap_or_duplicate_across_a_restart() {
    let (v, signins) = log_vendor(None).await;
    let (graph, _, c) = client(&v);
    // Settled (older than five minutes): five sign-ins, one of them exactly at the
    // window's end, which the next window also covers.
    let end = c.now().minus_secs(300);
    {
        let mut s = signins.lock().unwrap();
        for (i, back) in [3000, 2000, 1000, 10].iter().enumerate() {
            s.push(sign_in(&format!("s{i}"), end.minus_secs(*back)));
        }
        s.push(sign_in("edge", end));
        // Too recent to be read yet.
        s.push(sign_in("fresh", c.now().minus_secs(60)));
    }
    let mut first = graph.sign_ins();
    let (got, stored) = drain(&mut first, None, Some(2)).await;
    assert_eq!(got.len(), 4, "two pages of two");
    drop(first);

    let (graph2, _, c2) = client(&v);
    c2.set(c.now());
    let mut again = graph2.sign_ins();
    let (rest, stored) = drain(&mut again, stored, None).await;
    let mut all = got;
    all.extend(rest);
    let mut ids = ids_once(&all, "id");
    ids.sort();
    assert_eq!(ids, vec!["edge", "s0", "s1", "s2", "s3"]);

    // Ten minutes on: the next window starts at the previous end; "edge" is in both
    // windows and is delivered once; "fresh" has settled.
    c2.advance_secs(600);
    let (next, _) = drain(&mut again, stored, None).await;
    assert_eq!(ids_once(&next, "id"), vec!["fresh"]);
    let last_filter = v.requests().last().unwrap().query()["$filter"].clone();
    let from = Timestamp::from_millis(
        (instant(last_filter.split(' ').nth(2).unwrap()) / 1_000_000) as i64,
    );
    assert_eq!(
        from, end,
        "the window starts where the last one ended: {last_filter}"
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused() {
    let (v, signins) = log_vendor(Some(
        "https://graph.evil.example/v1.0/auditLogs/signIns?$skiptoken=2",
    ))
    .await;
    let (graph, _, c) = client(&v);
    for i in 0..3 {
        signins
            .lock()
            .unwrap()
            .push(sign_in(&format!("s{i}"), c.now().minus_secs(1000 + i)));
    }
    let mut log = graph.sign_ins();
    let err = log.poll(None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Cursor { .. }), "{err}");
    assert!(err.to_string().contains("graph.evil.example"), "{err}");
}

#[tokio::test]
async fn a_refused_poll_names_the_reason_and_leaves_the_checkpoint_usable() {
    let tokens = Tokens::default();
    let denied = Arc::new(AtomicUsize::new(0));
    let (t, d) = (tokens.clone(), denied.clone());
    let v = vendor(move |r| {
        if r.is("POST", &token_path()) {
            return t.issue(r);
        }
        if d.fetch_add(1, Ordering::SeqCst) == 0 {
            return Resp::json(403, json!({ "error": { "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation." } }));
        }
        Resp::json(200, json!({ "value": [] }))
    })
    .await;
    let (graph, _, _) = client(&v);
    let mut log = graph.sign_ins();
    let err = log.poll(None).await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Refused { status: 403, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("Insufficient privileges"), "{err}");
    assert!(!err.is_transient());
    assert!(log.poll(None).await.unwrap().records.is_empty());

    // A checkpoint written by another poller is refused, not guessed around.
    let duo_checkpoint =
        pushback_connect::Checkpoint::from_stored(r#"{"v":1,"from":1700000000000}"#);
    let err = log.poll(Some(&duo_checkpoint)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Checkpoint { .. }), "{err}");
}
