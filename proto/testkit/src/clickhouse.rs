//! ClickHouse over its HTTP interface: the one query helper of the tests.

use std::time::Duration;

use crate::eventually;

/// A ClickHouse server's HTTP interface.
#[derive(Debug, Clone)]
pub struct ClickHouse {
    /// `http://host:port`.
    pub url: String,
    client: reqwest::Client,
}

impl ClickHouse {
    /// The server at `url`.
    #[must_use]
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// Runs `sql`; the answer's text, trimmed.
    ///
    /// # Errors
    /// When the server is unreachable or refuses the query (its message).
    pub async fn try_query(&self, sql: &str) -> Result<String, String> {
        let response = self
            .client
            .post(&self.url)
            .body(sql.to_owned())
            .send()
            .await
            .map_err(|e| format!("unreachable ({e})"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(text.trim().to_owned())
        } else {
            Err(format!("{status}: {}", text.trim()))
        }
    }

    /// Runs `sql`.
    ///
    /// # Panics
    /// When the query fails.
    pub async fn query(&self, sql: &str) -> String {
        self.try_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a query answering one number.
    ///
    /// # Panics
    /// When the query fails or answers something else.
    pub async fn query_u64(&self, sql: &str) -> u64 {
        let text = self.query(sql).await;
        text.parse()
            .unwrap_or_else(|_| panic!("{sql}: not a number: {text}"))
    }

    /// Waits until `sql` answers `expected` (rows arrive asynchronously).
    ///
    /// # Panics
    /// When it does not within `within`.
    pub async fn wait_for(&self, sql: &str, expected: &str, within: Duration) {
        eventually(sql, within, || async {
            match self.try_query(sql).await {
                Ok(got) if got == expected => Ok(()),
                Ok(got) => Err(format!("answering {got:?}, not {expected:?}")),
                Err(e) => Err(e),
            }
        })
        .await;
    }

    /// Waits until a count query reaches `expected`, failing at once if it
    /// goes past it (a duplicate stored is a failure, not a reason to wait).
    ///
    /// # Panics
    /// When the count exceeds `expected`, or does not reach it within `within`.
    pub async fn wait_for_count(&self, sql: &str, expected: u64, within: Duration) {
        eventually(sql, within, || async {
            let count: u64 = self
                .try_query(sql)
                .await
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            assert!(
                count <= expected,
                "{sql}: {count} rows, more than {expected}"
            );
            if count == expected {
                Ok(())
            } else {
                Err(format!("{count} of {expected}"))
            }
        })
        .await;
    }
}
