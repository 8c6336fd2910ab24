//! The collector's reads of ClickHouse (`FIDUCIA_COLLECTOR_CLICKHOUSE_*`):
//! the rows an export streams, the states of privacy requests the sink
//! recorded in `privacy_requests`, and the one write it makes, the admin
//! API's audit trail (`admin_audit`). The sink owns every table; the
//! collector only reads them by the columns `fiducia_proto::privacy::HOLDERS`
//! names, so it works on whatever columns a table has (`SELECT *`).
//!
//! Queries bind their values client-side (`?`, escaped by the `clickhouse`
//! crate) and name their format in the SQL (`FORMAT JSON`): both work on
//! the Debian-packaged 18.16 and on current servers.

use std::collections::BTreeSet;

use bytes::Bytes;
use clickhouse::Client;
use clickhouse::query::BytesCursor;

use crate::config::Warehouse as WarehouseConfig;

/// ClickHouse could not answer; the request is answered `503`.
#[derive(Debug, thiserror::Error)]
#[error("clickhouse: {0}")]
pub struct WarehouseError(#[from] pub clickhouse::error::Error);

/// A ClickHouse client bound to the sink's database.
#[derive(Clone)]
pub struct Warehouse {
    client: Client,
    database: String,
}

/// One row of `admin_audit` (the sink creates the table).
#[derive(Debug, Clone)]
pub struct AuditRow<'a> {
    /// When the call arrived, Unix ms.
    pub called_at_ms: i64,
    /// The call's own id (UUIDv7, text).
    pub call_id: &'a str,
    /// The site in the path.
    pub site_id: &'a str,
    /// The route template, e.g. `/v1/admin/{site}/requests`.
    pub route: &'a str,
    /// `GET` or `POST`.
    pub method: &'a str,
    /// A visitor id, `user:<user_key>`, or empty: never a user id.
    pub subject: &'a str,
    /// The privacy request the call made, if any.
    pub request_id: &'a str,
    /// The HTTP status the call is answered with.
    pub status: u16,
    /// The caller's truncated network.
    pub ip_prefix: &'a str,
}

impl Warehouse {
    /// A client for `config`'s server and database.
    #[must_use]
    pub fn new(config: &WarehouseConfig) -> Self {
        let client = Client::default()
            .with_url(&config.url)
            .with_user(&config.user)
            .with_password(&config.password.0)
            // Exports pass ClickHouse's own bytes through: nothing to decode.
            .with_compression(clickhouse::Compression::None)
            .with_validation(false)
            .with_product_info("fiducia-collector", env!("CARGO_PKG_VERSION"));
        Self {
            client,
            database: config.database.clone(),
        }
    }

    /// The database's name (validated at start-up: `[A-Za-z0-9_]`).
    #[must_use]
    pub fn database(&self) -> &str {
        &self.database
    }

    /// A query with `sql` (`{db}` replaced by the database).
    pub fn query(&self, sql: &str) -> clickhouse::query::Query {
        self.client.query(&sql.replace("{db}", &self.database))
    }

    /// The tables and views the database holds now.
    ///
    /// # Errors
    /// When ClickHouse does not answer.
    pub async fn tables(&self) -> Result<BTreeSet<String>, WarehouseError> {
        let text = read_all(
            self.query("SELECT name FROM system.tables WHERE database = ? FORMAT TabSeparated")
                .bind(&self.database)
                .fetch_bytes("TabSeparated")?,
        )
        .await?;
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// Streams the result of `query` (which ends in `FORMAT JSON`).
    ///
    /// # Errors
    /// When the query cannot be sent.
    pub fn stream(&self, query: clickhouse::query::Query) -> Result<BytesCursor, WarehouseError> {
        Ok(query.fetch_bytes("JSON")?)
    }

    /// Reads a small result (`LIMIT`ed) whole.
    ///
    /// # Errors
    /// When ClickHouse does not answer.
    pub async fn read(&self, query: clickhouse::query::Query) -> Result<Vec<u8>, WarehouseError> {
        read_all(query.fetch_bytes("JSON")?).await
    }

    /// Writes one audit row; the call it records may go ahead only once
    /// this succeeded.
    ///
    /// # Errors
    /// When ClickHouse does not take it.
    pub async fn audit(&self, row: &AuditRow<'_>) -> Result<(), WarehouseError> {
        // INSERT … SELECT converts each value to its column's type on every
        // server version, where a VALUES literal of a DateTime or UUID may not.
        self.query(
            "INSERT INTO {db}.admin_audit (called_at, called_ms, call_id, site_id, route, \
             method, subject, request_id, status, ip_prefix) SELECT toDateTime(?, 'UTC'), \
             toUInt16(?), toUUID(?), ?, ?, ?, ?, ?, toUInt16(?), ?",
        )
        .bind(row.called_at_ms.div_euclid(1000))
        .bind(row.called_at_ms.rem_euclid(1000))
        .bind(row.call_id)
        .bind(row.site_id)
        .bind(row.route)
        .bind(row.method)
        .bind(row.subject)
        .bind(row.request_id)
        .bind(row.status)
        .bind(row.ip_prefix)
        .execute()
        .await?;
        Ok(())
    }
}

/// Reads a (small) result whole.
async fn read_all(mut cursor: BytesCursor) -> Result<Vec<u8>, WarehouseError> {
    let mut all = Vec::new();
    while let Some(chunk) = cursor.next().await? {
        all.extend_from_slice(&chunk);
    }
    Ok(all)
}

/// The row count at the end of a `FORMAT JSON` output (`"rows": N`), from
/// its last bytes.
#[must_use]
pub fn rows_in_tail(tail: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(tail);
    text.rfind("\"rows\":")
        .map(|at| &text[at + 7..])
        .and_then(|rest| {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .unwrap_or(0)
}

/// Whether a `FORMAT JSON` output ends with the error a current server
/// writes into it when a query fails mid-stream (`"exception": "Code: …"`;
/// 18.16 appends plain text instead, which breaks the JSON by itself). A
/// string value cannot match: its quotes are escaped.
#[must_use]
pub fn failed_in_tail(tail: &[u8]) -> bool {
    tail.windows(12).any(|w| w == b"\"exception\":")
}

/// The last bytes seen of a stream.
#[derive(Debug, Default)]
pub struct Tail(Vec<u8>);

impl Tail {
    /// Enough for the row count and an error message a server writes at
    /// the end (its stack trace included, in practice).
    const KEEP: usize = 16 * 1024;

    /// Remembers the end of `chunk`.
    pub fn push(&mut self, chunk: &Bytes) {
        self.0
            .extend_from_slice(&chunk[chunk.len().saturating_sub(Self::KEEP)..]);
        let excess = self.0.len().saturating_sub(Self::KEEP);
        self.0.drain(..excess);
    }

    /// The bytes kept.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_count_is_read_from_the_end_of_a_json_output() {
        let mut tail = Tail::default();
        tail.push(&Bytes::from_static(b"{\"data\": [{\"a\": 1}"));
        tail.push(&Bytes::from(vec![b' '; 20_000]));
        tail.push(&Bytes::from_static(
            b"],\n\t\"rows\": 10000,\n\t\"statistics\": {\"elapsed\": 0.1}\n}\n",
        ));
        assert!(tail.bytes().len() <= Tail::KEEP);
        assert_eq!(rows_in_tail(tail.bytes()), 10_000);
        assert_eq!(rows_in_tail(b"{}"), 0);
        assert!(!failed_in_tail(tail.bytes()));
    }

    #[test]
    fn an_error_written_into_the_output_is_seen_and_a_string_is_not_one() {
        assert!(failed_in_tail(
            b"{\"a\": 1}],\n\t\"exception\": \"Code: 241. DB::Exception: Memory limit\"\n}"
        ));
        assert!(!failed_in_tail(
            br#"{"props": "{\"exception\": 1}"}], "rows": 1}"#
        ));
    }
}
