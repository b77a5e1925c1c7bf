//! `pushback.toml`: one strict tree, every field defaulted, documented in
//! [`DEFAULT_TOML`] (what `pushback config default` prints; a test checks it parses to
//! exactly the defaults).

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use pushback_connect::ConnectorsConfig;
use pushback_guard::{ChallengeSettings, GuardSettings, PolicySettings};
use pushback_respond::RespondSettings;
use pushback_server::{ServerSettings, WatchSettings};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub challenge: ChallengeSettings,
    pub policy: PolicySettings,
    pub watch: WatchSettings,
    pub respond: RespondSettings,
    pub connectors: ConnectorsConfig,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://file.db` (embedded, the default) or `postgres://user@host/db`.
    pub url: String,
    /// File holding the server secret that keys code hashes; created (mode 0600) if
    /// missing. Every node sharing a database must use the same secret.
    pub secret_file: String,
    /// PostgreSQL: the most connections this node holds open. Unset: twice this
    /// machine's cores plus two ([`pushback_store::default_max_connections`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://pushback.db".into(),
            secret_file: "pushback.secret".into(),
            max_connections: None,
        }
    }
}

impl Config {
    /// Reads `path` if given (an error if it cannot be read or parsed), else defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: Self =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        config
            .guard()
            .validate()
            .with_context(|| format!("checking {}", path.display()))?;
        anyhow::ensure!(
            config.database.max_connections != Some(0),
            "checking {}: database.max_connections must be at least 1",
            path.display()
        );
        config
            .check_watch()
            .with_context(|| format!("checking {}", path.display()))?;
        config
            .respond
            .playbook()
            .with_context(|| format!("checking {}", path.display()))?;
        Ok(config)
    }

    /// What serde cannot check in `[watch]`.
    fn check_watch(&self) -> anyhow::Result<()> {
        let w = &self.watch;
        if w.disorder_tolerance_ms < 0 {
            anyhow::bail!("watch.disorder_tolerance_ms must not be negative");
        }
        if w.max_ingest_bytes == 0 || w.event_queue == 0 || w.sinks.queue == 0 {
            anyhow::bail!(
                "watch.max_ingest_bytes, watch.event_queue and watch.sinks.queue must be positive"
            );
        }
        if let Some(hook) = &w.sinks.webhook {
            if !(hook.url.starts_with("https://") || hook.url.starts_with("http://")) {
                anyhow::bail!("watch.sinks.webhook.url must be an http(s) URL");
            }
            if hook.secret_env.is_some() == hook.secret_file.is_some() {
                anyhow::bail!(
                    "watch.sinks.webhook needs exactly one of secret_env and secret_file"
                );
            }
        }
        Ok(())
    }

    pub fn guard(&self) -> GuardSettings {
        GuardSettings {
            challenge: self.challenge.clone(),
            policy: self.policy.clone(),
        }
    }
}

/// The commented default configuration.
pub const DEFAULT_TOML: &str = r#"# pushback.toml — every value below is the default.

[server]
# Address and port to listen on.
listen = "127.0.0.1:8080"
# The URL devices and admins reach this server at, used in enrolment links.
# Unset: http://<listen>.
# public_url = "https://mfa.example.com"
# Largest accepted request body, in bytes.
max_body_bytes = 16384
# How often lapsed challenges are expired and old nonces purged, in milliseconds.
housekeeping_interval_ms = 1000
# How often new audit entries are sealed into the hash chain, in milliseconds. Small
# passes often spread the work; a crash leaves at most this much unsealed, and the
# next start seals it.
seal_interval_ms = 100

[database]
# sqlite://file.db (embedded, WAL) or postgres://user@host/db (several nodes).
# Overridden by --database-url or PUSHBACK_DATABASE_URL.
url = "sqlite://pushback.db"
# The server secret that keys code hashes; created with mode 0600 if missing.
# Every node sharing one database needs the same file.
secret_file = "pushback.secret"
# PostgreSQL: the most connections this node holds open. Each is a backend process
# on the database server, and more of them than its cores only queue there.
# Unset: twice this machine's cores plus two, which suits a database on a machine
# like this one; for a larger database server, about twice its cores.
# max_connections = 6

[challenge]
# "code": the login screen shows a code that the user types on the device
#         (code transfer, NIST SP 800-63B-4 §3.1.3).
# "pick3": the login screen shows a number, the device offers three (compatibility;
#          a blind guess wins one time in three). An app client may override this.
mode = "code"
# Digits in a transfer code: 6 to 10.
code_digits = 6
# Lifetime of a challenge when the app does not ask for one, in seconds.
default_expiry_secs = 120
# Longest lifetime an app may ask for, in seconds (at most 600).
max_expiry_secs = 600

[policy]
# Prompts allowed since the last approval within the rolling window; then the answer
# is step_up_required.
budget_prompts = 5
budget_window_secs = 3600
# Wait after an unanswered or denied prompt: doubles each time, resets on approval.
backoff_initial_secs = 10
backoff_max_secs = 900
# Explicit denies (a wrong code counts as one) within the window that lock push.
# Timeouts never count toward lockout.
lockout_denies = 3
lockout_window_secs = 900
lockout_secs = 3600
# Consecutive failures after which push stays locked until an admin unlocks (max 100).
failure_cap = 100
# How long push stays locked after the user reports "not me".
not_me_lock_secs = 86400

[watch]
# Live detection over POST /v1/ingest/{okta|entra|duo} and the guard's own events.
# A directory of Sigma rules (*.yml) that add to or override the built-in ones.
# rules_dir = "/etc/pushback/rules"
# How late (event time, milliseconds) an event may arrive and still be judged in
# order; a finding is reported at most this long after its last event.
disorder_tolerance_ms = 300000
# Per-rule cap on groups (users, sessions, addresses) held; the least recently seen
# is evicted first and counted in pushback_watch_evicted_groups.
max_groups_per_rule = 100000
# How often the engine's watermark follows the clock, in milliseconds.
tick_interval_ms = 1000
# How often, at most, the engine saves what it holds (events waiting, open windows)
# with the pollers' checkpoints, in milliseconds; also on shutdown. After a restart it
# goes on from there: an attack straddling the restart is seen whole. After a crash,
# ingested events since the last save are missing from the windows (polled records
# are read again).
state_save_interval_ms = 10000
# Batches waiting for the engine; an ingest request waits for room, a guard event
# is dropped (and counted) when there is none.
event_queue = 1024
# Largest accepted ingest request body, in bytes (5 MiB).
max_ingest_bytes = 5242880
# Poll the logs of the identity providers configured under [connectors] (one poller
# per provider; each resumes from its checkpoint in the database after a restart).
# The tolerance above is raised, if need be, to cover the slowest poller's delay.
poll = true

[watch.sinks]
# Where new findings go (each sink has its own queue; a full one drops and counts).
# Print each finding as a JSON line on standard output.
stdout = false
# Append each finding as a JSON line to this file.
# jsonl = "findings.jsonl"
# Findings waiting per sink.
queue = 1000

# POST each finding as JSON, signed: x-pushback-timestamp (Unix seconds) and
# x-pushback-signature = sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">.
# 5xx, 429, timeouts and connection failures are retried with exponential backoff.
# [watch.sinks.webhook]
# url = "https://siem.example.com/hooks/pushback"
# secret_env = "PUSHBACK_WEBHOOK_SECRET"    # or: secret_file = "/etc/pushback/webhook.secret"
# timeout_ms = 5000
# max_attempts = 6
# initial_backoff_ms = 500
# max_backoff_ms = 30000

[respond]
# Run the playbook on guard's "not me" reports and lockouts and on watch's new
# findings. Each response opens (or joins) the subject's incident: GET /v1/incidents,
# pushback incidents list|show|ack|resolve.
enabled = true

[respond.retry]
# Attempts per action in all, the first included; the wait between two doubles from
# first_delay up to max_delay. Every attempt, its result and its latency go on the
# incident's timeline; an action that fails after the last is shown as failed.
attempts = 4
first_delay = "500ms"
max_delay = "30s"

# The playbook. `when` matches guard events (guard = "not_me" or "lockout"), findings
# of named rules (rules = [...]) and findings of at least a severity (min_severity);
# every key given must match. Actions:
#   { lock_push = "1d" }        lock the user's push in guard for a while
#   "require_step_up"           guard answers step_up_required until an admin lifts it
#   "freeze_device"             the reporting device (or all the user's) until unfrozen
#   "revoke_sessions"           at every configured identity provider
#   "suspend_user"              suspend (Okta), disable (Entra ID), lock (Duo)
#   "confirm_compromised"       Entra ID Identity Protection
#   "alert"                     post the incident to the configured webhooks
#   { open_incident = "high" }  open the incident at (or raise it to) a severity
# Entries written in your own file replace all of these defaults.
[[respond.playbook]]
name = "not-me"
when = { guard = "not_me" }
actions = [{ lock_push = "1d" }, "revoke_sessions", { open_incident = "critical" }]

[[respond.playbook]]
name = "flood-then-success"
when = { rules = ["push_flood_then_success", "user_reported_fraud"] }
actions = [{ lock_push = "1d" }, "revoke_sessions", { open_incident = "critical" }]

[[respond.playbook]]
name = "flood"
when = { rules = ["push_flood", "push_flood_unanswered", "session_push_volume"] }
actions = ["require_step_up", { open_incident = "high" }]

[[respond.playbook]]
name = "spray"
when = { rules = ["push_spray", "push_spray_net24"] }
actions = [{ open_incident = "high" }, "alert"]

[[respond.playbook]]
name = "lockout"
when = { guard = "lockout" }
actions = [{ open_incident = "medium" }]

# Connectors (none by default): the identity providers the playbook acts on and
# whose logs are polled, and the webhook `alert` posts to. Credentials come from the
# environment or a file, never from this file. See docs/connectors.md for every key.
# [connectors.okta]
# base_url = "https://example.okta.com"
# token = { env = "OKTA_API_TOKEN" }
#
# [connectors.graph]
# tenant = "contoso.onmicrosoft.com"
# client_id = "00000000-0000-0000-0000-000000000000"
# client_secret = { file = "/run/secrets/graph" }
#
# [connectors.duo]
# base_url = "https://api-12345678.duosecurity.com"
# integration_key = "DIXXXXXXXXXXXXXXXXXX"
# secret_key = { env = "DUO_ADMIN_SKEY" }
#
# [connectors.webhook]
# url = "https://soar.example/hooks/pushback"
# secret = { env = "PUSHBACK_WEBHOOK_SECRET" }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_default_parses_to_the_defaults() {
        let parsed: Config = toml::from_str(DEFAULT_TOML).expect("default config parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn sinks_parse_strictly_and_a_webhook_needs_one_secret() {
        let text = "[watch.sinks]\njsonl = \"f.jsonl\"\n[watch.sinks.webhook]\nurl = \"https://h.example/x\"\nsecret_env = \"S\"\n";
        let parsed: Config = toml::from_str(text).expect("sinks parse");
        assert_eq!(parsed.watch.sinks.jsonl.as_deref(), Some("f.jsonl"));
        let hook = parsed.watch.sinks.webhook.as_ref().expect("webhook");
        assert_eq!(hook.max_attempts, 6, "unset fields take their defaults");
        assert!(parsed.check_watch().is_ok());

        let both = format!("{text}secret_file = \"s\"\n");
        let parsed: Config = toml::from_str(&both).expect("parses");
        assert!(parsed.check_watch().is_err(), "two secrets");
        let err = toml::from_str::<Config>("[watch.sinks]\nwebhok = 1\n").expect_err("typo");
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<Config>("[policy]\nbudget = 5\n").expect_err("unknown key");
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    /// `text` loaded as a `pushback.toml` file, with the checks a load makes.
    fn load(text: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).expect("write");
        Config::load(Some(&path))
    }

    #[test]
    fn the_pool_size_is_read_and_an_empty_pool_refused() {
        let config = load("[database]\nmax_connections = 12\n").expect("a pool of 12");
        assert_eq!(config.database.max_connections, Some(12));
        let err = load("[database]\nmax_connections = 0\n").expect_err("a pool of none");
        assert!(format!("{err:#}").contains("max_connections"), "{err:#}");
    }

    #[test]
    fn weakening_values_are_refused_on_load() {
        let err = load("[challenge]\ncode_digits = 4\n").expect_err("4 digits is too weak");
        assert!(format!("{err:#}").contains("code_digits"));
    }
}
