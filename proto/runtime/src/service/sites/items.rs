//! What an item is, for personalization (SPEC section 8): the item a page
//! or an event is about, from the site's path rules (`enrich.items` of the
//! sites file, e.g. `/p/<id>`) or from the event's own `item_id` property,
//! which wins. The enricher stores it on the event (`item_id`), the
//! collector reads the current page's for a contextual answer.

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

/// Longest item id kept: longer ids are not ids.
pub const MAX_ITEM_CHARS: usize = 128;
/// Compiled size limit of one rule's regex.
const MAX_REGEX_BYTES: usize = 64 * 1024;

/// One rule as written in the sites file: a regex over the normalised path
/// whose first capture group is the item id, e.g. `^/p/([^/]+)`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRule {
    /// Matches paths; capture group 1 is the item id.
    pub path_regex: String,
}

/// A rule that cannot be used, with why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item rule {index}: {problem}")]
pub struct ItemError {
    /// Position of the rule, from 0.
    pub index: usize,
    /// What is wrong.
    pub problem: String,
}

/// A site's compiled item rules.
#[derive(Debug, Clone, Default)]
pub struct Items {
    rules: Vec<Regex>,
}

impl Items {
    /// Checks and compiles `rules`.
    ///
    /// # Errors
    /// On a regex that does not compile or has no capture group.
    pub fn compile(rules: &[ItemRule]) -> Result<Self, ItemError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            let regex = RegexBuilder::new(&rule.path_regex)
                .size_limit(MAX_REGEX_BYTES)
                .build()
                .map_err(|e| ItemError {
                    index,
                    problem: format!("path_regex: {e}"),
                })?;
            if regex.captures_len() < 2 {
                return Err(ItemError {
                    index,
                    problem: "path_regex needs a capture group for the item id, e.g. ^/p/([^/]+)"
                        .into(),
                });
            }
            compiled.push(regex);
        }
        Ok(Self { rules: compiled })
    }

    /// The item of an event on `path` whose `item_id` property is
    /// `property` (empty when it has none): the property when it is an id,
    /// else the first rule's capture, else none (empty).
    #[must_use]
    pub fn of<'a>(&self, path: &'a str, property: &'a str) -> &'a str {
        if valid(property) {
            return property.trim();
        }
        self.rules
            .iter()
            .find_map(|rule| rule.captures(path)?.get(1).map(|m| m.as_str()))
            .filter(|id| valid(id))
            .unwrap_or_default()
    }
}

/// An id is 1-[`MAX_ITEM_CHARS`] characters, none of them a control.
fn valid(id: &str) -> bool {
    let id = id.trim();
    !id.is_empty() && id.chars().count() <= MAX_ITEM_CHARS && !id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(rules: &[&str]) -> Items {
        let rules: Vec<ItemRule> = rules
            .iter()
            .map(|r| ItemRule {
                path_regex: (*r).into(),
            })
            .collect();
        Items::compile(&rules).unwrap()
    }

    #[test]
    fn the_property_wins_then_the_first_matching_rule() {
        let items = items(&["^/p/([^/]+)", "^/shop/[^/]+/([^/]+)$"]);
        for (path, property, want) in [
            ("/p/shoe-42", "", "shoe-42"),
            ("/p/shoe-42/reviews", "", "shoe-42"),
            ("/shop/shoes/runner", "", "runner"),
            ("/p/shoe-42", "sku-9", "sku-9"),
            ("/about", "", ""),
            ("/about", "  ", ""),
            ("/p/", "", ""),
        ] {
            assert_eq!(items.of(path, property), want, "{path} {property:?}");
        }
    }

    #[test]
    fn ids_too_long_or_with_controls_are_not_ids() {
        let items = items(&["^/p/(.+)$"]);
        let long = "x".repeat(MAX_ITEM_CHARS + 1);
        assert_eq!(items.of(&format!("/p/{long}"), ""), "");
        assert_eq!(items.of("/p/ok", &long), "ok");
        assert_eq!(items.of("/p/ok", "a\u{0}b"), "ok");
    }

    #[test]
    fn a_rule_without_a_capture_group_or_that_does_not_compile_is_refused() {
        for (rule, problem) in [("^/p/", "capture group"), ("^/p/(", "path_regex")] {
            let error = Items::compile(&[ItemRule {
                path_regex: rule.into(),
            }])
            .unwrap_err();
            assert!(error.to_string().contains(problem), "{error}");
        }
    }
}
