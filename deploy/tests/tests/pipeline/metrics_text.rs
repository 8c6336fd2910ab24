//! Reading a service's `/metrics` (Prometheus text format) in tests, and
//! checking it with Prometheus's own linter, `promtool check metrics`.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// One scrape of a service's `/metrics`.
#[derive(Debug, Clone)]
pub struct Scrape {
    text: String,
}

impl Scrape {
    /// A scrape of `text`.
    #[must_use]
    pub fn new(text: String) -> Self {
        Self { text }
    }

    /// The scrape as served.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every series of metric `name` (its whole series text, labels
    /// included) and its value.
    #[must_use]
    pub fn series(&self, name: &str) -> Vec<(String, f64)> {
        self.text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let metric = series.split('{').next()?;
                (metric == name).then(|| (series.to_owned(), value.parse().unwrap_or(f64::NAN)))
            })
            .collect()
    }

    /// The sum of the series of `name` that carry every label of `labels`
    /// (0 when there is none).
    #[must_use]
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series(name)
            .into_iter()
            .filter(|(series, _)| {
                labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
            })
            .map(|(_, value)| value)
            .sum()
    }
}

/// Pipes `text` (the `/metrics` of `service`) to `promtool check metrics`
/// and fails when it says anything; prints a note and returns when
/// `promtool` is not installed (Debian's `prometheus` package has it).
///
/// # Panics
/// When `promtool` finds a problem.
pub fn promtool_check(service: &str, text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            println!(
                "promtool not run ({error}): install Debian's prometheus package to lint /metrics"
            );
            return;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool ran");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "promtool check metrics on the {service}'s /metrics:\n{said}"
    );
}
