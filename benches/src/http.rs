//! A one-shot HTTP/1.1 client for the harness's side channels: a service's
//! `/metrics` and ClickHouse's HTTP interface. One connection per call; the
//! load itself goes through the load generator's keep-alive connections.

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where requests go: `host:port` (also the `Host` header) and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`.
    pub host: String,
    /// The path, `/` at least.
    pub path: String,
}

impl Target {
    /// Splits `http://host:port/path`.
    ///
    /// # Errors
    /// When the URL is not `http://` or has no host.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .context("the URL must start with http://")?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if host.is_empty() {
            bail!("the URL has no host");
        }
        Ok(Self {
            host: host.to_owned(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
        })
    }
}

/// Sends `body` (a `GET` when `None`, else a `POST`) and returns the body of
/// a 2xx answer as text.
///
/// # Errors
/// On a connection failure or a status other than 2xx (its body in the message).
pub async fn fetch(url: &str, body: Option<String>) -> anyhow::Result<String> {
    let target = Target::parse(url)?;
    let stream = TcpStream::connect(&target.host).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::builder()
        .method(if body.is_some() { "POST" } else { "GET" })
        .uri(&target.path)
        .header(header::HOST, &target.host)
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let text = String::from_utf8(response.into_body().collect().await?.to_bytes().to_vec())?;
    if !status.is_success() {
        bail!("{url} answered {status}: {}", text.trim());
    }
    Ok(text)
}

/// Sum of every series of `metric` in a Prometheus text exposition: all
/// its label sets for a bare name, one series for `name{labels}` as the
/// exposition writes it; 0 when absent.
#[must_use]
pub fn metric_sum(exposition: &str, metric: &str) -> f64 {
    let one_series = metric.contains('{');
    exposition
        .lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with(' ') || (!one_series && rest.starts_with('{')))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_splits_into_address_and_path() {
        let t = Target::parse("http://127.0.0.1:8480/v1/events").unwrap();
        assert_eq!(
            (t.host.as_str(), t.path.as_str()),
            ("127.0.0.1:8480", "/v1/events")
        );
        assert_eq!(Target::parse("http://h:1").unwrap().path, "/");
        assert!(Target::parse("https://x/").is_err());
    }

    #[test]
    fn a_metric_is_summed_over_its_label_sets_only() {
        let text = "# HELP x_total x\nx_total{a=\"1\"} 3\nx_total{a=\"2\"} 4.5\nx_total_other 100\nx_total 1\n";
        assert!((metric_sum(text, "x_total") - 8.5).abs() < 1e-9);
        assert!(metric_sum(text, "missing").abs() < 1e-9);
        assert!((metric_sum(text, "x_total{a=\"2\"}") - 4.5).abs() < 1e-9);
    }
}
