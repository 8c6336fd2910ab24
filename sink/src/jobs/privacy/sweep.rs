//! The erasure sweep, run with every retention run: deletes rows of
//! subjects whose erasure was verified that reached ClickHouse after all.
//!
//! Why it is needed: the deny filter's barrier orders one sink's inserts
//! against the erasure that sink carries out. With several sinks, another
//! instance's insert that checked its batch a moment before its own
//! deny-list had the subject can end after the verification; the sweep
//! finds such rows by the same predicates (the erased visitor ids and user
//! keys, as the deny-list covers them) and erases them like the workflow
//! (`fiducia_sink_erasure_rows_swept_total`).

use std::collections::BTreeMap;

use super::statements::{Counts, Statements, changed_holders};
use super::subject::Subject;
use super::workflow::WorkflowError;
use crate::metrics;
use crate::schema::render;

/// The subjects of verified erasures, per site.
const VERIFIED: &str = "\
SELECT site_id, subject, user_key FROM {db}.privacy_requests
WHERE kind = 'erasure' AND status = 'verified'
GROUP BY site_id, subject, user_key";

/// Erases what is left of every verified erasure's subject; returns the
/// rows found per table.
///
/// # Errors
/// When a statement fails; the next run tries again.
pub async fn sweep(sql: &Statements) -> Result<Counts, WorkflowError> {
    let verified: Vec<(String, String, String)> = sql
        .client()
        .query_raw(&render(VERIFIED, sql.database()))
        .fetch_all()
        .await?;
    let mut sites: BTreeMap<String, Subject> = BTreeMap::new();
    for (site, visitor, user_key) in verified {
        let subject = sites.entry(site.clone()).or_insert_with(|| Subject {
            site_id: site,
            visitors: Vec::new(),
            user_keys: Vec::new(),
        });
        if !visitor.is_empty() {
            subject.visitors.push(visitor);
        }
        if !user_key.is_empty() {
            subject.user_keys.push(user_key);
        }
    }
    let mut found: Counts = changed_holders().map(|h| (h.name, 0)).collect();
    for subject in sites.values_mut() {
        // Visitor ids that carried an erased user id since: their profile
        // signals hold no user id to find them by.
        for key in subject.user_keys.clone() {
            for visitor in sql.carried(&subject.site_id, &key).await? {
                if !subject.visitors.contains(&visitor) {
                    subject.visitors.push(visitor);
                }
            }
        }
        for (holder, (_, total)) in changed_holders().zip(found.iter_mut()) {
            let Some(predicate) = subject.predicate(holder) else {
                continue;
            };
            let rows = sql.count_where(holder.name, &predicate).await?;
            if rows > 0 {
                sql.delete_in(holder, &predicate).await?;
                ::metrics::counter!(metrics::ERASURE_ROWS_SWEPT, "table" => holder.name)
                    .increment(rows);
                tracing::warn!(
                    table = holder.name,
                    site = %subject.site_id,
                    rows,
                    "rows of erased subjects found after their erasure; erased"
                );
                *total += rows;
            }
        }
    }
    Ok(found)
}
