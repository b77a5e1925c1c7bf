//! The guard bench's loader: one HTTP/1.1 connection per worker, straight on hyper.
//!
//! A worker sends one request at a time, so it needs one kept-alive connection and no
//! pool; its paths are fixed, so it needs no URL parsing per request. reqwest's pool,
//! URL and redirect layers cost the loader about a tenth of its CPU, and on a machine
//! whose cores the loader shares with the server, that is taken from the server.
//! Everything else is what a device and an app do: each device request is signed
//! afresh, each answer is read as JSON.

use anyhow::{Context as _, bail, ensure};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use pushback_server::device_api::headers;

use crate::device::SignedHeaders;

/// Where a worker connects: `http://host:port` and an optional path prefix.
#[derive(Clone, Debug)]
pub struct Target {
    authority: String,
    host: HeaderValue,
    prefix: String,
}

impl Target {
    pub fn parse(base: &str) -> anyhow::Result<Self> {
        let uri: Uri = base
            .parse()
            .with_context(|| format!("{base:?} is not a URL"))?;
        ensure!(
            uri.scheme_str() == Some("http"),
            "the bench's loader speaks plain HTTP/1.1 to a server on this machine: {base:?} is not http://"
        );
        let authority = uri
            .authority()
            .with_context(|| format!("{base:?} has no host"))?
            .as_str()
            .to_owned();
        Ok(Self {
            host: HeaderValue::from_str(&authority)?,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            authority,
        })
    }
}

type Io = TokioIo<tokio::net::TcpStream>;
/// An open connection: what sends on it, and what drives it.
type Open = (SendRequest<Full<Bytes>>, Connection<Io, Full<Bytes>>);

/// A worker's connection; it reconnects when the server has closed it. The worker's
/// own task drives it while a call is in flight (no task of its own to wake).
pub struct Conn {
    target: Target,
    open: Option<Open>,
}

impl Conn {
    pub fn new(target: Target) -> Self {
        Self { target, open: None }
    }

    async fn connect(&self) -> anyhow::Result<Open> {
        let stream = tokio::net::TcpStream::connect(&self.target.authority)
            .await
            .with_context(|| format!("connecting to {}", self.target.authority))?;
        stream.set_nodelay(true)?;
        hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")
    }

    /// A request to `path` (below the target's prefix) with the target's `Host`.
    pub fn request(&self, method: Method, path: &str) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.target.prefix))
            .header(HOST, self.target.host.clone())
    }

    /// Sends `request` and reads its JSON answer as `T`; an error status is an error
    /// naming the problem's title.
    pub async fn call<T: DeserializeOwned>(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> anyhow::Result<T> {
        if self.open.as_ref().is_none_or(|(s, _)| s.is_closed()) {
            self.open = Some(self.connect().await?);
        }
        let (sender, connection) = self.open.as_mut().expect("connected above");
        let exchange = async {
            sender.ready().await.context("the connection closed")?;
            let response = sender
                .send_request(request)
                .await
                .context("sending the request")?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .context("reading the server's answer")?
                .to_bytes();
            anyhow::Ok((status, body))
        };
        let outcome = tokio::select! {
            biased;
            done = exchange => done,
            ended = connection => Err(match ended {
                Ok(()) => anyhow::anyhow!("the server closed the connection"),
                Err(e) => anyhow::Error::new(e).context("the connection failed"),
            }),
        };
        let (status, body) = match outcome {
            Ok(answer) => answer,
            Err(e) => {
                self.open = None;
                return Err(e);
            }
        };
        if !status.is_success() {
            #[derive(Deserialize)]
            struct Problem {
                title: String,
            }
            match serde_json::from_slice::<Problem>(&body) {
                Ok(p) => bail!("the server answered {status}: {}", p.title),
                Err(_) => bail!("the server answered {status}"),
            }
        }
        serde_json::from_slice(&body).context("the server's answer is not the JSON expected")
    }
}

/// `Bearer <key>`, marked sensitive so that no debug output shows it.
pub fn bearer(key: &str) -> anyhow::Result<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {key}"))?;
    v.set_sensitive(true);
    Ok(v)
}

/// A JSON body.
pub fn json_body(
    builder: hyper::http::request::Builder,
    body: Bytes,
) -> anyhow::Result<Request<Full<Bytes>>> {
    Ok(builder
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(Full::new(body))?)
}

/// An app's request: its key as a bearer token, no body.
pub fn as_app(
    builder: hyper::http::request::Builder,
    auth: &HeaderValue,
) -> hyper::http::request::Builder {
    builder.header(AUTHORIZATION, auth.clone())
}

/// A device's signed request without a body.
pub fn signed(
    builder: hyper::http::request::Builder,
    device_id: &str,
    s: SignedHeaders,
) -> anyhow::Result<Request<Full<Bytes>>> {
    Ok(builder
        .header(headers::DEVICE, device_id)
        .header(headers::TIMESTAMP, s.timestamp)
        .header(headers::NONCE, s.nonce)
        .header(headers::SIGNATURE, s.signature)
        .body(Full::new(Bytes::new()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_plain_http_with_an_optional_prefix() {
        let t = Target::parse("http://127.0.0.1:8080").expect("a target");
        assert_eq!(
            (t.authority.as_str(), t.prefix.as_str()),
            ("127.0.0.1:8080", "")
        );
        assert_eq!(t.host, "127.0.0.1:8080");
        let t = Target::parse("http://localhost:9/pushback/").expect("a target");
        assert_eq!(
            (t.authority.as_str(), t.prefix.as_str()),
            ("localhost:9", "/pushback")
        );
        for bad in [
            "https://127.0.0.1:8443",
            "127.0.0.1:8080",
            "http://",
            "not a url",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad} was taken");
        }
    }
}
