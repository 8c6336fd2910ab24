//! The broker and ClickHouse the tests use. Nothing is assumed to be
//! running: [`infra`] starts the shared pair with the project's own script
//! (`deploy/local/up --infra`, idempotent, serialised with `flock`) and reads
//! their endpoints from `deploy/local/status --json`. [`PrivateInfra`]
//! starts a separate pair under its own state directory and ports, for tests
//! that stop servers on purpose.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::{free_port, repo_root};

/// Endpoints of a running broker and ClickHouse server.
#[derive(Debug, Clone)]
pub struct Infra {
    /// Kafka bootstrap servers, `host:port`.
    pub brokers: String,
    /// ClickHouse HTTP interface, `http://host:port`.
    pub clickhouse_url: String,
}

/// The shared broker and ClickHouse, started on first use (a broker already
/// running on the configured port is used as it is). A broker the tests
/// start keeps its data in memory: fast, and what a test that shares the
/// broker needs (a test that stops the broker has a [`PrivateInfra`]).
///
/// # Panics
/// When the servers cannot be started: the test cannot run.
pub fn infra() -> &'static Infra {
    static INFRA: OnceLock<Infra> = OnceLock::new();
    INFRA.get_or_init(|| {
        start(&HashMap::from([(
            "FIDUCIA_KAFKA_STORAGE".to_owned(),
            "memory".to_owned(),
        )]))
    })
}

/// A broker and ClickHouse of a test's own, stopped on drop.
#[derive(Debug)]
pub struct PrivateInfra {
    /// Its endpoints.
    pub infra: Infra,
    env: HashMap<String, String>,
    state: Option<tempfile::TempDir>,
}

impl PrivateInfra {
    /// Starts both servers on free ports under a fresh state directory, the
    /// broker on memory storage.
    ///
    /// # Panics
    /// When the servers cannot be started.
    #[must_use]
    pub fn start() -> Self {
        Self::start_on("memory")
    }

    /// [`Self::start`] with the broker on postgres storage (the local
    /// runner's default), which keeps its data across a restart.
    ///
    /// # Panics
    /// When the servers cannot be started.
    #[must_use]
    pub fn start_durable() -> Self {
        Self::start_on("postgres")
    }

    fn start_on(storage: &str) -> Self {
        let state = tempfile::TempDir::with_prefix("fiducia-test").expect("create a temp dir");
        let env: HashMap<String, String> = [
            ("FIDUCIA_STATE_DIR", state.path().display().to_string()),
            ("FIDUCIA_KAFKA_PORT", free_port().to_string()),
            ("FIDUCIA_CLICKHOUSE_HTTP_PORT", free_port().to_string()),
            ("FIDUCIA_CLICKHOUSE_TCP_PORT", free_port().to_string()),
            (
                "FIDUCIA_CLICKHOUSE_INTERSERVER_PORT",
                free_port().to_string(),
            ),
            ("FIDUCIA_POSTGRES_PORT", free_port().to_string()),
            // Tansu waits for its clients to leave on SIGTERM; tests that stop
            // it on purpose do not need to wait the default 15 s.
            ("FIDUCIA_STOP_TIMEOUT", "3".to_owned()),
            ("FIDUCIA_KAFKA_STORAGE", storage.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let infra = start(&env);
        Self {
            infra,
            env,
            state: Some(state),
        }
    }

    /// Runs `deploy/local/<script> <args>` against this infra.
    ///
    /// # Panics
    /// When the script fails.
    pub fn script(&self, script: &str, args: &[&str]) {
        run_script(script, args, &self.env);
    }
}

impl Drop for PrivateInfra {
    fn drop(&mut self) {
        stop(&[], &self.env, &mut self.state, "broker and ClickHouse");
    }
}

/// `deploy/local/down <args>` with `env`; a failed test keeps the servers'
/// logs and data (`state`, the servers called `what`) for a post-mortem.
pub(crate) fn stop(
    args: &[&str],
    env: &HashMap<String, String>,
    state: &mut Option<tempfile::TempDir>,
    what: &str,
) {
    let _ = Command::new(repo_root().join("deploy/local/down"))
        .args(args)
        .envs(env)
        .status();
    if std::thread::panicking()
        && let Some(state) = state.take()
    {
        eprintln!(
            "test failed: {what} state kept in {}",
            state.keep().display()
        );
    }
}

/// One component's line of `deploy/local/status --json`.
#[derive(Deserialize)]
struct Component {
    state: String,
    url: String,
}

fn start(env: &HashMap<String, String>) -> Infra {
    run_script("up", &["--infra"], env);
    let url_of = urls(env);
    Infra {
        brokers: url_of("kafka").trim_start_matches("tcp://").to_owned(),
        clickhouse_url: url_of("clickhouse"),
    }
}

/// The URL of each component `deploy/local/status --json` reports up;
/// the returned function panics for one that is not.
pub(crate) fn urls(env: &HashMap<String, String>) -> impl Fn(&str) -> String + use<> {
    let output = Command::new(repo_root().join("deploy/local/status"))
        .arg("--json")
        .envs(env)
        .output()
        .expect("run deploy/local/status --json");
    let status: HashMap<String, Component> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("deploy/local/status --json: {e}"));
    move |name: &str| match status.get(name) {
        Some(c) if c.state == "up" => c.url.clone(),
        _ => panic!("{name} is not up after deploy/local/up"),
    }
}

pub(crate) fn run_script(script: &str, args: &[&str], env: &HashMap<String, String>) {
    let root = repo_root();
    let state = env
        .get("FIDUCIA_STATE_DIR")
        .map_or_else(|| root.join(".local"), PathBuf::from);
    std::fs::create_dir_all(&state).expect("create state dir");
    // One `up` at a time per state dir: test binaries run in parallel. `-o`
    // keeps the lock out of the servers `up` leaves running, or it would be
    // held for as long as they live.
    let status = Command::new("flock")
        .arg("-o")
        .arg(state.join(".testkit.lock"))
        .arg(root.join("deploy/local").join(script))
        .args(args)
        .envs(env)
        .status()
        .expect("run flock deploy/local/<script>");
    assert!(
        status.success(),
        "deploy/local/{script} {args:?} failed: {status}"
    );
}
