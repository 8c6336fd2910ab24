//! Whose rows an erasure removes, as SQL: the subject's visitor ids (the
//! request's own, or those that carried the user id of a request by user
//! key) and its user key, and for each table of
//! [`fiducia_proto::privacy::HOLDERS`] the predicate selecting its rows.
//! Built as literals (quoted), so that the count, the delete and the
//! verification run exactly the same predicate.

use fiducia_proto::privacy::Holder;

use crate::jobs::quote;

/// The subject of an erasure, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The site.
    pub site_id: String,
    /// Visitor ids whose rows go.
    pub visitors: Vec<String>,
    /// Requests by user id: rows whose user id has one of these keys go too.
    pub user_keys: Vec<String>,
}

/// The user key of `column`'s value, in SQL, as
/// `fiducia_proto::privacy::user_key` computes it.
#[must_use]
pub fn user_key_sql(column: &str) -> String {
    format!("lower(hex(SHA256(concat(site_id, '\\0', {column}))))")
}

/// The pseudonym of `column`'s value, in SQL, as [`crate::deny::pseudonym`]
/// computes it.
#[must_use]
pub fn pseudonym_sql(column: &str) -> String {
    format!(
        "concat('{}', {})",
        crate::deny::PSEUDONYM_PREFIX,
        user_key_sql(column)
    )
}

impl Subject {
    /// The rows of `holder` that belong to the subject; `None` when it can
    /// hold none (no visitor ids, and no user column for a user key).
    #[must_use]
    pub fn predicate(&self, holder: &Holder) -> Option<String> {
        let mut any = Vec::new();
        if !self.visitors.is_empty() {
            let ids: Vec<String> = self.visitors.iter().map(|v| quote(v)).collect();
            any.push(format!(
                "has([{}], {})",
                ids.join(", "),
                holder.visitor_column
            ));
        }
        if let (false, Some(column)) = (self.user_keys.is_empty(), holder.user_column) {
            let keys: Vec<String> = self.user_keys.iter().map(|k| quote(k)).collect();
            any.push(format!(
                "({column} != '' AND has([{}], {}))",
                keys.join(", "),
                user_key_sql(column)
            ));
        }
        (!any.is_empty()).then(|| {
            format!(
                "site_id = {} AND ({})",
                quote(&self.site_id),
                any.join(" OR ")
            )
        })
    }
}

/// `INSERT ... SELECT` copying the rows of `table` that match `predicate`
/// with `subject` replaced by its pseudonym and the `emptied` columns
/// emptied (`{db}` unrendered). `columns` are the table's, in order; the
/// insert is positional, so no alias can shadow a column of the filter.
#[must_use]
pub fn pseudonymise_statement(
    table: &str,
    columns: &[&str],
    subject: &str,
    emptied: &[&str],
    predicate: &str,
) -> String {
    let select: Vec<String> = columns
        .iter()
        .map(|column| {
            if *column == subject {
                pseudonym_sql(column)
            } else if emptied.contains(column) {
                "''".to_owned()
            } else {
                format!("`{column}`")
            }
        })
        .collect();
    let names: Vec<String> = columns.iter().map(|c| format!("`{c}`")).collect();
    format!(
        "INSERT INTO {{db}}.`{table}` ({}) SELECT {} FROM {{db}}.`{table}` WHERE {predicate}",
        names.join(", "),
        select.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use fiducia_proto::privacy::HOLDERS;

    use super::*;

    fn holder(name: &str) -> &'static Holder {
        HOLDERS.iter().find(|h| h.name == name).unwrap()
    }

    #[test]
    fn a_visitor_erasure_selects_the_visitor_on_its_site_in_every_holder() {
        let subject = Subject {
            site_id: "shop".into(),
            visitors: vec!["v'1".into()],
            user_keys: Vec::new(),
        };
        assert_eq!(
            subject.predicate(holder("events")).unwrap(),
            r"site_id = 'shop' AND (has(['v\'1'], visitor_id))"
        );
        assert_eq!(
            subject.predicate(holder("consent_log")).unwrap(),
            r"site_id = 'shop' AND (has(['v\'1'], subject))"
        );
    }

    #[test]
    fn a_user_erasure_selects_the_user_key_where_a_user_column_is_and_the_resolved_visitors() {
        let subject = Subject {
            site_id: "shop".into(),
            visitors: Vec::new(),
            user_keys: vec!["k".into()],
        };
        assert_eq!(
            subject.predicate(holder("events")).unwrap(),
            r"site_id = 'shop' AND ((user_id != '' AND has(['k'], lower(hex(SHA256(concat(site_id, '\0', user_id)))))))"
        );
        assert_eq!(subject.predicate(holder("profile_events")), None);
        let resolved = Subject {
            visitors: vec!["a".into(), "b".into()],
            ..subject
        };
        assert_eq!(
            resolved.predicate(holder("profile_events")).unwrap(),
            "site_id = 'shop' AND (has(['a', 'b'], visitor_id))"
        );
    }

    #[test]
    fn the_pseudonymising_copy_replaces_the_subject_and_empties_the_named_columns() {
        let sql = pseudonymise_statement(
            "consent_log",
            &["record_id", "site_id", "subject", "ip_prefix"],
            "subject",
            &["ip_prefix"],
            "p",
        );
        assert_eq!(
            sql,
            "INSERT INTO {db}.`consent_log` (`record_id`, `site_id`, `subject`, `ip_prefix`) \
             SELECT `record_id`, `site_id`, concat('erased:', lower(hex(SHA256(concat(site_id, '\\0', subject))))), '' \
             FROM {db}.`consent_log` WHERE p"
        );
    }
}
