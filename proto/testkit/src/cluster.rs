//! A ClickHouse cluster of a test's own (`deploy/local/up
//! clickhouse-cluster`): 2 shards x 2 replicas and their ZooKeeper under a
//! fresh state directory, stopped on drop.

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::Command;

use crate::infra::{run_script, stop, urls};

/// The servers, as `deploy/local/cluster.sh` names them: shard, then replica.
pub const NODES: [&str; 4] = ["s1r1", "s1r2", "s2r1", "s2r2"];

/// The running cluster.
#[derive(Debug)]
pub struct PrivateCluster {
    /// Its name in the servers' `remote_servers`.
    pub name: String,
    /// Each server's HTTP interface, in [`NODES`] order.
    pub urls: Vec<String>,
    env: HashMap<String, String>,
    state: Option<tempfile::TempDir>,
}

impl PrivateCluster {
    /// Starts ZooKeeper and the four servers on ports of the local
    /// runner's cluster range (22600-22999, outside the ephemeral range
    /// other tests take ports from) that are free now.
    ///
    /// # Panics
    /// When no ports are free or the servers do not start.
    #[must_use]
    pub fn start() -> Self {
        let state = tempfile::TempDir::with_prefix("fiducia-cluster").expect("create a temp dir");
        let base: u16 = (22600..22999)
            .step_by(50)
            .find(|&base| (base..base + 50).all(port_free))
            .expect("50 free ports in 22600-22999 for the cluster");
        let env: HashMap<String, String> = [
            ("FIDUCIA_STATE_DIR", state.path().display().to_string()),
            ("FIDUCIA_CLICKHOUSE_CLUSTER_PORT_BASE", base.to_string()),
            ("FIDUCIA_ZOOKEEPER_PORT", (base + 1).to_string()),
            ("FIDUCIA_STOP_TIMEOUT", "5".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        run_script("up", &["clickhouse-cluster"], &env);
        let url_of = urls(&env);
        Self {
            name: "fiducia".to_owned(),
            urls: NODES
                .iter()
                .map(|node| url_of(&format!("clickhouse-{node}")))
                .collect(),
            env,
            state: Some(state),
        }
    }

    /// The pid of component `name` (`clickhouse-s2r2`, `zookeeper`), from
    /// its pid file.
    fn pid(&self, name: &str) -> String {
        let state = self.state.as_ref().expect("state dir").path();
        let pid = std::fs::read_to_string(state.join(format!("pids/{name}.pid")))
            .unwrap_or_else(|e| panic!("read the pid file of {name}: {e}"));
        pid.split_whitespace().next().expect("a pid").to_owned()
    }

    /// The resident memory of ZooKeeper and of each server (`VmRSS`), in
    /// bytes: `[("zookeeper", ..), ("clickhouse-s1r1", ..), ..]`.
    #[must_use]
    pub fn rss_bytes(&self) -> Vec<(String, u64)> {
        std::iter::once("zookeeper".to_owned())
            .chain(NODES.iter().map(|node| format!("clickhouse-{node}")))
            .map(|name| {
                let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid(&name)))
                    .unwrap_or_default();
                let kib: u64 = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    .unwrap_or(0);
                (name, kib * 1024)
            })
            .collect()
    }

    /// Kills server `node` (`s2r2`, ...) with SIGKILL and waits for it to end.
    ///
    /// # Panics
    /// When it is not running.
    pub fn kill(&self, node: &str) {
        let pid = self.pid(&format!("clickhouse-{node}"));
        let killed = Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -9 {pid}");
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Starts again whatever server is not running (`up clickhouse-cluster`).
    pub fn restart_missing(&self) {
        run_script("up", &["clickhouse-cluster"], &self.env);
    }
}

fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        stop(
            &["clickhouse-cluster"],
            &self.env,
            &mut self.state,
            "the cluster's",
        );
    }
}
