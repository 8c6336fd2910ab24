//! The one way tests wait: poll a probe until it says yes or time is up.
//! Tests on real servers cannot use `tokio::time::pause()` (the servers'
//! clocks do not pause), so they poll, starting quickly and backing off to
//! once a second, and fail with what the probe last saw.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Polls `probe` until it returns `Ok`, and returns that value. `Err` carries
/// what the probe saw, for the panic message when `within` passes first.
///
/// # Panics
/// When `within` passes without an `Ok`: "`what`: <last observation> after <within>".
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    let mut pause = Duration::from_millis(50);
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "{what}: still {seen} after {within:?}"
            ),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Waits until `GET url` answers `status` (e.g. a `/readyz` turning 200, or
/// 503 once a server it needs is stopped).
///
/// # Panics
/// When it does not within `within`.
pub async fn wait_status(url: &str, status: u16, within: Duration) {
    let client = reqwest::Client::new();
    eventually(&format!("GET {url}"), within, || async {
        match client.get(url).send().await {
            Ok(r) if r.status().as_u16() == status => Ok(()),
            Ok(r) => Err(format!("answering {}", r.status().as_u16())),
            Err(e) => Err(format!("unreachable ({e})")),
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_the_first_ok() {
        let mut calls = 0;
        let got = eventually("the third call", Duration::from_secs(5), || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(format!("call {n}"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(got, 3);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "never: still no after")]
    async fn fails_with_the_last_observation() {
        eventually("never", Duration::from_secs(5), || async {
            Err::<(), _>("no".to_owned())
        })
        .await;
    }
}
