//! `deploy/CONFIGURATION.md` checked against the code, both ways: the keys of
//! each sites-file section (from the section type's JSON schema, derived
//! with `schemars`, so serde's renames, defaults and `deny_unknown_fields`
//! are what is compared) and the environment variables each crate reads
//! (the `"FIDUCIA_…"` and `"RUST_LOG"` string literals of its sources
//! outside `#[cfg(test)]`). Each service calls these from its
//! `config::tests`; the runtime's own variables are checked here.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

/// The configuration reference's text.
///
/// # Panics
/// When the file cannot be read.
#[must_use]
pub fn document() -> String {
    let path = crate::repo_root().join("deploy/CONFIGURATION.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first cells (without backticks) of the table right under the heading
/// line `heading` (e.g. ``### `[sites.<id>.enrich]` ``).
///
/// # Panics
/// When the document has no such heading, or no table under it.
#[must_use]
pub fn table_keys(document: &str, heading: &str) -> BTreeSet<String> {
    let mut lines = document.lines().skip_while(|line| line.trim() != heading);
    assert!(lines.next().is_some(), "no heading {heading:?}");
    let rows: Vec<&str> = lines
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // the header and its rule
        .collect();
    assert!(!rows.is_empty(), "no table under {heading:?}");
    rows.iter()
        .map(|row| {
            row.trim_start_matches('|')
                .split('|')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches('`')
                .to_owned()
        })
        .collect()
}

/// The key paths of a section type: `key`, `table.key` for a nested table,
/// `array[].key` for an array of tables; a table with free keys (a map) is
/// one key.
#[must_use]
pub fn schema_keys<T: schemars::JsonSchema>() -> BTreeSet<String> {
    let schema = schemars::schema_for!(T);
    let root = schema.as_value();
    let mut keys = BTreeSet::new();
    walk(root, root, "", &mut keys);
    keys
}

fn walk(root: &Value, schema: &Value, prefix: &str, keys: &mut BTreeSet<String>) {
    let schema = resolve(root, schema);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        let path = format!("{prefix}{name}");
        let property = resolve(root, property);
        let items = property.get("items").map(|items| resolve(root, items));
        if property.get("properties").is_some() {
            walk(root, property, &format!("{path}."), keys);
        } else if let Some(items) = items.filter(|items| items.get("properties").is_some()) {
            walk(root, items, &format!("{path}[]."), keys);
        } else {
            keys.insert(path);
        }
    }
}

/// `schema` with `$ref`s followed and an optional's `null` branch dropped.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let pointer = reference.trim_start_matches('#');
        return resolve(root, root.pointer(pointer).unwrap_or(schema));
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = schema.get(combinator).and_then(Value::as_array) {
            let not_null: Vec<&Value> = branches
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if let [only] = not_null[..] {
                return resolve(root, only);
            }
        }
    }
    schema
}

/// The `"FIDUCIA_…"` and `"RUST_LOG"` string literals in the `.rs` files
/// under `dir`, outside `#[cfg(test)]` (a file's tests come last); prefixes
/// (ending in `_`) are not names.
///
/// # Panics
/// When the directory cannot be read.
#[must_use]
pub fn env_vars_in(dir: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut files = vec![dir.to_owned()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("a source directory") {
                files.push(entry.expect("a directory entry").path());
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for literal in code.split('"').skip(1).step_by(2) {
            let is_name = literal
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if is_name
                && !literal.ends_with('_')
                && (literal.starts_with("FIDUCIA_") || literal == "RUST_LOG")
            {
                names.insert(literal.to_owned());
            }
        }
    }
    names
}

/// Asserts that `documented` and `in_code` hold the same names, listing
/// what only one of them has.
///
/// # Panics
/// When they differ.
pub fn assert_same(what: &str, documented: &BTreeSet<String>, in_code: &BTreeSet<String>) {
    let mut message = String::new();
    for missing in in_code.difference(documented) {
        let _ = writeln!(
            message,
            "  {missing}: in the code, not in deploy/CONFIGURATION.md"
        );
    }
    for stale in documented.difference(in_code) {
        let _ = writeln!(
            message,
            "  {stale}: in deploy/CONFIGURATION.md, not in the code"
        );
    }
    assert!(message.is_empty(), "{what}:\n{message}");
}

/// The variables of the service whose sources are `src` (relative to the
/// repository root), checked against the table under `heading`.
///
/// # Panics
/// When they differ.
pub fn assert_env_documented(src: &str, heading: &str) {
    let documented = table_keys(&document(), heading);
    let in_code = env_vars_in(&crate::repo_root().join(src));
    assert_same(
        &format!("environment variables of {src} ({heading})"),
        &documented,
        &in_code,
    );
}

/// The keys of section type `T`, checked against the table under the
/// heading of `[sites.<id>.<section>]`.
///
/// # Panics
/// When they differ.
pub fn assert_section_documented<T: schemars::JsonSchema>(section: &str) {
    let heading = format!("### `[sites.<id>.{section}]`");
    let documented = table_keys(&document(), &heading);
    assert_same(
        &format!("keys of the sites file's {section} section"),
        &documented,
        &schema_keys::<T>(),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use fiducia_runtime::service::config::REMOVED;
    use fiducia_runtime::service::sites::Section;

    use super::*;

    #[test]
    fn every_variable_of_every_service_is_documented_and_every_documented_one_is_read() {
        // The runtime's variables, read by every service; the removed ones
        // are listed apart.
        let documented = table_keys(&document(), "### Every service");
        let removed: BTreeSet<String> = REMOVED.iter().map(|(v, _)| (*v).to_owned()).collect();
        let in_code: BTreeSet<String> = env_vars_in(&crate::repo_root().join("proto/runtime/src"))
            .difference(&removed)
            .cloned()
            .collect();
        assert_same("variables every service reads", &documented, &in_code);
        assert_same(
            "removed variables",
            &table_keys(&document(), "### Removed"),
            &removed,
        );
    }

    #[test]
    fn every_section_has_its_table() {
        let document = document();
        for section in Section::ALL {
            let heading = format!("### `[sites.<id>.{}]`", section.name());
            assert!(!table_keys(&document, &heading).is_empty(), "{heading}");
        }
    }

    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Nested {
        plain: u32,
        optional: Option<String>,
        table: Inner,
        rules: Vec<Inner>,
        map: BTreeMap<String, String>,
    }

    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }

    #[test]
    fn schema_keys_follow_tables_and_arrays_of_tables_and_stop_at_maps() {
        let keys: Vec<String> = schema_keys::<Nested>().into_iter().collect();
        assert_eq!(
            keys,
            ["map", "optional", "plain", "rules[].name", "table.name"]
        );
    }

    #[test]
    fn a_table_is_read_by_its_first_cells() {
        let text = "# T\n\n### `[a]`\n\nx\n\n| key | type |\n|---|---|\n| `one` | s |\n| `b.c` | s |\n\n### Next\n";
        let keys: Vec<String> = table_keys(text, "### `[a]`").into_iter().collect();
        assert_eq!(keys, ["b.c", "one"]);
    }
}
