//! Page categories from the site's path rules (`/p/` → `product`, a regex
//! for `/blog/` and `/news/` → `editorial`), for contextual answers that need
//! no identifier and for the interests of visitor profiles. Every rule that
//! matches adds its category, in rule order, once. The rules are the
//! `enrich.categories` of the sites file: the enricher categorises events
//! with them, the collector the page of a contextual profile request.

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

/// Longest category name.
const MAX_NAME_CHARS: usize = 64;
/// Compiled size limit of one rule's regex: site config must not make the
/// hot path slow.
const MAX_REGEX_BYTES: usize = 64 * 1024;

/// One rule as written in the sites file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRule {
    /// The category a matching page belongs to.
    pub name: String,
    /// Matches paths starting with this (e.g. `/p/`).
    pub path_prefix: Option<String>,
    /// Matches paths this regex finds a match in (anchor it with `^` as needed).
    pub path_regex: Option<String>,
}

/// A rule that cannot be used, with why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("category rule {index} ({name:?}): {problem}")]
pub struct CategoryError {
    /// Position of the rule, from 0.
    pub index: usize,
    /// Its name as written.
    pub name: String,
    /// What is wrong.
    pub problem: String,
}

#[derive(Debug, Clone)]
enum Matcher {
    Prefix(String),
    Regex(Regex),
}

/// A site's compiled rules.
#[derive(Debug, Clone, Default)]
pub struct Categories {
    rules: Vec<(String, Matcher)>,
}

impl Categories {
    /// Checks and compiles `rules`.
    ///
    /// # Errors
    /// On an empty or too long name, a rule with both or neither matcher, a
    /// prefix not starting with `/`, or a regex that does not compile.
    pub fn compile(rules: &[CategoryRule]) -> Result<Self, CategoryError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            let error = |problem: String| CategoryError {
                index,
                name: rule.name.clone(),
                problem,
            };
            let name = rule.name.trim();
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                return Err(error(format!("name must be 1-{MAX_NAME_CHARS} characters")));
            }
            let matcher = match (&rule.path_prefix, &rule.path_regex) {
                (Some(prefix), None) if prefix.starts_with('/') => Matcher::Prefix(prefix.clone()),
                (Some(_), None) => return Err(error("path_prefix must start with '/'".into())),
                (None, Some(pattern)) => RegexBuilder::new(pattern)
                    .size_limit(MAX_REGEX_BYTES)
                    .build()
                    .map(Matcher::Regex)
                    .map_err(|e| error(format!("path_regex: {e}")))?,
                _ => {
                    return Err(error(
                        "give exactly one of path_prefix and path_regex".into(),
                    ));
                }
            };
            compiled.push((name.to_owned(), matcher));
        }
        Ok(Self { rules: compiled })
    }

    /// The categories of a (normalised) path.
    #[must_use]
    pub fn of(&self, path: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if path.is_empty() {
            return out;
        }
        for (name, matcher) in &self.rules {
            let hit = match matcher {
                Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
                Matcher::Regex(regex) => regex.is_match(path),
            };
            if hit && !out.iter().any(|n| n == name) {
                out.push(name.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, prefix: Option<&str>, regex: Option<&str>) -> CategoryRule {
        CategoryRule {
            name: name.into(),
            path_prefix: prefix.map(Into::into),
            path_regex: regex.map(Into::into),
        }
    }

    #[test]
    fn paths_get_every_matching_category_once_in_rule_order() {
        let categories = Categories::compile(&[
            rule("product", Some("/p/"), None),
            rule("shoes", None, Some(r"^/p/shoes(/|$)")),
            rule("editorial", None, Some("^/(blog|news)/")),
            rule("product", Some("/products/"), None),
            rule("sale", None, Some("sale")),
        ])
        .unwrap();
        for (path, want) in [
            ("/p/shoes/42", vec!["product", "shoes"]),
            ("/p/hats", vec!["product"]),
            ("/products/sale-items", vec!["product", "sale"]),
            ("/blog/2026/spring", vec!["editorial"]),
            ("/about", vec![]),
            ("", vec![]),
        ] {
            assert_eq!(categories.of(path), want, "{path}");
        }
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        for (rules, problem) in [
            (vec![rule("", Some("/p/"), None)], "name"),
            (vec![rule("x", None, None)], "exactly one"),
            (vec![rule("x", Some("/p/"), Some("^/p/"))], "exactly one"),
            (vec![rule("x", Some("p/"), None)], "start with"),
            (vec![rule("x", None, Some("("))], "path_regex"),
            (vec![rule(&"n".repeat(65), Some("/"), None)], "name"),
        ] {
            let error = Categories::compile(&rules).unwrap_err();
            assert!(error.to_string().contains(problem), "{error}");
        }
    }
}
