//! Real servers for integration tests. Nothing is assumed to be running:
//! [`infra`] starts the broker and ClickHouse with the project's own script
//! (`deploy/local/up --infra`, idempotent, serialised with `flock`) and reads
//! their endpoints from `deploy/local/status`. [`PrivateInfra`] starts a
//! separate pair under its own state directory and ports, for tests that
//! stop servers on purpose. [`config_doc`] checks the configuration
//! reference against the code.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub mod config_doc;

use fiducia_proto::topics::Topics;
use fiducia_runtime::kafka::admin::ensure_pipeline_topics;

/// Endpoints of a running broker and ClickHouse server.
#[derive(Debug, Clone)]
pub struct Infra {
    /// Kafka bootstrap servers, `host:port`.
    pub brokers: String,
    /// ClickHouse HTTP interface, `http://host:port`.
    pub clickhouse_url: String,
}

/// The repository root (this crate lives in `proto/testkit/`).
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("proto/testkit/ has a grandparent")
        .to_path_buf()
}

/// A name no other test uses: `prefix_<uuid v7 simple>`.
#[must_use]
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// A port free right now on 127.0.0.1.
///
/// # Panics
/// When no port can be bound at all.
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// The shared broker and ClickHouse, started on first use (a broker already
/// running on the configured port is used as it is). A broker the tests
/// start keeps its data in memory: Tansu 0.6's sqlite engine can lose its
/// storage task for good (a panic in its idempotent-producer check, then
/// `Storage(UnableToSend)` to every request), which failed whole test runs.
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
    /// Starts both servers on free ports under a fresh state directory.
    ///
    /// # Panics
    /// When the servers cannot be started.
    #[must_use]
    pub fn start() -> Self {
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
            // Tansu waits for its clients to leave on SIGTERM; tests that stop
            // it on purpose do not need to wait the default 15 s.
            ("FIDUCIA_STOP_TIMEOUT", "3".to_owned()),
            // Tansu 0.6's sqlite engine loses its storage task under group
            // churn (UnableToSend, then a panic in update_group); memory
            // storage is what SPEC section 10 gives tests.
            ("FIDUCIA_KAFKA_STORAGE", "memory".to_owned()),
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
        let _ = Command::new(repo_root().join("deploy/local/down"))
            .envs(&self.env)
            .status();
        // A failed test keeps the servers' logs and data for a post-mortem.
        if std::thread::panicking()
            && let Some(state) = self.state.take()
        {
            eprintln!(
                "test failed: broker and ClickHouse state kept in {}",
                state.keep().display()
            );
        }
    }
}

/// The path of a workspace binary (`fiducia-collector`, ...), built first if
/// needed (cargo is quick when it is up to date), in the profile the tests run in.
///
/// # Panics
/// When the build fails.
#[must_use]
pub fn service_binary(name: &str) -> PathBuf {
    let root = repo_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--bin", name])
        .current_dir(&root)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --bin {name} failed");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("debug").join(name)
}

/// Starts workspace binary `name` with `env` (and none of the caller's
/// `FIDUCIA_*` variables) and waits for it to stop, as a service does when
/// its configuration is refused: its exit status and standard error.
///
/// # Panics
/// When it is still running after 60 s (it started), or cannot be run.
#[must_use]
pub fn start_up_failure(name: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut command = Command::new(service_binary(name));
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("FIDUCIA_") {
            command.env_remove(var);
        }
    }
    let mut child = command
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the service");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the service") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} with {env:?} started instead of refusing its configuration");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    (status, stderr)
}

/// Creates a test's own topics on `brokers`.
///
/// # Panics
/// When the broker refuses.
pub async fn create_topics(brokers: &str, topics: &Topics, partitions: i32) {
    ensure_pipeline_topics(brokers, topics, partitions)
        .await
        .expect("create test topics");
}

fn start(env: &HashMap<String, String>) -> Infra {
    run_script("up", &["--infra"], env);
    let status = Command::new(repo_root().join("deploy/local/status"))
        .envs(env)
        .output()
        .expect("run deploy/local/status");
    let text = String::from_utf8_lossy(&status.stdout);
    let url_of = |name: &str| {
        text.lines()
            .find_map(|line| {
                let mut parts = line.split_whitespace();
                (parts.next() == Some(name) && parts.next() == Some("up"))
                    .then(|| parts.next().map(str::to_owned))
                    .flatten()
            })
            .unwrap_or_else(|| panic!("{name} is not up after deploy/local/up:\n{text}"))
    };
    Infra {
        brokers: url_of("kafka").trim_start_matches("tcp://").to_owned(),
        clickhouse_url: url_of("clickhouse"),
    }
}

fn run_script(script: &str, args: &[&str], env: &HashMap<String, String>) {
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

/// A producer for tests to feed topics with, configured as the services'
/// (idempotent, `acks=all`) but waiting up to 30 s for an acknowledgement:
/// tests share a busy machine, and a slow broker must not fail them.
///
/// # Panics
/// When librdkafka rejects the configuration.
pub fn producer(brokers: &str, client_id: &str) -> rdkafka::producer::FutureProducer {
    let settings = fiducia_runtime::kafka::ProducerSettings {
        message_timeout: std::time::Duration::from_secs(30),
        ..fiducia_runtime::kafka::ProducerSettings::default()
    };
    fiducia_runtime::kafka::producer(brokers, client_id, &settings).expect("a test producer")
}
