//! Service processes and ClickHouse queries for the tests that run the
//! built binaries against real servers.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fiducia_testkit::service_binary;

/// One service process; killed on drop.
pub struct Service {
    name: &'static str,
    env: HashMap<String, String>,
    child: Child,
}

impl Service {
    pub fn start(name: &'static str, env: &HashMap<String, String>) -> Self {
        let log = std::fs::File::create(
            std::env::temp_dir().join(format!("fiducia-e2e-{name}-{}.log", std::process::id())),
        )
        .expect("log file");
        let child = Command::new(service_binary(&format!("fiducia-{name}")))
            .envs(env)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn service");
        Self {
            name,
            env: env.clone(),
            child,
        }
    }

    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    pub fn restart(&mut self) {
        *self = Self::start(self.name, &self.env);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct ClickHouse {
    pub url: String,
    pub client: reqwest::Client,
}

impl ClickHouse {
    pub async fn query(&self, sql: &str) -> String {
        let response = self
            .client
            .post(&self.url)
            .body(sql.to_owned())
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => r.text().await.unwrap().trim().to_owned(),
            _ => String::new(),
        }
    }

    pub async fn count_final(&self) -> u64 {
        self.query("SELECT count() FROM fiducia.events FINAL")
            .await
            .parse()
            .unwrap_or(0)
    }

    /// Polls until `SELECT count() ... FINAL` equals `expected`; returns the time it took.
    pub async fn wait_for_count(&self, expected: u64, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let count = self.count_final().await;
            if count == expected {
                return started.elapsed();
            }
            assert!(
                count <= expected,
                "more rows than events: {count} > {expected}"
            );
            assert!(
                started.elapsed() < within,
                "only {count} of {expected} rows after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub async fn wait_status(client: &reqwest::Client, url: &str, status: u16, within: Duration) {
    let started = Instant::now();
    loop {
        let got = client
            .get(url)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if got == status {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{url} answered {got}, wanted {status} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
