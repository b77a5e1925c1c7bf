//! The HTTP API, through the real axum router over a real SQLite store.
//!
//! One world is built per process: a guard on a temp-file database with one app, the
//! user `alice` and her enrolled Ed25519 device, a fixed clock and deterministic
//! entropy. Each input's first byte picks a route (low 3 bits) and whether the harness
//! signs the request with the device's key (high bit), so the fuzzer gets past signature
//! checks to what lies behind them; the rest is the body or the header values.
//!
//! In bodies and header values these placeholders are replaced before sending:
//! `@D` the device id, `@T` the clock's now (ms), `@E` a fresh enrolment token, and, in
//! the lifecycle route, `@C` the challenge id, `@H` its context hash, `@U` its code.
//!
//! Checked: no panic, no 5xx, and (lifecycle) a challenge is only ever approved by an
//! answer carrying its code.

#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Uri, header};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use pushback_guard::proof::{self, b64};
use pushback_guard::{
    AdminPrincipal, AnswerPayload, CodeKey, Decision, DeviceKey, EnrolRequest, Guard,
    GuardSettings, KeyType,
};
use pushback_model::{Entropy, ManualClock, Timestamp};
use pushback_server::AppState;
use pushback_server::device_api::headers;

const NOW_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// Deterministic bytes (splitmix64), so ids are the same from run to run. Not a CSPRNG:
/// fuzzing only.
struct FuzzEntropy(AtomicU64);

impl Entropy for FuzzEntropy {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let mut z = self
                .0
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
                .wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    router: Router,
    guard: Arc<Guard>,
    admin: AdminPrincipal,
    admin_key: String,
    app_key: String,
    device_id: String,
    /// alice's device key; also the key of every lifecycle device.
    key: DeviceKey,
    /// Keys the harness enrols with when it signs an enrolment.
    spare: [DeviceKey; 2],
    lifecycles: AtomicU64,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
        let (guard, admin, admin_key, app_key, device_id, key) = rt.block_on(async {
            let store = pushback_store::SqliteStore::connect(&url)
                .await
                .expect("store");
            let guard = Guard::new(
                Arc::new(store),
                Arc::new(ManualClock::new(Timestamp::from_millis(NOW_MS))),
                Arc::new(FuzzEntropy(AtomicU64::new(1))),
                CodeKey::new(b"fuzzing secret, never for production use"),
                GuardSettings::default(),
            )
            .expect("guard");
            let admin_key = guard.create_admin_key().await.expect("admin key");
            let admin = guard.authenticate_admin(&admin_key).await.expect("admin");
            let (_, app_key) = guard.create_app(&admin, "Fuzz", None).await.expect("app");
            let key = DeviceKey::generate(KeyType::Ed25519).expect("keygen");
            let device_id = enrol(&guard, &admin, "alice", &key).await;
            (Arc::new(guard), admin, admin_key, app_key, device_id, key)
        });
        let router =
            pushback_server::router(AppState::new(guard.clone(), "http://fuzz.invalid".into()));
        let spare = [
            DeviceKey::generate(KeyType::P256).expect("keygen"),
            DeviceKey::generate(KeyType::Ed25519).expect("keygen"),
        ];
        World {
            rt,
            router,
            guard,
            admin,
            admin_key,
            app_key,
            device_id,
            key,
            spare,
            lifecycles: AtomicU64::new(0),
            _dir: dir,
        }
    })
}

/// Creates `login` with one device holding `key`; returns the device id.
async fn enrol(guard: &Guard, admin: &AdminPrincipal, login: &str, key: &DeviceKey) -> String {
    guard.create_user(admin, login, "").await.expect("user");
    let e = guard
        .create_enrolment(admin, login)
        .await
        .expect("enrolment");
    let public_key = b64(&key.public_key());
    let signature = b64(&key
        .sign(&proof::enrolment_payload(
            &e.token,
            key.key_type(),
            &public_key,
        ))
        .expect("sign"));
    let req = EnrolRequest {
        token: e.token,
        key_type: key.key_type(),
        public_key,
        name: "fuzz".into(),
        signature,
    };
    guard.enrol(&req).await.expect("enrol").id
}

/// Replaces each `@X` whose letter has a value in `subs`.
fn subst(data: &[u8], subs: &[(u8, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'@'
            && let Some((_, v)) = data
                .get(i + 1)
                .and_then(|c| subs.iter().find(|(k, _)| k == c))
        {
            out.extend_from_slice(v.as_bytes());
            i += 2;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

/// The answer payload a JSON body describes, if it has every field.
fn answer_payload(body: &Value) -> Option<AnswerPayload> {
    Some(AnswerPayload {
        challenge_id: body.get("challenge_id")?.as_str()?.to_owned(),
        code: body.get("code").map_or(Some(""), Value::as_str)?.to_owned(),
        decision: serde_json::from_value::<Decision>(body.get("decision")?.clone()).ok()?,
        context_sha256: body.get("context_sha256")?.as_str()?.to_owned(),
        device_id: body.get("device_id")?.as_str()?.to_owned(),
        timestamp_ms: body.get("timestamp")?.as_i64()?,
        nonce: body.get("nonce")?.as_str()?.to_owned(),
    })
}

/// Signs an answer body with `key` (sets `signature`) when it describes a payload.
fn sign_answer(body: Vec<u8>, key: &DeviceKey) -> (Vec<u8>, Option<AnswerPayload>) {
    let Ok(mut value) = serde_json::from_slice::<Value>(&body) else {
        return (body, None);
    };
    let Some(payload) = answer_payload(&value) else {
        return (body, None);
    };
    let Some(obj) = value.as_object_mut() else {
        return (body, None);
    };
    let sig = key.sign(&payload.canonical()).expect("sign");
    obj.insert("signature".into(), json!(b64(&sig)));
    (serde_json::to_vec(&value).expect("json"), Some(payload))
}

/// Sends `req`; fails on a 5xx. Returns the status and the body.
fn send(w: &World, req: Request<Body>) -> (u16, Vec<u8>) {
    let what = format!("{} {}", req.method(), req.uri());
    w.rt.block_on(async {
        let response = w
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("the router is infallible");
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert!(
            status < 500,
            "{what} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        (status, body.to_vec())
    })
}

fn post(uri: &str, bearer: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = bearer {
        b = b.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    b.body(Body::from(body)).expect("request")
}

/// A signed `GET /v1/device/pending` for `device_id`.
fn signed_pending(w: &World, device_id: &str, nonce: &str) -> Request<Body> {
    let path = "/v1/device/pending";
    let sig = w
        .key
        .sign(&proof::request_payload(
            "GET", path, device_id, NOW_MS, nonce, b"",
        ))
        .expect("sign");
    Request::builder()
        .uri(path)
        .header(headers::DEVICE, device_id)
        .header(headers::TIMESTAMP, NOW_MS.to_string())
        .header(headers::NONCE, nonce)
        .header(headers::SIGNATURE, b64(&sig))
        .body(Body::empty())
        .expect("request")
}

fn fresh_enrolment_token(w: &World) -> String {
    w.rt.block_on(w.guard.create_enrolment(&w.admin, "alice"))
        .expect("enrolment")
        .token
}

fn route_pending(w: &World, rest: &[u8], sign: bool, subs: &[(u8, &str)]) {
    let mut parts = rest.splitn(6, |&b| b == b'\n').map(|p| subst(p, subs));
    let mut next = || parts.next().unwrap_or_default();
    let (device, ts, nonce, sig, query, body) = (next(), next(), next(), next(), next(), next());
    let uri = std::str::from_utf8(&query)
        .ok()
        .filter(|q| !q.is_empty())
        .and_then(|q| format!("/v1/device/pending?{q}").parse::<Uri>().ok())
        .unwrap_or_else(|| Uri::from_static("/v1/device/pending"));
    let mut sig = sig;
    if sign
        && let (Ok(device), Ok(Ok(ts)), Ok(nonce)) = (
            std::str::from_utf8(&device),
            std::str::from_utf8(&ts).map(str::parse::<i64>),
            std::str::from_utf8(&nonce),
        )
    {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        sig = b64(&w
            .key
            .sign(&proof::request_payload(
                "GET", path, device, ts, nonce, &body,
            ))
            .expect("sign"))
        .into_bytes();
    }
    let mut b = Request::builder().method(Method::GET).uri(uri);
    for (name, value) in [
        (headers::DEVICE, device),
        (headers::TIMESTAMP, ts),
        (headers::NONCE, nonce),
        (headers::SIGNATURE, sig),
    ] {
        if let Ok(v) = HeaderValue::from_bytes(&value) {
            b = b.header(name, v);
        }
    }
    send(w, b.body(Body::from(body)).expect("request"));
}

fn route_enroll(w: &World, rest: &[u8], sign: bool, subs: &[(u8, &str)]) {
    let token;
    let mut subs = subs.to_vec();
    if rest.windows(2).any(|p| p == b"@E") {
        token = fresh_enrolment_token(w);
        subs.push((b'E', token.as_str()));
    }
    let mut body = subst(rest, &subs);
    if sign
        && let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&body)
        && let Some(kt) = obj
            .get("key_type")
            .cloned()
            .and_then(|k| serde_json::from_value::<KeyType>(k).ok())
        && let Some(token) = obj.get("token").and_then(Value::as_str).map(str::to_owned)
    {
        let key = &w.spare[usize::from(kt == KeyType::Ed25519)];
        let public_key = b64(&key.public_key());
        let sig = key
            .sign(&proof::enrolment_payload(&token, kt, &public_key))
            .expect("sign");
        obj.insert("public_key".into(), json!(public_key));
        obj.insert("signature".into(), json!(b64(&sig)));
        body = serde_json::to_vec(&obj).expect("json");
    }
    send(w, post("/v1/enroll", None, body));
}

/// A fresh user and device, a challenge for them, and the fuzzer's answer to it (signed).
fn route_lifecycle(w: &World, rest: &[u8]) {
    let n = w.lifecycles.fetch_add(1, Ordering::Relaxed);
    let login = format!("life{n}");
    let device_id = w.rt.block_on(enrol(&w.guard, &w.admin, &login, &w.key));
    let body =
        json!({ "login_hint": login, "context": { "action": "Sign in", "ip": "192.0.2.1" } });
    let (status, opened) = send(
        w,
        post(
            "/v1/challenges",
            Some(&w.app_key),
            serde_json::to_vec(&body).expect("json"),
        ),
    );
    assert_eq!(status, 200);
    let opened: Value = serde_json::from_slice(&opened).expect("json");
    assert_eq!(opened["status"], "pending", "{opened}");
    let id = opened["auth_req_id"].as_str().expect("id").to_owned();
    let code = opened["user_code"].as_str().expect("code").to_owned();
    let (status, listed) = send(
        w,
        signed_pending(w, &device_id, &format!("lifecycle-nonce-{n:08}")),
    );
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_slice(&listed).expect("json");
    let hash = listed["challenges"][0]["context_sha256"]
        .as_str()
        .expect("hash")
        .to_owned();
    let now = NOW_MS.to_string();
    let subs = [
        (b'C', id.as_str()),
        (b'H', hash.as_str()),
        (b'U', code.as_str()),
        (b'D', device_id.as_str()),
        (b'T', now.as_str()),
    ];
    let (body, payload) = sign_answer(subst(rest, &subs), &w.key);
    let (status, answer) = send(w, post("/v1/device/answers", None, body));
    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    if status == 200 && answer["status"] == "approved" {
        let p = payload.expect("only a signed payload can be accepted");
        assert!(
            p.challenge_id == id
                && p.code == code
                && p.decision == Decision::Approve
                && p.device_id == device_id,
            "approved by {p:?}; the code was {code}"
        );
    }
    // The app sees the same.
    let polled = Request::builder()
        .uri(format!("/v1/challenges/{id}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", w.app_key))
        .body(Body::empty())
        .expect("request");
    let (status, polled) = send(w, polled);
    assert_eq!(status, 200);
    let polled: Value = serde_json::from_slice(&polled).expect("json");
    if polled["status"] == "approved" {
        assert_eq!(
            answer["status"], "approved",
            "approved without an accepted answer: {polled}"
        );
    }
}

/// Any method and path, with the admin or the app key (or none).
fn route_any(w: &World, rest: &[u8]) {
    let Some((&sel, rest)) = rest.split_first() else {
        return;
    };
    let mut parts = rest.splitn(2, |&b| b == b'\n');
    let path = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default().to_vec();
    let Ok(uri) = std::str::from_utf8(path).map(|p| {
        if p.starts_with('/') {
            p.to_owned()
        } else {
            format!("/{p}")
        }
    }) else {
        return;
    };
    let Ok(uri) = uri.parse::<Uri>() else { return };
    let method =
        [Method::GET, Method::POST, Method::PATCH, Method::DELETE][usize::from(sel & 3)].clone();
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    match (sel >> 2) % 3 {
        0 => b = b.header(header::AUTHORIZATION, format!("Bearer {}", w.admin_key)),
        1 => b = b.header(header::AUTHORIZATION, format!("Bearer {}", w.app_key)),
        _ => {}
    }
    send(w, b.body(Body::from(body)).expect("request"));
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let w = world();
    let sign = selector & 0x80 != 0;
    let now = NOW_MS.to_string();
    let subs = [(b'D', w.device_id.as_str()), (b'T', now.as_str())];
    match selector & 0x07 {
        0 => {
            send(
                w,
                post("/v1/challenges", Some(&w.app_key), subst(rest, &subs)),
            );
        }
        1 => {
            let body = subst(rest, &subs);
            let body = if sign {
                sign_answer(body, &w.key).0
            } else {
                body
            };
            send(w, post("/v1/device/answers", None, body));
        }
        2 => route_enroll(w, rest, sign, &subs),
        3 => route_pending(w, rest, sign, &subs),
        4 => {
            send(
                w,
                post("/v1/admin/users", Some(&w.admin_key), rest.to_vec()),
            );
        }
        5 => route_lifecycle(w, rest),
        _ => route_any(w, rest),
    }
});
