//! The `pushback` binary: serve, watch, admin, incidents, device, audit, bench, config, govern,
//! assess, report.

mod admin;
mod audit;
mod bench;
mod config;
mod device;
mod duration;
mod govern;
mod http;
mod incident_timeline;
mod incidents;
mod output;
mod runtime;
mod serve;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// jemalloc rather than glibc's malloc: the server and the loader spent 12–13% of
/// their CPU in glibc's malloc and free (consolidating and unlinking chunks). With
/// jemalloc, guard's lifecycles cost 5–8% less CPU and watch runs faster, for 1.5–3.5
/// MiB more peak RSS (BENCHMARKS.md, ninth session).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(
    name = "pushback",
    version,
    about = "Push MFA that resists prompt bombing."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the approval service (embedded SQLite by default).
    Serve {
        /// A pushback.toml; without one, the defaults (`pushback config default`).
        #[arg(long, env = "PUSHBACK_CONFIG")]
        config: Option<PathBuf>,
        /// sqlite://file.db or postgres://…; overrides the config file.
        #[arg(long, env = "PUSHBACK_DATABASE_URL")]
        database_url: Option<String>,
        /// Address to listen on; overrides the config file.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Administer a running server: apps, users, enrolment links, devices, unlocks.
    Admin {
        #[command(flatten)]
        server: http::ServerArgs,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Incidents the response playbook opened: list, show, acknowledge, resolve.
    Incidents {
        #[command(flatten)]
        server: http::ServerArgs,
        #[command(subcommand)]
        command: incidents::IncidentsCommand,
    },
    /// The reference authenticator: enrol, list pending challenges, answer them.
    Device {
        /// Where this device's key lives (created with mode 0600).
        #[arg(
            long,
            env = "PUSHBACK_DEVICE_FILE",
            default_value = "pushback-device.json"
        )]
        key_file: PathBuf,
        #[command(subcommand)]
        command: device::DeviceCommand,
    },
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Detect push bombing in Okta, Entra ID and Duo logs (exit 1 when anything is found).
    Watch(watch::WatchArgs),
    /// The governance registry: owners, controls, applications, exceptions.
    #[command(subcommand)]
    Govern(govern::GovernCommand),
    /// Posture checks over pushback's configuration and exported IdP configuration,
    /// each finding with its accountable owner (exit 1 when a check fails).
    Assess(govern::AssessArgs),
    /// The accountability report of an incident: who answers for what.
    Report(govern::ReportArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print a commented pushback.toml holding every default.
    Default,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Recompute the hash chain and name the first broken link (exit 1 if any).
    Verify {
        #[command(flatten)]
        database: DatabaseUrl,
    },
}

/// Commands that open the database directly rather than asking a running server.
#[derive(clap::Args, Debug)]
pub struct DatabaseUrl {
    /// sqlite://file.db or postgres://…
    #[arg(
        long = "database-url",
        env = "PUSHBACK_DATABASE_URL",
        default_value = "sqlite://pushback.db"
    )]
    pub url: String,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Full lifecycles over HTTP against an in-process server, or a running one (--url).
    Guard {
        #[arg(long, default_value_t = 1000)]
        users: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value = "10s", value_parser = duration::parse)]
        duration: std::time::Duration,
        /// Default: a fresh SQLite file in a scratch directory. PostgreSQL runs in a
        /// fresh schema.
        #[arg(long, conflicts_with = "url")]
        database_url: Option<String>,
        /// The in-process server's PostgreSQL pool, as `[database] max_connections`
        /// (default: twice the cores plus two).
        #[arg(long, conflicts_with = "url", value_parser = clap::value_parser!(u32).range(1..))]
        max_connections: Option<u32>,
        /// Load a running server instead (`pushback serve` in another process), which
        /// measures it apart from the loader. The bench creates an app and --users users
        /// named bench-<run id>-…, and leaves them there: use a scratch server.
        #[arg(long, requires = "key")]
        url: Option<String>,
        /// The admin key of the server --url names.
        #[arg(long, env = "PUSHBACK_ADMIN_KEY", hide_env_values = true)]
        key: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Detection throughput over a generated Okta log with known floods.
    #[command(subcommand)]
    Watch(bench::watch::Command),
    /// From a "not me" answer, or a flood posted to the ingest API, to the revoke call
    /// arriving at a local Okta.
    Respond {
        /// Users who each answer one prompt "not me".
        #[arg(long, default_value_t = 1000)]
        reports: usize,
        /// Users whose Okta flood-then-success is posted to the ingest API.
        #[arg(long, default_value_t = 200)]
        floods: usize,
        /// Devices answering at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// How late a posted event may arrive and still be judged in order
        /// (`[watch] disorder_tolerance_ms`); a finding waits this long for stragglers.
        #[arg(long, default_value = "250ms", value_parser = duration::parse)]
        disorder_tolerance: std::time::Duration,
        /// Default: a fresh SQLite file in a scratch directory. PostgreSQL runs in a
        /// fresh schema.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PUSHBACK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            config,
            database_url,
            listen,
        } => {
            init_logging("info");
            let mut config = config::Config::load(config.as_deref())?;
            if let Some(url) = database_url {
                config.database.url = url;
            }
            if let Some(listen) = listen {
                config.server.listen = listen;
            }
            serve::run(config).await?;
        }
        Command::Config(ConfigCommand::Default) => output::line(config::DEFAULT_TOML.trim_end()),
        Command::Admin { server, command } => {
            init_logging("warn");
            admin::run(&server, command).await?;
        }
        Command::Incidents { server, command } => {
            init_logging("warn");
            incidents::run(&server, command).await?;
        }
        Command::Device { key_file, command } => {
            init_logging("warn");
            device::run(&key_file, command).await?;
        }
        Command::Audit(AuditCommand::Verify { database }) => {
            init_logging("warn");
            if !audit::verify(&database.url).await? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Watch(args) => {
            init_logging("warn");
            return watch::run(args);
        }
        Command::Govern(command) => {
            init_logging("warn");
            return govern::run(command);
        }
        Command::Assess(args) => {
            init_logging("warn");
            return govern::assess(args);
        }
        Command::Report(args) => {
            init_logging("warn");
            return govern::report(args).await;
        }
        Command::Bench(BenchCommand::Watch(command)) => {
            init_logging("warn");
            if !bench::watch::run(command)? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Bench(BenchCommand::Guard {
            users,
            concurrency,
            duration,
            database_url,
            max_connections,
            url,
            key,
            json,
        }) => {
            init_logging("warn");
            let target = match (url, key) {
                (Some(url), Some(admin_key)) => Some(bench::guard::Target { url, admin_key }),
                _ => None,
            };
            bench::guard::run(bench::guard::GuardBench {
                users,
                concurrency,
                duration,
                database_url,
                max_connections,
                target,
                json,
            })
            .await?;
        }
        Command::Bench(BenchCommand::Respond {
            reports,
            floods,
            concurrency,
            disorder_tolerance,
            database_url,
            json,
        }) => {
            // Actions the bench's users make fail on purpose (no guard account for
            // the flooded Okta users): only errors are worth printing.
            init_logging("error");
            bench::respond::run(bench::respond::RespondBench {
                reports,
                floods,
                concurrency,
                disorder_tolerance,
                database_url,
                json,
            })
            .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
