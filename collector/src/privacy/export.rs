//! The export of everything held about a subject (GDPR art. 15 and 20):
//! one JSON document, streamed part by part, never whole in memory
//! (`collector/README.md`, Export format):
//!
//! ```json
//! {"format": "fiducia.export", "version": 1, "site": "demo",
//!  "subject": {"visitor_id": "…"} | {"user_key": "…"},
//!  "generated_at": 1764000000000,
//!  "consent": {"purposes": {…}, "retention_months": 0, "history": [… with receipt paths …]},
//!  "tables": {"events": <ClickHouse FORMAT JSON>, "sessions": …, …}}
//! ```
//!
//! `tables` has one member per `fiducia_proto::privacy::HOLDERS` entry, in
//! its order: ClickHouse's own `FORMAT JSON` output of the subject's rows
//! (`meta`, `data`, `rows`), passed through as it streams; `null` where the
//! table does not exist (yet) or does not hold subjects by user id. The
//! consent part comes from the ledger (small); the tables from ClickHouse.
//! A failure mid-stream ends the body early: the document does not parse,
//! so a partial export is never taken for a whole one.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use clickhouse::query::BytesCursor;
use fiducia_proto::privacy::{HOLDERS, Holder};
use futures::Stream;
use serde_json::{Value, json};

use crate::metrics;
use crate::warehouse::{Tail, Warehouse, failed_in_tail, rows_in_tail};

/// The document's format name and version: a reader checks both.
pub const FORMAT: &str = "fiducia.export";
/// Bumped on any change a reader must know of.
pub const VERSION: u32 = 1;

/// Whom an export is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A visitor id (privacy center, or admin by visitor id).
    Visitor(String),
    /// A first-party user id (admin API): rows by user id, the audit by key.
    User {
        /// The user id, used only in the queries.
        user_id: String,
        /// Its key (`fiducia_proto::privacy::user_key`).
        user_key: String,
    },
}

impl Subject {
    /// The document's `subject` member: never the user id.
    #[must_use]
    pub fn describe(&self) -> Value {
        match self {
            Self::Visitor(id) => json!({"visitor_id": id}),
            Self::User { user_key, .. } => json!({"user_key": user_key}),
        }
    }

    /// The query of `holder`'s rows of this subject on `site`, if the
    /// holder keeps subjects that way.
    fn query(
        &self,
        warehouse: &Warehouse,
        holder: &Holder,
        site: &str,
    ) -> Option<clickhouse::query::Query> {
        // A redelivered row collapses on merge; the export shows it once.
        let last = if holder.read_final { " FINAL" } else { "" };
        let select = |column: &str| {
            format!(
                "SELECT * FROM {{db}}.{}{last} WHERE site_id = ? AND {column} = ? FORMAT JSON",
                holder.name
            )
        };
        let (sql, value) = match self {
            Self::Visitor(id) => (select(holder.visitor_column), id.as_str()),
            Self::User { user_id, user_key } => {
                match (holder.user_column, holder.user_key_column) {
                    (Some(column), _) => (select(column), user_id.as_str()),
                    (None, Some(column)) => (select(column), user_key.as_str()),
                    (None, None) => return None,
                }
            }
        };
        Some(warehouse.query(&sql).bind(site).bind(value))
    }
}

enum Part {
    Text(Bytes),
    Table(Box<clickhouse::query::Query>),
}

/// A streaming export: the parts still to send, and the table being read.
pub struct Export {
    warehouse: Warehouse,
    parts: VecDeque<Part>,
    reading: Option<(BytesCursor, Tail)>,
    rows: u64,
    bytes: u64,
    started: Instant,
    channel: &'static str,
}

impl Export {
    /// Plans the export of `subject` on `site`; `existing` are the tables
    /// the database holds (a missing one exports `null`), `consent` the
    /// ledger's part.
    #[must_use]
    pub fn plan(
        warehouse: &Warehouse,
        existing: &BTreeSet<String>,
        site: &str,
        subject: &Subject,
        consent: &Value,
        channel: &'static str,
    ) -> Self {
        let head = json!({
            "format": FORMAT,
            "version": VERSION,
            "site": site,
            "subject": subject.describe(),
            "generated_at": fiducia_proto::time::now_ms(),
            "consent": consent,
        })
        .to_string();
        // The head's closing brace is replaced by the tables member.
        let mut parts = VecDeque::from([Part::Text(Bytes::from(format!(
            "{},\"tables\":{{",
            &head[..head.len() - 1]
        )))]);
        for (i, holder) in HOLDERS.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            let name = Part::Text(Bytes::from(format!("{comma}\"{}\":", holder.name)));
            parts.push_back(name);
            match subject.query(warehouse, holder, site) {
                Some(query) if existing.contains(holder.name) => {
                    parts.push_back(Part::Table(Box::new(query)));
                }
                _ => parts.push_back(Part::Text(Bytes::from_static(b"null"))),
            }
        }
        parts.push_back(Part::Text(Bytes::from_static(b"}}\n")));
        Self {
            warehouse: warehouse.clone(),
            parts,
            reading: None,
            rows: 0,
            bytes: 0,
            started: Instant::now(),
            channel,
        }
    }

    /// The document as a stream of chunks.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
        futures::stream::unfold(Some(self), |state| async move {
            let mut export = state?;
            match export.next_chunk().await {
                Ok(Some(chunk)) => {
                    export.bytes += chunk.len() as u64;
                    Some((Ok(chunk), Some(export)))
                }
                Ok(None) => {
                    export.finish("ok");
                    None
                }
                Err(error) => {
                    tracing::warn!(%error, "export ended early");
                    export.finish("error");
                    Some((Err(std::io::Error::other(error)), None))
                }
            }
        })
    }

    async fn next_chunk(&mut self) -> Result<Option<Bytes>, clickhouse::error::Error> {
        loop {
            if let Some((cursor, tail)) = &mut self.reading {
                if let Some(chunk) = cursor.next().await? {
                    tail.push(&chunk);
                    return Ok(Some(chunk));
                }
                // A table that failed mid-way must not pass for whole: the
                // body ends here, before the document closes.
                if failed_in_tail(tail.bytes()) {
                    return Err(clickhouse::error::Error::Other(
                        "clickhouse reported an error inside the output".into(),
                    ));
                }
                self.rows += rows_in_tail(tail.bytes());
                self.reading = None;
            }
            match self.parts.pop_front() {
                None => return Ok(None),
                Some(Part::Text(text)) => return Ok(Some(text)),
                Some(Part::Table(query)) => {
                    let cursor = self.warehouse.stream(*query).map_err(|e| e.0)?;
                    self.reading = Some((cursor, Tail::default()));
                }
            }
        }
    }

    fn finish(&self, outcome: &'static str) {
        let channel = self.channel;
        ::metrics::counter!(metrics::EXPORTS, "channel" => channel, "outcome" => outcome)
            .increment(1);
        ::metrics::counter!(metrics::EXPORT_ROWS, "channel" => channel).increment(self.rows);
        ::metrics::counter!(metrics::EXPORT_BYTES, "channel" => channel).increment(self.bytes);
        ::metrics::histogram!(metrics::EXPORT_DURATION, "channel" => channel)
            .record(self.started.elapsed().as_secs_f64());
        tracing::info!(
            channel,
            outcome,
            rows = self.rows,
            bytes = self.bytes,
            "export streamed"
        );
    }
}
