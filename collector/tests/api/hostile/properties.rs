//! Generated hostile bodies, over HTTP: random bytes, every truncation of a
//! valid envelope (plain and gzipped), single-byte mutations of one, and any
//! JSON value in place of any field. Whatever comes, the answer is one of
//! the documented statuses with a documented reason, never a `5xx`, a hang
//! or a panic, and the collector keeps serving.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::runtime::Runtime;

use super::{answer, good, gzip, spawn, still_serves};
use crate::helpers::MemoryCollector;

/// Every reason a body can be refused for (`collector/README.md`).
const BODY_REASONS: &[&str] = &[
    "invalid_json",
    "invalid_utf8",
    "invalid_field",
    "empty_batch",
    "too_many_events",
    "props_too_large",
    "invalid_gzip",
    "unknown_site",
    "origin_not_allowed",
    "too_large",
];

/// A runtime of the test's own (proptest's cases are synchronous) with a
/// collector in it.
fn start() -> (Runtime, MemoryCollector) {
    let runtime = Runtime::new().unwrap();
    let collector = runtime.block_on(async { spawn() });
    (runtime, collector)
}

/// Runs `cases` generated inputs through `check`.
fn run<S: Strategy>(
    cases: u32,
    strategy: &S,
    check: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner.run(strategy, check).unwrap();
}

/// Posts `body` and checks the answer is `204` or a documented refusal.
fn assert_documented(
    runtime: &Runtime,
    collector: &MemoryCollector,
    body: Vec<u8>,
    gzip: bool,
) -> (u16, String) {
    let headers: &[(&str, &str)] = if gzip {
        &[("content-encoding", "gzip")]
    } else {
        &[]
    };
    let (status, reason) = runtime.block_on(answer(collector, body, headers));
    let documented = status == 204 && reason.is_empty()
        || matches!(status, 400 | 403 | 413) && BODY_REASONS.contains(&reason.as_str());
    assert!(documented, "{status} {reason:?}");
    (status, reason)
}

#[test]
fn random_bytes_are_refused_as_a_body() {
    let (runtime, collector) = start();
    run(256, &vec(any::<u8>(), 0..2048), |bytes| {
        let (status, _) = assert_documented(&runtime, &collector, bytes, false);
        prop_assert_eq!(status, 400);
        Ok(())
    });
    run(64, &vec(any::<u8>(), 0..2048), |bytes| {
        let (status, reason) = assert_documented(&runtime, &collector, bytes, true);
        prop_assert_eq!((status, reason.as_str()), (400, "invalid_gzip"));
        Ok(())
    });
    runtime.block_on(still_serves(&collector));
}

#[test]
fn every_truncation_of_an_envelope_is_refused() {
    let (runtime, collector) = start();
    let body = good().into_bytes();
    for cut in 0..body.len() {
        let answer = assert_documented(&runtime, &collector, body[..cut].to_vec(), false);
        assert_eq!(answer, (400, "invalid_json".to_owned()), "cut at {cut}");
    }
    let gzipped = gzip(&body);
    for cut in 0..gzipped.len() {
        let answer = assert_documented(&runtime, &collector, gzipped[..cut].to_vec(), true);
        assert_eq!(answer.0, 400, "gzip cut at {cut}");
    }
    runtime.block_on(still_serves(&collector));
    assert_eq!(
        collector.publisher.published().len(),
        1,
        "only the whole one"
    );
}

#[test]
fn a_mutated_envelope_is_accepted_or_refused_for_a_documented_reason() {
    let (runtime, collector) = start();
    let body = good().into_bytes();
    let edits = (0..body.len(), any::<u8>(), 0..3_u8);
    run(512, &edits, |(at, byte, how)| {
        let mut mutated = body.clone();
        match how {
            0 => mutated[at] = byte,
            1 => mutated.insert(at, byte),
            _ => drop(mutated.remove(at)),
        }
        assert_documented(&runtime, &collector, mutated, false);
        Ok(())
    });
    runtime.block_on(still_serves(&collector));
}

/// Any JSON value, nested a few levels.
fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn any_json_value_in_place_of_any_field_is_answered_for_a_documented_reason() {
    let (runtime, collector) = start();
    let mut envelope: serde_json::Value = serde_json::from_str(&good()).unwrap();
    // Every field the cases replace is there to be replaced.
    envelope["consent"]["tcf"] = "".into();
    envelope["consent"]["gpc"] = false.into();
    envelope["context"]["screen"] = serde_json::json!([1920, 1080]);
    let fields = [
        "/site",
        "/sent_at",
        "/consent",
        "/consent/measurement",
        "/consent/updated_at",
        "/consent/tcf",
        "/consent/gpc",
        "/visitor",
        "/visitor/id",
        "/context",
        "/context/url",
        "/context/screen",
        "/events",
        "/events/0",
        "/events/0/id",
        "/events/0/type",
        "/events/0/ts",
        "/events/0/seq",
        "/events/0/props",
        "/events/0/props/el",
    ];
    run(512, &(0..fields.len(), json()), |(field, value)| {
        let mut body = envelope.clone();
        *body.pointer_mut(fields[field]).unwrap() = value;
        assert_documented(&runtime, &collector, body.to_string().into_bytes(), false);
        Ok(())
    });
    runtime.block_on(still_serves(&collector));
}
