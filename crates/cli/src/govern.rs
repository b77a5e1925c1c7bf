//! `pushback govern init|check|export`, `pushback assess` and `pushback report`:
//! the registry, posture checks and accountability reports of `pushback_govern`.
//!
//! Exit status: 0 clean, 1 when defects or failing checks were found, 2 on bad input
//! (every problem printed, each with file:line:column).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use pushback_govern::date::Day;
use pushback_govern::export::pushback::{PushbackPosture, RuleInfo};
use pushback_govern::export::{duo, entra, okta};
use pushback_govern::posture::{self, Inputs, Status};
use pushback_govern::registry::Registry;
use pushback_govern::timeline::Timeline;
use pushback_govern::{accountability, oscal, render};
use pushback_model::{Clock as _, SystemClock, Timestamp};
use pushback_watch::rule::RuleSet;

use crate::config::Config;
use crate::output;

#[derive(clap::Subcommand, Debug)]
pub enum GovernCommand {
    /// Write a commented starter registry.
    Init {
        /// Where to write it (`-`: standard output).
        #[arg(default_value = "registry.yaml")]
        file: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Validate a registry and report governance defects (exit 1 if any).
    Check {
        registry: PathBuf,
        /// The day to judge expiry against (YYYY-MM-DD); default: today (UTC).
        #[arg(long, value_parser = parse_day)]
        today: Option<Day>,
        /// text (one defect per line) or json.
        #[arg(long, default_value = "text")]
        output: CheckOutput,
    },
    /// Export the registry as OSCAL JSON.
    Export {
        registry: PathBuf,
        /// component-definition (controls with responsible roles) or poam (exceptions).
        #[arg(long)]
        oscal: OscalModel,
        #[arg(long, value_parser = parse_day)]
        today: Option<Day>,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CheckOutput {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OscalModel {
    ComponentDefinition,
    Poam,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum AssessOutput {
    Table,
    Json,
    Markdown,
    Html,
    /// OSCAL 1.1 assessment-results.
    Oscal,
}

#[derive(clap::Args, Debug)]
pub struct AssessArgs {
    /// The governance registry: owners, exceptions, applications.
    #[arg(long)]
    pub registry: Option<PathBuf>,
    /// pushback.toml to assess (the pushback checks are skipped without it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A directory of extra Sigma rules, as `pushback watch --rules`.
    #[arg(long, requires = "config")]
    pub rules: Option<PathBuf>,
    /// Entra: GET /policies/authenticationMethodsPolicy (Graph JSON).
    #[arg(long)]
    pub entra_auth_methods: Option<PathBuf>,
    /// Entra: GET /identity/conditionalAccess/policies (Graph JSON).
    #[arg(long)]
    pub entra_conditional_access: Option<PathBuf>,
    /// Okta: GET /api/v1/authenticators (with each one's methods, if exported).
    #[arg(long)]
    pub okta_authenticators: Option<PathBuf>,
    /// Okta: GET /api/v1/policies, each with its rules.
    #[arg(long)]
    pub okta_policies: Option<PathBuf>,
    /// Duo: GET /admin/v1/settings.
    #[arg(long)]
    pub duo_settings: Option<PathBuf>,
    /// Duo: GET /admin/v2/policies.
    #[arg(long)]
    pub duo_policies: Option<PathBuf>,
    /// The day exceptions are judged against (YYYY-MM-DD); default: today (UTC).
    #[arg(long, value_parser = parse_day)]
    pub today: Option<Day>,
    #[arg(long, default_value = "table")]
    pub output: AssessOutput,
    /// List the checks and exit.
    #[arg(long)]
    pub list: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ReportOutput {
    Markdown,
    Html,
    Json,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub from: Option<ReportFrom>,
    /// An incident timeline (YAML or JSON; see docs/govern.md).
    #[arg(long, required = true)]
    pub timeline: Option<PathBuf>,
    /// The governance registry.
    #[arg(long, required = true)]
    pub registry: Option<PathBuf>,
    #[arg(long, default_value = "markdown")]
    pub output: ReportOutput,
}

#[derive(clap::Subcommand, Debug)]
pub enum ReportFrom {
    /// The report of an incident in pushback's database (what `pushback incidents`
    /// lists), instead of a timeline file.
    Incident(IncidentReportArgs),
}

#[derive(clap::Args, Debug)]
pub struct IncidentReportArgs {
    /// The incident's id (`inc_…`).
    pub id: String,
    /// The governance registry.
    #[arg(long)]
    pub registry: PathBuf,
    #[command(flatten)]
    pub database: crate::DatabaseUrl,
    /// The registry application the incident reached; by default the one named like
    /// the pushback app its prompts came from (by id or name).
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long, default_value = "markdown")]
    pub output: ReportOutput,
}

fn parse_day(s: &str) -> Result<Day, String> {
    Day::parse(s).ok_or_else(|| format!("`{s}` is not a day (YYYY-MM-DD)"))
}

fn today(day: Option<Day>) -> Day {
    day.unwrap_or_else(|| Day::of(SystemClock.now()))
}

/// The instant documents are stamped with: the start of `--today`, else now.
fn stamp(day: Option<Day>) -> Timestamp {
    day.map_or_else(|| SystemClock.now(), Day::start)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Loads a registry; bad input prints every problem and yields exit 2.
fn load_registry(path: &Path) -> Result<Registry, ExitCode> {
    let text = match read(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Err(ExitCode::from(2));
        }
    };
    Registry::parse(&path.display().to_string(), &text).map_err(|e| {
        for p in &e.problems {
            eprintln!("{p}");
        }
        eprintln!(
            "error: {} problem(s) in {}",
            e.problems.len(),
            path.display()
        );
        ExitCode::from(2)
    })
}

pub fn run(command: GovernCommand) -> anyhow::Result<ExitCode> {
    match command {
        GovernCommand::Init { file, force } => {
            let text = pushback_govern::starter::STARTER_YAML;
            if file == Path::new("-") {
                output::text(text);
                return Ok(ExitCode::SUCCESS);
            }
            if file.exists() && !force {
                bail!("{} exists (use --force to overwrite)", file.display());
            }
            std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
            eprintln!(
                "wrote {}; edit it, then: pushback govern check {}",
                file.display(),
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        GovernCommand::Check {
            registry,
            today: day,
            output: format,
        } => {
            let registry = match load_registry(&registry) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            let defects = registry.defects(today(day));
            match format {
                CheckOutput::Json => output::json(&serde_json::to_value(&defects)?),
                CheckOutput::Text => {
                    for d in &defects {
                        output::line(&d.to_string());
                    }
                    let doc = &registry.doc;
                    eprintln!(
                        "{}: {} parties, {} roles, {} controls, {} applications, {} exceptions; {} governance defect(s)",
                        registry.file,
                        doc.parties.len(),
                        doc.roles.len(),
                        doc.controls.len(),
                        doc.applications.len(),
                        doc.exceptions.len(),
                        defects.len()
                    );
                }
            }
            Ok(if defects.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        GovernCommand::Export {
            registry,
            oscal: model,
            today: day,
        } => {
            let registry = match load_registry(&registry) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            let doc = match model {
                OscalModel::ComponentDefinition => {
                    oscal::component_definition(&registry, stamp(day))
                }
                OscalModel::Poam => oscal::poam(&registry, today(day), stamp(day)),
            };
            output::json(&doc);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads one export with its parser, naming the file in errors.
fn export<T>(
    path: &Option<PathBuf>,
    parse: fn(&str) -> Result<T, pushback_govern::export::ExportError>,
    problems: &mut Vec<String>,
) -> Option<T> {
    let path = path.as_ref()?;
    match read(path) {
        Ok(text) => match parse(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                None
            }
        },
        Err(e) => {
            problems.push(format!("{e:#}"));
            None
        }
    }
}

fn pushback_posture(config: &Path, rules_dir: Option<&Path>) -> anyhow::Result<PushbackPosture> {
    let config = Config::load(Some(config))?;
    let dir = rules_dir
        .map(Path::to_path_buf)
        .or_else(|| config.watch.rules_dir.as_ref().map(PathBuf::from));
    let rules = match &dir {
        Some(d) => RuleSet::builtin_with_dir(d)
            .with_context(|| format!("loading rules from {}", d.display()))?,
        None => RuleSet::builtin().context("loading the built-in rules")?,
    };
    let sinks = &config.watch.sinks;
    let mut sink_names = Vec::new();
    if sinks.stdout {
        sink_names.push("stdout".to_owned());
    }
    if let Some(f) = &sinks.jsonl {
        sink_names.push(format!("jsonl:{f}"));
    }
    if let Some(w) = &sinks.webhook {
        sink_names.push(format!("webhook:{}", w.url));
    }
    Ok(PushbackPosture {
        challenge_mode: config.challenge.mode.as_str().to_owned(),
        code_digits: config.challenge.code_digits,
        budget_prompts: config.policy.budget_prompts,
        budget_window_secs: config.policy.budget_window_secs,
        lockout_denies: config.policy.lockout_denies,
        not_me_lock_secs: config.policy.not_me_lock_secs,
        sinks: sink_names,
        rules: rules
            .summaries()
            .filter(|r| r.reports)
            .map(|r| RuleInfo {
                name: r.name.to_owned(),
                title: r.title.to_owned(),
                tags: r.tags.to_vec(),
            })
            .collect(),
    })
}

pub fn assess(args: AssessArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        for c in posture::CHECKS {
            output::line(&format!(
                "{:<24} {:<8} {}",
                c.id,
                c.severity.as_str(),
                c.title
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let registry = match &args.registry {
        Some(path) => match load_registry(path) {
            Ok(r) => Some(r),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let mut problems = Vec::new();
    let pushback = match &args.config {
        Some(path) => match pushback_posture(path, args.rules.as_deref()) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.push(format!("{e:#}"));
                None
            }
        },
        None => None,
    };
    let inputs = Inputs {
        pushback,
        entra_auth_methods: export(
            &args.entra_auth_methods,
            entra::AuthMethodsPolicy::parse,
            &mut problems,
        ),
        entra_conditional_access: export(
            &args.entra_conditional_access,
            entra::ConditionalAccess::parse,
            &mut problems,
        ),
        okta_authenticators: export(
            &args.okta_authenticators,
            okta::Authenticators::parse,
            &mut problems,
        ),
        okta_policies: export(&args.okta_policies, okta::Policies::parse, &mut problems),
        duo_settings: export(&args.duo_settings, duo::Settings::parse, &mut problems),
        duo_policies: export(&args.duo_policies, duo::Policies::parse, &mut problems),
    };
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("error: {p}");
        }
        return Ok(ExitCode::from(2));
    }
    let assessment = posture::assess(&inputs, registry.as_ref(), today(args.today));
    let text = match args.output {
        AssessOutput::Table => render::assessment_table(&assessment),
        AssessOutput::Json => render::assessment_json(&assessment),
        AssessOutput::Markdown => render::assessment_markdown(&assessment),
        AssessOutput::Html => render::assessment_html(&assessment),
        AssessOutput::Oscal => serde_json::to_string_pretty(&oscal::assessment_results(
            registry.as_ref(),
            &assessment,
            stamp(args.today),
        ))?,
    };
    output::text(&text);
    let failing = assessment.findings.iter().any(|f| f.status == Status::Fail);
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let (timeline_path, registry_path) = match (args.from, args.timeline, args.registry) {
        (Some(ReportFrom::Incident(incident)), _, _) => return report_incident(incident).await,
        (None, Some(t), Some(r)) => (t, r),
        _ => bail!("pass --timeline and --registry, or `report incident ID --registry R`"),
    };
    let registry = match load_registry(&registry_path) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let text = match read(&timeline_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let timeline = match Timeline::parse(&timeline_path.display().to_string(), &text) {
        Ok(t) => t,
        Err(e) => {
            for p in &e.problems {
                eprintln!("{p}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let name = timeline_path.display().to_string();
    let unresolved = timeline.unresolved(&name, &text, &registry);
    if !unresolved.is_empty() {
        for p in &unresolved {
            eprintln!("{p}");
        }
        return Ok(ExitCode::from(2));
    }
    print_report(&registry, &timeline, args.output)
}

fn print_report(
    registry: &Registry,
    timeline: &Timeline,
    format: ReportOutput,
) -> anyhow::Result<ExitCode> {
    let report = accountability::report(registry, timeline);
    let text = match format {
        ReportOutput::Markdown => render::report_markdown(&report),
        ReportOutput::Html => render::report_html(&report),
        ReportOutput::Json => render::report_json(&report),
    };
    output::text(&text);
    Ok(ExitCode::SUCCESS)
}

/// `pushback report incident ID`: the incident read from the database, turned into a
/// timeline (see [`crate::incident_timeline`]), reported like a timeline file.
async fn report_incident(args: IncidentReportArgs) -> anyhow::Result<ExitCode> {
    let registry = match load_registry(&args.registry) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let url = &args.database.url;
    if let Some(path) = missing_sqlite_file(url) {
        eprintln!("error: no database at {path}: pass --database-url or PUSHBACK_DATABASE_URL");
        return Ok(ExitCode::from(2));
    }
    let stores = crate::runtime::open_stores(url, None, None).await?;
    let Some(detail) = stores
        .incidents
        .incident(&args.id)
        .await
        .with_context(|| format!("reading incident {} from {url}", args.id))?
    else {
        eprintln!("error: no incident {} in {url}", args.id);
        return Ok(ExitCode::from(2));
    };
    let app = match args.app {
        Some(app) => app,
        None => match prompted_app(&registry, stores.guard.as_ref(), &detail).await? {
            Some(app) => app,
            None => {
                eprintln!(
                    "error: incident {}: none of its prompts names an application; pass --app with a registry application id",
                    args.id
                );
                return Ok(ExitCode::from(2));
            }
        },
    };
    let timeline = crate::incident_timeline::timeline(&detail, app);
    // The timeline has no file: the loader's messages are told against the incident.
    let name = format!("incident {} in {url}", args.id);
    let text = serde_json::to_string_pretty(&timeline)?;
    let unresolved = timeline.unresolved(&name, &text, &registry);
    if !unresolved.is_empty() {
        for p in &unresolved {
            eprintln!("error: {name}: {}", p.message);
        }
        eprintln!("(pass --app with an application id from {})", registry.file);
        return Ok(ExitCode::from(2));
    }
    print_report(&registry, &timeline, args.output)
}

/// The file a `sqlite:` URL names when it does not exist: a report only reads, and must
/// not leave an empty database behind.
fn missing_sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:" && !Path::new(path).exists()).then_some(path)
}

/// The registry application of the pushback app the incident's prompts came from most:
/// one whose id or name is the app's name, else the app's own name (which the registry
/// check then reports as unknown).
async fn prompted_app(
    registry: &Registry,
    guard: &dyn pushback_guard::store::GuardStore,
    detail: &pushback_respond::IncidentDetail,
) -> anyhow::Result<Option<String>> {
    let Some(app_id) = crate::incident_timeline::prompted_apps(detail)
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let name = guard
        .app(&app_id)
        .await
        .with_context(|| format!("reading app {app_id}"))?
        .map_or_else(|| app_id.clone(), |a| a.name);
    let known = registry
        .doc
        .applications
        .iter()
        .find(|a| a.id == name || a.name.eq_ignore_ascii_case(&name));
    Ok(Some(known.map_or(name, |a| a.id.clone())))
}
