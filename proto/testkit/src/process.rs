//! A service process for tests that run the built binaries: killed on drop,
//! its output in a log file that a failed test points to.
//!
//! The binaries are built by cargo before the tests start, never from inside
//! a test: a service's own tests pass `env!("CARGO_BIN_EXE_<name>")`, and the
//! whole-pipeline tests (`deploy/tests`) build the services' `main.rs` as
//! binaries of their own package for the same reason.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// One running service process.
#[derive(Debug)]
pub struct Service {
    binary: PathBuf,
    env: HashMap<String, String>,
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Starts `binary` with `env` added to this process's environment
    /// (`RUST_LOG=info` unless `env` says otherwise).
    ///
    /// # Panics
    /// When it cannot be started.
    #[must_use]
    pub fn start(binary: impl AsRef<Path>, env: &HashMap<String, String>) -> Self {
        let binary = binary.as_ref().to_path_buf();
        let name = binary
            .file_name()
            .map_or_else(|| "service".into(), |n| n.to_string_lossy().into_owned());
        let log = std::env::temp_dir().join(format!("{}.log", crate::unique(&name)));
        let file = std::fs::File::create(&log).expect("a log file");
        let child = Command::new(&binary)
            .env("RUST_LOG", "info")
            .envs(env)
            .stdout(Stdio::from(file.try_clone().expect("log file handle")))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        Self {
            binary,
            env: env.clone(),
            child,
            log,
        }
    }

    /// `kill -9`, and waits for it to be gone.
    ///
    /// # Panics
    /// When the signal cannot be sent.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then waits for it to exit; its exit status must be success.
    ///
    /// # Panics
    /// When it does not exit cleanly.
    pub fn terminate(&mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let status = self.child.wait().expect("reap");
        assert!(
            status.success(),
            "{} exits cleanly on SIGTERM: {status} (log {})",
            self.binary.display(),
            self.log.display()
        );
    }

    /// Its process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How it ended, if it has (a crash, say); `None` while it runs.
    ///
    /// # Panics
    /// When its status cannot be read.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("process status")
    }

    /// Starts it again with the same environment (after a kill).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Self::start(&self.binary, &self.env);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{} log: {}", self.binary.display(), self.log.display());
        }
    }
}

/// Starts `binary` with `env` (and none of this process's `FIDUCIA_*`
/// variables) and waits for it to stop, as a service does when its
/// configuration is refused: its exit status and standard error.
///
/// # Panics
/// When it is still running after 60 s (it started), or cannot be run.
#[must_use]
pub fn start_up_failure(
    binary: impl AsRef<Path>,
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    let binary = binary.as_ref();
    let mut command = Command::new(binary);
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("FIDUCIA_") {
            command.env_remove(var);
        }
    }
    let mut child = command
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the service") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} with {env:?} started instead of refusing its configuration",
                binary.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    (status, stderr)
}

/// Asserts that `binary` refuses to start on a sites file holding `text`,
/// and says why the way every service does: the variable, the file, the key
/// path and the reason (`FIDUCIA_SITES_FILE="…": sites.shop.enrich.x: reason`).
///
/// # Panics
/// When it starts, or says something else.
pub fn assert_sites_file_refused(binary: &str, text: &str, key: &str, reason: &str) {
    let file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("a sites file");
    std::fs::write(file.path(), text).expect("write the sites file");
    let path = file.path().display().to_string();
    let (status, stderr) = start_up_failure(binary, &[("FIDUCIA_SITES_FILE", &path)]);
    assert!(!status.success(), "{key}: {status}");
    let expected = format!("FIDUCIA_SITES_FILE={path:?}: {key}: {reason}");
    assert!(
        stderr.contains(&expected),
        "{key}: wanted {expected}\n{stderr}"
    );
}
