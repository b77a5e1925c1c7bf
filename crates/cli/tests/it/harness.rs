//! Running the real `pushback` binary: one server in a scratch directory, client
//! commands against it, and everything any of them prints kept for the canary.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pushback");

/// Lines of server output read while looking for the banner before giving up.
const BANNER_LINES: usize = 50;
/// How long to wait for any one banner line (a generous bound, not a synchronisation).
const LINE_WAIT: Duration = Duration::from_secs(120);
/// `/healthz` polls before giving up, and the pause between them.
const HEALTH_TRIES: usize = 200;
const HEALTH_PAUSE: Duration = Duration::from_millis(50);

/// What one command did.
#[derive(Debug)]
pub struct Run {
    pub args: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code.
    #[track_caller]
    pub fn exits(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "`pushback {}` exit code\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn success(self) -> Self {
        self.exits(0)
    }

    /// The stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`pushback {}` did not print JSON ({e}):\n{}",
                self.args, self.stdout
            )
        })
    }
}

/// Some text one process printed, named for the canary's report.
pub struct Printed {
    pub what: String,
    pub text: String,
}

/// The server's output once it has stopped.
pub struct ServerOutput {
    /// Every stdout line but the one that shows the admin key.
    pub stdout: String,
    pub stderr: String,
}

/// A `pushback serve` child in its own scratch directory; killed on drop.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub admin_key: String,
    child: Option<Child>,
    /// The `--database-url` it runs on; its directory's SQLite file when `None`.
    database: Option<String>,
    stdout_lines: mpsc::Receiver<String>,
    stdout_thread: Option<JoinHandle<()>>,
    stderr_thread: Option<JoinHandle<String>>,
    /// Stdout lines read so far, less the admin key line.
    seen_stdout: Vec<String>,
    /// What servers stopped by [`Server::restart`] wrote on stderr.
    earlier_stderr: String,
    /// The output of every client command run through [`Server::cli`].
    pub printed: Vec<Printed>,
}

impl Server {
    /// Starts `pushback serve --listen 127.0.0.1:0` with maximal logging and waits until
    /// it has printed its banner and answers `/healthz`.
    pub fn start(api: &Api) -> Self {
        Self::start_with(api, None, None)
    }

    /// Like [`Server::start`], on the database at `database_url` (`--database-url`).
    pub fn start_on(api: &Api, database_url: &str) -> Self {
        Self::start_with(api, None, Some(database_url))
    }

    /// Like [`Server::start`], with `config` written to `pushback.toml` and passed as
    /// `--config`.
    pub fn start_with_config(api: &Api, config: &str) -> Self {
        Self::start_with(api, Some(config), None)
    }

    fn start_with(api: &Api, config: Option<&str>, database: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("a scratch directory");
        if let Some(config) = config {
            std::fs::write(dir.path().join("pushback.toml"), config).expect("writing the config");
        }
        let database = database.map(str::to_owned);
        let (child, stdout_lines, stdout_thread, stderr_thread) =
            spawn(dir.path(), database.as_deref());
        let mut server = Self {
            dir,
            url: String::new(),
            admin_key: String::new(),
            child: Some(child),
            database,
            stdout_lines,
            stdout_thread: Some(stdout_thread),
            stderr_thread: Some(stderr_thread),
            seen_stdout: Vec::new(),
            earlier_stderr: String::new(),
            printed: Vec::new(),
        };
        server.read_banner();
        server.wait_healthy(api);
        server
    }

    /// Stops the server in an orderly way (SIGTERM, as a service manager does) and
    /// starts it again in the same directory, on the same database and configuration.
    pub fn restart(&mut self, api: &Api) {
        if let Some(mut child) = self.child.take() {
            let terminated = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .expect("running kill");
            assert!(terminated.success());
            let status = child.wait().expect("the server ends");
            assert!(status.success(), "an orderly stop exits 0: {status}");
        }
        if let Some(t) = self.stdout_thread.take() {
            let _ = t.join();
        }
        self.seen_stdout.extend(self.stdout_lines.try_iter());
        if let Some(t) = self.stderr_thread.take() {
            self.earlier_stderr.push_str(&t.join().unwrap_or_default());
        }
        let (child, stdout_lines, stdout_thread, stderr_thread) =
            spawn(self.dir.path(), self.database.as_deref());
        self.child = Some(child);
        self.stdout_lines = stdout_lines;
        self.stdout_thread = Some(stdout_thread);
        self.stderr_thread = Some(stderr_thread);
        let key = std::mem::take(&mut self.admin_key);
        self.url.clear();
        self.read_banner_until(|s| !s.url.is_empty());
        self.admin_key = key;
        self.wait_healthy(api);
    }

    fn read_banner(&mut self) {
        self.read_banner_until(|s| !s.url.is_empty() && !s.admin_key.is_empty());
        assert!(
            self.admin_key.starts_with("pba."),
            "admin key {:?}",
            self.admin_key
        );
    }

    /// Reads banner lines (the listen address, a first start's admin key) until `done`.
    fn read_banner_until(&mut self, done: impl Fn(&Self) -> bool) {
        for _ in 0..BANNER_LINES {
            let line = match self.stdout_lines.recv_timeout(LINE_WAIT) {
                Ok(line) => line,
                Err(e) => {
                    let out = self.stop();
                    panic!(
                        "the server stopped talking before its banner ({e}); stdout:\n{}\nstderr:\n{}",
                        out.stdout, out.stderr
                    );
                }
            };
            if let Some(key) = line.trim().strip_prefix("export PUSHBACK_ADMIN_KEY=") {
                self.admin_key = key.to_owned();
            } else {
                if let Some(addr) = line
                    .strip_prefix("pushback listening on http://")
                    .and_then(|rest| rest.split_whitespace().next())
                {
                    self.url = format!("http://{addr}");
                }
                self.seen_stdout.push(line);
            }
            if done(self) {
                return;
            }
        }
        panic!("no `pushback listening on http://ADDR` banner line");
    }

    fn wait_healthy(&self, api: &Api) {
        for _ in 0..HEALTH_TRIES {
            if let Ok((200, body)) = api.request(
                reqwest::Method::GET,
                &format!("{}/healthz", self.url),
                None,
                None,
            ) {
                assert_eq!(body, "ok");
                return;
            }
            std::thread::sleep(HEALTH_PAUSE);
        }
        panic!("{} never answered /healthz", self.url);
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The database the server runs on: `sqlite://<dir>/pushback.db`, the one it made
    /// in its directory, unless it was started on another.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.path("pushback.db").display()))
    }

    fn command(&self, args: &[&str]) -> Run {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PUSHBACK_URL", &self.url)
            .env("PUSHBACK_ADMIN_KEY", &self.admin_key)
            .env("PUSHBACK_LOG", "trace")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("running pushback");
        Run {
            args: args.join(" "),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a client command; all it prints goes to the canary.
    pub fn cli(&mut self, args: &[&str]) -> Run {
        let run = self.command(args);
        self.printed.push(Printed {
            what: format!("stdout of `pushback {}`", run.args),
            text: run.stdout.clone(),
        });
        self.printed.push(Printed {
            what: format!("stderr of `pushback {}`", run.args),
            text: run.stderr.clone(),
        });
        run
    }

    /// Runs a client command whose job is to print a secret: only its stderr goes to the
    /// canary.
    pub fn cli_printing_a_secret(&mut self, args: &[&str]) -> Run {
        let run = self.command(args);
        self.printed.push(Printed {
            what: format!("stderr of `pushback {}`", run.args),
            text: run.stderr.clone(),
        });
        run
    }

    /// Kills the server and returns everything it printed (idempotent).
    pub fn stop(&mut self) -> ServerOutput {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(t) = self.stdout_thread.take() {
            let _ = t.join();
        }
        let stderr = self.earlier_stderr.clone()
            + &self
                .stderr_thread
                .take()
                .map(|t| t.join().unwrap_or_default())
                .unwrap_or_default();
        let admin_line = format!("export PUSHBACK_ADMIN_KEY={}", self.admin_key);
        for line in self.stdout_lines.try_iter() {
            if !line.contains(&admin_line) {
                self.seen_stdout.push(line);
            }
        }
        ServerOutput {
            stdout: self.seen_stdout.join("\n"),
            stderr,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `pushback serve --listen 127.0.0.1:0` in `dir` (with `--config
/// pushback.toml` when the file is there, and `--database-url` when given), with
/// maximal logging: the child, its stdout lines, and the threads reading its output.
fn spawn(
    dir: &Path,
    database: Option<&str>,
) -> (
    Child,
    mpsc::Receiver<String>,
    JoinHandle<()>,
    JoinHandle<String>,
) {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    if dir.join("pushback.toml").exists() {
        args.extend(["--config", "pushback.toml"]);
    }
    if let Some(url) = database {
        args.extend(["--database-url", url]);
    }
    let mut child = Command::new(BIN)
        .args(&args)
        .current_dir(dir)
        .env_clear()
        .env("PUSHBACK_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning pushback serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, stdout_lines) = mpsc::channel();
    let stdout_thread = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr_thread = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = BufReader::new(stderr).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });
    (child, stdout_lines, stdout_thread, stderr_thread)
}

/// A PostgreSQL schema of its own for one test, made with pushback's tables and dropped
/// when the test ends. `None` where `PUSHBACK_TEST_POSTGRES_URL` is unset (said on
/// stderr); in CI that is a failure instead.
pub struct ScratchPostgres {
    /// A URL whose sessions work in the schema (`search_path`).
    pub url: String,
    base: String,
    schema: String,
}

impl ScratchPostgres {
    pub fn new() -> Option<Self> {
        let base = match std::env::var("PUSHBACK_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var_os("CI").is_some() => {
                panic!("CI must run the PostgreSQL tests: set PUSHBACK_TEST_POSTGRES_URL")
            }
            _ => {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPED PostgreSQL: PUSHBACK_TEST_POSTGRES_URL is unset ***\n"
                );
                return None;
            }
        };
        let token = pushback_model::random_token(&pushback_model::SystemEntropy::new(), 8);
        let digest = pushback_model::sha256(token.as_bytes());
        let schema: String = std::iter::once("cli_".to_owned())
            .chain(digest[..6].iter().map(|b| format!("{b:02x}")))
            .collect();
        block_on(pushback_store::PostgresStore::connect_in_schema(
            &base,
            Some(&schema),
        ))
        .expect("a scratch schema on the test PostgreSQL");
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        Some(Self { url, base, schema })
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        let _ = block_on(pushback_store::PostgresStore::drop_schema(
            &self.base,
            &self.schema,
        ));
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// A small blocking HTTP client over reqwest.
pub struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Api {
    pub fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Self { rt, http }
    }

    /// Sends one request; returns the status and the body.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        bearer: Option<&str>,
        json: Option<&Value>,
    ) -> reqwest::Result<(u16, String)> {
        let mut req = self.http.request(method, url);
        if let Some(key) = bearer {
            req = req.bearer_auth(key);
        }
        if let Some(body) = json {
            req = req.json(body);
        }
        self.rt.block_on(async move {
            let response = req.send().await?;
            let status = response.status().as_u16();
            Ok((status, response.text().await?))
        })
    }

    /// A request whose answer must be `status` with a JSON body.
    #[track_caller]
    pub fn json(
        &self,
        method: reqwest::Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
        status: u16,
    ) -> Value {
        let (got, text) = self
            .request(method, url, bearer, body)
            .expect("the request reaches the server");
        assert_eq!(got, status, "{url}: {text}");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{url} answered non-JSON ({e}): {text}"))
    }
}

/// File mode bits, on unix.
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("the file exists")
        .permissions()
        .mode()
        & 0o777
}
