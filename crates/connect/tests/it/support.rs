//! A scripted vendor on `127.0.0.1:0`: every request is recorded, and a closure the
//! test writes checks it and picks the answer. Plus a [`Pause`] that records waits
//! instead of sleeping, and a poll loop with a simulated crash.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use pushback_connect::{Checkpoint, LogSource, Pause, RetryPolicy};
use pushback_model::{ManualClock, Timestamp};

/// 2023-11-14T22:13:20Z.
pub const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// One request as the vendor saw it.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    /// Percent-decoded.
    pub path: String,
    /// Raw, as sent.
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Req {
    /// Decoded query parameters.
    pub fn query(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(self.raw_query.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn form(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// The vendor's answer.
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (to trip a client timeout).
    pub delay: Option<Duration>,
}

impl Resp {
    pub fn json(status: u16, v: serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: v.to_string().into_bytes(),
            delay: None,
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            delay: None,
        }
    }

    pub fn empty(status: u16) -> Self {
        Self::text(status, "")
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn after(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }
}

type Script = dyn Fn(&Req) -> Resp + Send + Sync;

/// A running scripted vendor.
#[derive(Clone)]
pub struct Vendor {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Req>>>,
}

impl Vendor {
    pub fn requests(&self) -> Vec<Req> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.is(method, path))
            .count()
    }
}

/// Starts a vendor that answers every request with `script`.
pub async fn vendor(script: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Vendor {
    let seen: Arc<Mutex<Vec<Req>>> = Arc::default();
    let script: Arc<Script> = Arc::new(script);
    let (s, sc) = (seen.clone(), script.clone());
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (seen, script) = (s.clone(), sc.clone());
            async move {
                let path = url::form_urlencoded::parse(format!("p={}", uri.path()).as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let req = Req {
                    method: method.to_string(),
                    path,
                    raw_query: uri.query().unwrap_or("").to_owned(),
                    headers,
                    body: body.to_vec(),
                };
                seen.lock().unwrap().push(req.clone());
                let resp = script(&req);
                if let Some(d) = resp.delay {
                    tokio::time::sleep(d).await;
                }
                let mut b = Response::builder().status(resp.status);
                for (k, v) in &resp.headers {
                    b = b.header(k, v);
                }
                b.body(Body::from(resp.body)).unwrap()
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Vendor { url, seen }
}

/// Records each requested wait and returns at once.
#[derive(Default)]
pub struct Waits(Mutex<Vec<Duration>>);

impl Waits {
    pub fn all(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Pause for Waits {
    async fn pause(&self, wait: Duration) {
        self.0.lock().unwrap().push(wait);
    }
}

/// Few attempts, tiny backoff.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff_ms: 10,
        max_backoff_ms: 40,
        max_retry_after_ms: 600_000,
    }
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0))
}

/// Polls until caught up or until `crash_after` pages were taken (a crash: the
/// poller is dropped by the caller). Returns the records and the last checkpoint
/// stored (only ever after a page's records were "processed").
pub async fn drain(
    source: &mut dyn LogSource,
    mut stored: Option<Checkpoint>,
    crash_after: Option<usize>,
) -> (Vec<serde_json::Value>, Option<Checkpoint>) {
    let mut out = Vec::new();
    for pages in 1..=100 {
        let page = source.poll(stored.as_ref()).await.expect("a page");
        out.extend(page.records);
        stored = Some(page.checkpoint);
        if !page.more || crash_after == Some(pages) {
            return (out, stored);
        }
    }
    panic!("no end after 100 pages");
}

/// The values of `key` in `records`, asserting each appears once.
pub fn ids_once(records: &[serde_json::Value], key: &str) -> Vec<String> {
    let ids: Vec<String> = records
        .iter()
        .map(|r| r[key].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "a record came twice: {ids:?}");
    ids
}
