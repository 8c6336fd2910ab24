//! The load generator's side of `POST /v1/events`: keep-alive HTTP/1.1
//! connections, one corpus request sent as the tag sends it, and the count
//! of events the collector says it dropped (`Fiducia-Dropped`); and of
//! `GET /v1/profile` ([`get`]).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::corpus::{self, Request};
use crate::http::Target;

/// Sum of the counts in a `Fiducia-Dropped` header (`purpose:reason=n, …`).
fn dropped_count(value: &str) -> u64 {
    value
        .split(',')
        .filter_map(|part| part.rsplit_once('=')?.1.trim().parse::<u64>().ok())
        .sum()
}

/// A keep-alive HTTP/1.1 connection to the collector (or the baseline).
pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Opens a connection to `target` (`TCP_NODELAY`).
///
/// # Errors
/// When the connection or the HTTP handshake fails.
pub async fn connect(target: &Target) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(&target.host).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one request of the corpus as the tag would; `Ok(dropped events)`
/// on a 2xx, else the error kind (`connection`, `http_<status>`, ...).
///
/// # Errors
/// The error kind, as counted in the report.
pub async fn send(
    sender: &mut Sender,
    target: &Target,
    request: &Request,
    body: Bytes,
) -> Result<u64, String> {
    let http = hyper::Request::post(&target.path)
        .header(header::HOST, &target.host)
        .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .header(header::USER_AGENT, request.user_agent)
        .header(header::ORIGIN, corpus::ORIGIN)
        .body(Full::new(body))
        .map_err(|e| format!("request: {e}"))?;
    exchange(sender, http, |headers| {
        headers
            .get("fiducia-dropped")
            .and_then(|v| v.to_str().ok())
            .map_or(0, dropped_count)
    })
    .await
}

/// Sends `http` and reads the whole answer; `read` takes what is wanted
/// from its headers on a 2xx, else the error kind.
async fn exchange(
    sender: &mut Sender,
    http: hyper::Request<Full<Bytes>>,
    read: impl FnOnce(&header::HeaderMap) -> u64,
) -> Result<u64, String> {
    sender.ready().await.map_err(|_| "connection".to_owned())?;
    let response = sender
        .send_request(http)
        .await
        .map_err(|_| "connection".to_owned())?;
    let status = response.status();
    let value = read(response.headers());
    response
        .into_body()
        .collect()
        .await
        .map_err(|_| "connection".to_owned())?;
    if status.is_success() {
        Ok(value)
    } else {
        Err(format!("http_{}", status.as_u16()))
    }
}

/// Asks for a profile as the tag does, with `token` as the visitor's proof
/// (none when empty); `Ok(0)` on a 2xx (the body read in full).
///
/// # Errors
/// The error kind, as for [`send`].
pub async fn get(sender: &mut Sender, target: &Target, token: &str) -> Result<u64, String> {
    let mut http = hyper::Request::get(&target.path)
        .header(header::HOST, &target.host)
        .header(header::ORIGIN, corpus::ORIGIN);
    if !token.is_empty() {
        http = http.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let http = http
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("request: {e}"))?;
    exchange(sender, http, |_| 0).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_counts_are_summed_over_reasons() {
        assert_eq!(dropped_count("measurement:denied=20"), 20);
        assert_eq!(
            dropped_count("measurement:denied=3, measurement:expired=2"),
            5
        );
        assert_eq!(dropped_count("garbage"), 0);
    }
}
