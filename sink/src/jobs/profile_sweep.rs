//! The sweep that finishes profile erasure: deletes the `profile_events`
//! rows of visitors whose latest consent record leaves personalization off.
//!
//! Why it is needed beside [`super::erase_on_withdrawal`]: an event enriched
//! with consent a moment before the withdrawal can reach ClickHouse after
//! the profile was erased, and its row lands in `profile_events` again. The
//! `profiles` view already hides such a visitor; this sweep, run after every
//! retention run, removes the rows themselves.

use clickhouse::Client;

use crate::jobs::delete_statement;
use crate::metrics;
use crate::schema::{SchemaError, ServerFeatures, render};
use crate::tables::profile_events;
use crate::tables::profiles::WITHDRAWN_PERSONALIZATION;

/// Deletes the `profile_events` rows of every visitor whose latest consent
/// record leaves personalization off, and returns how many there were.
///
/// # Errors
/// When the count or the delete fails.
pub async fn sweep(
    client: &Client,
    database: &str,
    features: &ServerFeatures,
) -> Result<u64, SchemaError> {
    let table = profile_events::NAME;
    let predicate = format!("(site_id, visitor_id) IN ({WITHDRAWN_PERSONALIZATION})");
    let count: u64 = client
        .query_raw(&render(
            &format!("SELECT count() FROM {{db}}.{table} WHERE {predicate}"),
            database,
        ))
        .fetch_one()
        .await?;
    if count > 0 {
        client
            .query_raw(&render(
                &delete_statement(features, table, &predicate),
                database,
            ))
            .execute()
            .await?;
        ::metrics::counter!(metrics::PROFILE_ROWS_SWEPT).increment(count);
        tracing::info!(rows = count, "profile rows of withdrawn visitors deleted");
    }
    Ok(count)
}
