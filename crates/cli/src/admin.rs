//! `pushback admin …`: the admin API from the command line.

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use crate::http;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// App clients (relying parties).
    #[command(subcommand)]
    App(AppCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// Create a one-time device enrolment link for a user (10 minutes, single use).
    Enrol { login: String },
    /// A user's devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Admin keys (works on the database directly, for recovery).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Keys for POST /v1/ingest/{okta|entra|duo} (log forwarders, Okta event hooks).
    #[command(subcommand)]
    IngestKey(IngestKeyCommand),
    /// Lift the step-up requirement the response playbook put on a user.
    LiftStepUp { login: String },
    /// Unfreeze a device the response playbook froze.
    Unfreeze {
        #[arg(value_name = "DEVICE_ID")]
        id: String,
    },
    /// Findings of live detection, newest first.
    Findings {
        /// Only this rule (e.g. push_flood).
        #[arg(long)]
        rule: Option<String>,
        /// Only this user.
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum IngestKeyCommand {
    /// Create an ingest key; prints it once.
    Create { name: String },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create another admin key directly in the database; prints it once.
    Create {
        #[command(flatten)]
        database: crate::DatabaseUrl,
    },
}

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Register an app; prints its API key once.
    Create {
        name: String,
        /// Override the challenge mode for this app: code or pick3.
        #[arg(long)]
        mode: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    Create {
        login: String,
        #[arg(long, default_value = "")]
        display_name: String,
    },
    /// Show a user's fatigue counters and lock.
    Show { login: String },
    /// Lift a push lock (after "not me", denies or the failure cap).
    Unlock { login: String },
}

#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    List { login: String },
    Rename { id: String, name: String },
    Revoke { id: String },
}

pub async fn run(server: &http::ServerArgs, command: AdminCommand) -> anyhow::Result<()> {
    let base = server.url.trim_end_matches('/');
    let needs_key = !matches!(command, AdminCommand::Key(_));
    let key = match &server.key {
        Some(k) => k.clone(),
        None if needs_key => anyhow::bail!("no admin key: pass --key or set PUSHBACK_ADMIN_KEY"),
        None => String::new(),
    };
    let key = key.as_str();
    let client = http::client()?;
    let auth = |rb: reqwest::RequestBuilder| rb.bearer_auth(key);
    let seg = http::segment;
    let answer = match command {
        AdminCommand::App(AppCommand::Create { name, mode }) => {
            let mut body = json!({ "name": name });
            if let Some(mode) = mode {
                body["mode"] = json!(mode);
            }
            let created =
                http::send(auth(client.post(format!("{base}/v1/admin/apps"))).json(&body)).await?;
            return print_secret_once(&created, "App", "API key", "api_key");
        }
        AdminCommand::IngestKey(IngestKeyCommand::Create { name }) => {
            let created = http::send(
                auth(client.post(format!("{base}/v1/admin/ingest-keys")))
                    .json(&json!({ "name": name })),
            )
            .await?;
            return print_secret_once(&created, "Ingest key", "secret", "ingest_key");
        }
        AdminCommand::Findings { rule, user, limit } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(rule.map(|r| ("rule_id", r)));
            query.extend(user.map(|u| ("user", u)));
            http::send(auth(
                client.get(format!("{base}/v1/findings")).query(&query),
            ))
            .await?
        }
        AdminCommand::User(UserCommand::Create {
            login,
            display_name,
        }) => {
            http::send(
                auth(client.post(format!("{base}/v1/admin/users")))
                    .json(&json!({ "login": login, "display_name": display_name })),
            )
            .await?
        }
        AdminCommand::User(UserCommand::Show { login }) => {
            http::send(auth(
                client.get(format!("{base}/v1/admin/users/{}", seg(&login))),
            ))
            .await?
        }
        AdminCommand::User(UserCommand::Unlock { login }) => {
            http::send(auth(
                client.post(format!("{base}/v1/admin/users/{}/unlock", seg(&login))),
            ))
            .await?
        }
        AdminCommand::LiftStepUp { login } => http::send(auth(client.post(format!(
            "{base}/v1/admin/users/{}/lift-step-up",
            seg(&login)
        ))))
        .await
        .map_err(|e| {
            http::not_found(e, || format!("no step-up requirement in force for {login}"))
        })?,
        AdminCommand::Unfreeze { id } => {
            http::send(auth(
                client.post(format!("{base}/v1/admin/devices/{}/unfreeze", seg(&id))),
            ))
            .await
            .map_err(|e| http::not_found(e, || format!("no frozen device {id}")))?;
            json!({ "unfrozen": id })
        }
        AdminCommand::Enrol { login } => {
            let e = http::send(auth(
                client.post(format!("{base}/v1/admin/users/{}/enrolments", seg(&login))),
            ))
            .await?;
            output::line(&format!(
                "One-time enrolment link for {login} (expires {}):",
                e["expires_at"].as_str().unwrap_or("?")
            ));
            output::line("");
            output::line(&format!(
                "    {}",
                e["link"].as_str().context("no link in the answer")?
            ));
            return Ok(());
        }
        AdminCommand::Device(DeviceCommand::List { login }) => {
            http::send(auth(
                client.get(format!("{base}/v1/admin/users/{}/devices", seg(&login))),
            ))
            .await?
        }
        AdminCommand::Device(DeviceCommand::Rename { id, name }) => {
            http::send(
                auth(client.patch(format!("{base}/v1/admin/devices/{}", seg(&id))))
                    .json(&json!({ "name": name })),
            )
            .await?;
            json!({ "renamed": id })
        }
        AdminCommand::Device(DeviceCommand::Revoke { id }) => {
            http::send(auth(
                client.delete(format!("{base}/v1/admin/devices/{}", seg(&id))),
            ))
            .await?;
            json!({ "revoked": id })
        }
        AdminCommand::Key(KeyCommand::Create { database }) => {
            let store = crate::runtime::open_store(&database.url).await?;
            // Admin keys need no code secret; a throwaway key never touches stored codes.
            let metrics = std::sync::Arc::new(pushback_server::Metrics::new());
            let guard = crate::runtime::guard(
                store,
                b"unused: admin keys only",
                pushback_guard::GuardSettings::default(),
                &metrics,
            )?;
            let key = guard.create_admin_key().await?;
            output::line("New admin key (shown once):");
            output::line("");
            output::line(&format!("    export PUSHBACK_ADMIN_KEY={key}"));
            return Ok(());
        }
    };
    output::json(&answer);
    Ok(())
}

/// Prints a just-created credential, which the server shows only this once.
fn print_secret_once(
    created: &serde_json::Value,
    what: &str,
    secret_name: &str,
    field: &str,
) -> anyhow::Result<()> {
    output::line(&format!(
        "{what} {} created. Its {secret_name} (shown once):",
        created["id"].as_str().unwrap_or("?")
    ));
    output::line("");
    output::line(&format!(
        "    {}",
        created[field]
            .as_str()
            .with_context(|| format!("no {field} in the answer"))?
    ));
    Ok(())
}
