//! `pushback device …`: the reference authenticator. Its private key lives in a local
//! file (mode 0600); every request it makes is signed with it.

use std::path::Path;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use serde_json::json;

use pushback_guard::proof::{self, b64, unb64};
use pushback_guard::{AnswerPayload, Decision, DeviceKey, KeyType, PendingItem};
use pushback_model::{Clock as _, SystemClock, SystemEntropy, random_token, sha256};
use pushback_server::device_api::headers;

use crate::http;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// Enrol this device with a one-time link from `pushback admin enrol`.
    Enroll {
        link: String,
        /// p256 (ECDSA P-256, what phone secure hardware holds) or ed25519.
        #[arg(long, default_value = "p256")]
        key_type: String,
        #[arg(long, default_value = "reference authenticator")]
        name: String,
        /// Replace an existing key file.
        #[arg(long)]
        force: bool,
    },
    /// List the challenges waiting for this device's user (context only, never the code).
    Pending,
    /// Approve by typing the code (or picking the number) shown on the login screen.
    Approve {
        #[arg(long)]
        code: String,
        /// Which challenge; by default the only one pending.
        #[arg(long)]
        challenge: Option<String>,
    },
    /// Deny: "this was me, but no".
    Deny {
        #[arg(long)]
        challenge: Option<String>,
    },
    /// Report a prompt you did not start: locks push for your account and alerts.
    NotMe {
        #[arg(long)]
        challenge: Option<String>,
    },
}

/// What the key file holds.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    server: String,
    device_id: String,
    user: String,
    key_type: KeyType,
    /// PKCS#8, base64url. Secret.
    private_key: String,
}

/// An enrolled device talking to its server.
pub struct Device {
    pub base: String,
    pub device_id: String,
    pub key: DeviceKey,
    http: reqwest::Client,
}

impl Device {
    pub fn new(base: &str, device_id: String, key: DeviceKey, http: reqwest::Client) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            device_id,
            key,
            http,
        }
    }

    fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the device key file {}", path.display()))?;
        let file: KeyFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a pushback device key file", path.display()))?;
        let pkcs8 =
            unb64(&file.private_key).context("the key file's private_key is not base64url")?;
        let key = DeviceKey::from_pkcs8(file.key_type, &pkcs8)?;
        Ok(Self::new(
            &file.server,
            file.device_id,
            key,
            http::client()?,
        ))
    }

    /// Registers a new key with a one-time enrolment link; returns the device and its user.
    pub async fn enrol(
        link: &str,
        key: DeviceKey,
        name: &str,
        http: reqwest::Client,
    ) -> anyhow::Result<(Self, String)> {
        let (base, token) = link
            .split_once("/enroll#")
            .filter(|(b, t)| !b.is_empty() && !t.is_empty())
            .context("not an enrolment link: expected <server>/enroll#<token>")?;
        let public_key = b64(&key.public_key());
        let signature = b64(&key.sign(&proof::enrolment_payload(
            token,
            key.key_type(),
            &public_key,
        ))?);
        let body = json!({ "token": token, "key_type": key.key_type(), "public_key": public_key, "name": name, "signature": signature });
        let answer = http::send(http.post(format!("{base}/v1/enroll")).json(&body))
            .await
            .context("enrolling")?;
        let device_id = answer["device_id"]
            .as_str()
            .context("no device_id in the answer")?
            .to_owned();
        let user = answer["user"].as_str().unwrap_or_default().to_owned();
        Ok((Self::new(base, device_id, key, http), user))
    }

    /// The live challenges, checked: each context's hash must match what the server
    /// says it is, so what is shown is what gets signed.
    pub async fn pending(&self) -> anyhow::Result<Vec<PendingItem>> {
        let path = "/v1/device/pending";
        let signed = self.sign_request("GET", path, b"")?;
        let answer = http::send(
            self.http
                .get(format!("{}{path}", self.base))
                .header(headers::DEVICE, &self.device_id)
                .header(headers::TIMESTAMP, &signed.timestamp)
                .header(headers::NONCE, &signed.nonce)
                .header(headers::SIGNATURE, &signed.signature),
        )
        .await?;
        let items: Vec<PendingItem> = serde_json::from_value(answer["challenges"].clone())
            .context("unexpected pending list")?;
        check_contexts(&items)?;
        Ok(items)
    }

    /// The signature headers of a request by this device (besides its id): a fresh
    /// timestamp and nonce, and the signature over them, the method, path and body.
    pub fn sign_request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> anyhow::Result<SignedHeaders> {
        let ts = SystemClock.now().millis();
        let nonce = random_token(&SystemEntropy::new(), 16);
        let sig = self.key.sign(&proof::request_payload(
            method,
            path,
            &self.device_id,
            ts,
            &nonce,
            body,
        ))?;
        Ok(SignedHeaders {
            timestamp: ts.to_string(),
            nonce,
            signature: b64(&sig),
        })
    }

    /// Signs and sends a decision on `item`; returns the recorded status.
    pub async fn answer(
        &self,
        item: &PendingItem,
        decision: Decision,
        code: &str,
    ) -> anyhow::Result<String> {
        let body = self.answer_body(item, decision, code)?;
        let answer = http::send(
            self.http
                .post(format!("{}/v1/device/answers", self.base))
                .json(&body),
        )
        .await?;
        Ok(answer["status"].as_str().unwrap_or_default().to_owned())
    }

    /// The body of a signed answer: the decision on `item`, the typed code, what was
    /// shown (its hash), a fresh timestamp and nonce, and the signature over them all.
    pub fn answer_body(
        &self,
        item: &PendingItem,
        decision: Decision,
        code: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let payload = AnswerPayload {
            challenge_id: item.challenge_id.clone(),
            code: code.to_owned(),
            decision,
            context_sha256: item.context_sha256.clone(),
            device_id: self.device_id.clone(),
            timestamp_ms: SystemClock.now().millis(),
            nonce: random_token(&SystemEntropy::new(), 16),
        };
        let signature = b64(&self.key.sign(&payload.canonical())?);
        Ok(json!({
            "challenge_id": payload.challenge_id,
            "code": payload.code,
            "decision": payload.decision,
            "context_sha256": payload.context_sha256,
            "device_id": payload.device_id,
            "timestamp": payload.timestamp_ms,
            "nonce": payload.nonce,
            "signature": signature,
        }))
    }
}

/// A device request's signature headers, besides the device id.
pub struct SignedHeaders {
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

/// Refuses a pending list whose contexts do not match their hashes, so that what is
/// shown is what gets signed.
pub fn check_contexts(items: &[PendingItem]) -> anyhow::Result<()> {
    for item in items {
        if hex::encode(sha256(item.context.canonical().as_bytes())) != item.context_sha256 {
            bail!(
                "challenge {}: the context does not match its hash; refusing to show it",
                item.challenge_id
            );
        }
    }
    Ok(())
}

fn write_key_file(path: &Path, file: &KeyFile, force: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).with_context(|| {
        format!(
            "creating {} (it exists? use --force to replace it)",
            path.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(serde_json::to_string_pretty(file)?.as_bytes())?;
    Ok(())
}

fn pick<'a>(items: &'a [PendingItem], id: Option<&str>) -> anyhow::Result<&'a PendingItem> {
    match (id, items) {
        (Some(id), _) => items
            .iter()
            .find(|i| i.challenge_id == id)
            .with_context(|| format!("challenge {id} is not pending")),
        (None, [one]) => Ok(one),
        (None, []) => bail!("nothing is pending"),
        (None, _) => bail!("several challenges are pending; choose one with --challenge"),
    }
}

fn show(item: &PendingItem) {
    let c = &item.context;
    output::line(&format!("challenge {}", item.challenge_id));
    output::line(&format!("  app:        {}", c.app));
    output::line(&format!("  action:     {}", c.action));
    output::line(&format!(
        "  from:       {} ({})",
        c.ip,
        if c.location.is_empty() {
            "location unknown"
        } else {
            &c.location
        }
    ));
    output::line(&format!("  browser:    {}", c.user_agent));
    if c.options.is_empty() {
        output::line(
            "  answer:     type the code shown on the login screen: pushback device approve --code NNNNNN",
        );
    } else {
        output::line(&format!(
            "  answer:     pick the number shown on the login screen: {}",
            c.options.join("  ")
        ));
    }
    output::line("  not you?    pushback device not-me");
}

pub async fn run(key_file: &Path, command: DeviceCommand) -> anyhow::Result<()> {
    match command {
        DeviceCommand::Enroll {
            link,
            key_type,
            name,
            force,
        } => {
            let kt = KeyType::parse(&key_type)
                .with_context(|| format!("unknown key type {key_type:?}: use p256 or ed25519"))?;
            if key_file.exists() && !force {
                bail!(
                    "{} already exists; use --force to replace it",
                    key_file.display()
                );
            }
            let key = DeviceKey::generate(kt)?;
            let (device, user) = Device::enrol(&link, key, &name, http::client()?).await?;
            let file = KeyFile {
                server: device.base.clone(),
                device_id: device.device_id.clone(),
                user: user.clone(),
                key_type: kt,
                private_key: b64(device.key.pkcs8()),
            };
            write_key_file(key_file, &file, force)?;
            output::line(&format!(
                "Enrolled device {} for {user} ({} key in {}).",
                device.device_id,
                kt.as_str(),
                key_file.display()
            ));
        }
        DeviceCommand::Pending => {
            let device = Device::load(key_file)?;
            let items = device.pending().await?;
            if items.is_empty() {
                output::line("nothing is pending");
            }
            items.iter().for_each(show);
        }
        DeviceCommand::Approve { code, challenge } => {
            decide(key_file, challenge.as_deref(), Decision::Approve, &code).await?
        }
        DeviceCommand::Deny { challenge } => {
            decide(key_file, challenge.as_deref(), Decision::Deny, "").await?
        }
        DeviceCommand::NotMe { challenge } => {
            decide(key_file, challenge.as_deref(), Decision::NotMe, "").await?
        }
    }
    Ok(())
}

async fn decide(
    key_file: &Path,
    challenge: Option<&str>,
    decision: Decision,
    code: &str,
) -> anyhow::Result<()> {
    let device = Device::load(key_file)?;
    let items = device.pending().await?;
    let item = pick(&items, challenge)?;
    let status = device
        .answer(item, decision, code)
        .await
        .context("the server did not accept the answer (wrong code, expired or superseded?)")?;
    output::line(&format!("challenge {}: {status}", item.challenge_id));
    Ok(())
}
