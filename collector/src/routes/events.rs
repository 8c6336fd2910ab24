//! `POST /v1/events`: the tag's batches. [`super::intake`] (rate limit,
//! body, parse, site and origin, validation) → consent gate → publish
//! events and records → consent records into the ledger → `204` once Kafka
//! acknowledged every message. The ledger learns a record only once it is
//! durable: a request answered `503` leaves no trace in it, so its retry
//! records the change. Drops are counted and named in the
//! `Fiducia-Dropped` header; refusals carry a machine-readable reason.

use std::fmt::Write as _;

use actix_web::{HttpRequest, HttpResponse, web};
use fiducia_proto::consent::action_name;

use super::{AppState, Intake, intake};
use crate::accept::{Accepted, accept, gate};
use crate::consent::resolve::Resolution;
use crate::error::ApiError;
use crate::metrics;
use crate::privacy::visitor;
use crate::publish::{Batch, EventPublisher};

/// Response header naming dropped events by purpose and reason, e.g.
/// `measurement:withdrawn=3, personalization:gpc=1`.
pub const DROPPED_HEADER: &str = "Fiducia-Dropped";

/// Handles one batch.
///
/// # Errors
/// Every refusal, as an [`ApiError`] (also counted by reason).
#[tracing::instrument(name = "post_events", skip_all)]
pub async fn post<P: EventPublisher>(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let mut events_in_request = 0;
    let result = handle(&request, payload, &state, &mut events_in_request).await;
    if let Err(error) = &result {
        // The request itself is counted by `super::observe`.
        let reason = error.reason();
        if events_in_request > 0 {
            ::metrics::counter!(metrics::EVENTS_REJECTED, "reason" => reason)
                .increment(events_in_request as u64);
        }
        tracing::info!(reason, events = events_in_request, "request refused");
    }
    result
}

async fn handle<P: EventPublisher>(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState<P>,
    events_in_request: &mut usize,
) -> Result<HttpResponse, ApiError> {
    let Intake {
        mut envelope,
        checked,
        meta,
        site,
        site_id,
    } = intake(request, payload, state, events_in_request).await?;
    let resolution = gate(
        &envelope,
        &checked,
        &meta,
        &site.consent,
        Some(&state.ledger),
    );
    count_tc_string(&resolution);
    // An erased visitor's tag still sends its old id: told to forget it
    // (rare: looked up only when the resolution says erased).
    let forget_visitor = resolution.ledger.is_some_and(|e| e.erased)
        && envelope
            .visitor
            .id
            .as_deref()
            .and_then(|v| state.ledger.get(&envelope.site, v))
            .is_some_and(|e| e.erased);
    // A new id has no ledger entry: the resolution holds for it too.
    let issued = visitor::mint(
        &mut envelope,
        &resolution.grants,
        &site.consent,
        &state.privacy,
        meta.received_at_ms,
    );
    let Accepted {
        events,
        records,
        kept,
        stripped,
        dropped,
    } = accept(envelope, &checked, &meta, &site.consent, &resolution);
    // Kept for the ledger until Kafka acknowledged them (rare: no
    // allocation when the batch has none).
    let batch_records: Vec<_> = records.iter().map(|(_, r)| r.clone()).collect();
    let batch = Batch {
        events,
        records,
        requests: Vec::new(),
    };
    if !batch.is_empty() {
        let messages = batch.len();
        // Bounded, static labels: nothing of the records is kept past the publish.
        let record_labels: Vec<(&'static str, &'static str)> = batch
            .records
            .iter()
            .map(|(_, r)| (action_name(r.action()), source_kind(&r.source)))
            .collect();
        state.publisher.publish(batch).await.map_err(|error| {
            tracing::warn!(%error, messages, "publish failed");
            ApiError::Unavailable {
                retry_after_seconds: state.retry_after_seconds,
            }
        })?;
        // Durable now: a withdrawal holds on this instance before this
        // request is answered; other instances follow the topic.
        for record in &batch_records {
            state.ledger.apply(record);
        }
        for (action, source) in record_labels {
            ::metrics::counter!(metrics::CONSENT_RECORDS, "action" => action, "source" => source)
                .increment(1);
        }
    }
    metrics::events_decided(site_id, kept, stripped);
    let mut response = HttpResponse::NoContent();
    if let Some(visitor) = issued {
        metrics::hot().visitor_ids_issued.increment(1);
        response.insert_header((visitor::VISITOR_HEADER, visitor));
    } else if forget_visitor {
        // `Fiducia-Visitor: 0`: the tag stores what this header says as its
        // visitor id, and storing 0 deletes it (`js-tag/src/tracker.js`
        // `adopt`), so it asks for a new, unlinked id next time.
        response.insert_header((visitor::VISITOR_HEADER, visitor::FORGET));
    }
    if !dropped.is_empty() {
        let mut header = String::new();
        for (drop, count) in &dropped {
            ::metrics::counter!(
                metrics::EVENTS,
                "site" => site_id.to_owned(),
                "decision" => "drop",
                "purpose" => drop.purpose.as_str(),
                "reason" => drop.reason.as_str()
            )
            .increment(*count as u64);
            if !header.is_empty() {
                header.push_str(", ");
            }
            let _ = write!(
                header,
                "{}:{}={count}",
                drop.purpose.as_str(),
                drop.reason.as_str()
            );
        }
        response.insert_header((DROPPED_HEADER, header));
    }
    Ok(response.finish())
}

fn count_tc_string(resolution: &Resolution) {
    let outcome = match &resolution.tcf {
        None => return,
        Some(Ok(tc)) if !tc.has_publisher_segment() => "no_publisher_segment",
        Some(Ok(tc)) if !tc.has_disclosed_vendors => "valid_without_disclosed_vendors",
        Some(Ok(_)) => "valid",
        Some(Err(error)) => error.outcome(),
    };
    ::metrics::counter!(metrics::TCF_STRINGS, "outcome" => outcome).increment(1);
}

/// `tag:api` → `tag`, `tcf:300` → `tcf`: a bounded label.
fn source_kind(source: &str) -> &'static str {
    match source.split(':').next() {
        Some("tag") => "tag",
        Some("tcf") => "tcf",
        Some("gpc") => "gpc",
        Some("dnt") => "dnt",
        Some("privacy") => "privacy",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::test;
    use fiducia_proto::v1::ConsentAction;

    use super::super::testing::{body, call, call_on, now};
    use super::*;
    use crate::consent::ledger::Ledger;
    use crate::publish::memory::MemoryPublisher;

    fn consent(measurement: &str) -> String {
        format!(
            r#"{{"measurement":"{measurement}","updated_at":{}}}"#,
            now() - 1000
        )
    }

    /// Posts one envelope with measurement as given and these event types.
    async fn post(
        publisher: &Arc<MemoryPublisher>,
        measurement: &str,
        types: &[&str],
    ) -> actix_web::dev::ServiceResponse {
        call(
            publisher,
            "/v1/events",
            &body(&consent(measurement), types),
            &[],
        )
        .await
    }

    #[actix_web::test]
    async fn accepted_events_reach_the_publisher_with_the_network_only() {
        let publisher = Arc::new(MemoryPublisher::default());
        let response = post(&publisher, "granted", &["page_view"]).await;
        assert_eq!(response.status(), 204);
        let published = publisher.published();
        assert_eq!(published.len(), 1);
        assert_eq!(
            published[0].1.ip.as_ref().unwrap().network,
            vec![198, 51, 100, 0]
        );
    }

    #[actix_web::test]
    async fn denied_events_never_reach_the_publisher() {
        let publisher = Arc::new(MemoryPublisher::default());
        let response = post(&publisher, "denied", &["page_view"]).await;
        assert_eq!(response.status(), 204);
        assert_eq!(
            response.headers().get(DROPPED_HEADER).unwrap(),
            "measurement:denied=1"
        );
        assert!(publisher.published().is_empty());
    }

    #[actix_web::test]
    async fn a_consent_event_is_recorded_not_published_as_an_event() {
        let publisher = Arc::new(MemoryPublisher::default());
        let response = post(&publisher, "granted", &["consent", "page_view"]).await;
        assert_eq!(response.status(), 204);
        let published = publisher.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].1.event_type, "page_view");
        let records = publisher.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].1.action(), ConsentAction::Grant);
        assert_eq!(records[0].1.subject, "v-1");
        assert_eq!(records[0].0, "demo/v-1");
    }

    #[actix_web::test]
    async fn a_publisher_that_cannot_make_events_durable_means_503() {
        let publisher = Arc::new(MemoryPublisher::default());
        publisher.set_down(true);
        let response = post(&publisher, "granted", &["page_view"]).await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers().get("retry-after").unwrap(), "7");
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["error"], "unavailable");
        assert!(publisher.published().is_empty());
    }

    #[actix_web::test]
    async fn a_consent_event_refused_with_503_is_recorded_when_retried() {
        let publisher = Arc::new(MemoryPublisher::default());
        let ledger = Arc::new(Ledger::default());
        let post = |body: String| {
            let (publisher, ledger) = (Arc::clone(&publisher), Arc::clone(&ledger));
            async move { call_on(&publisher, &ledger, true, "/v1/events", &body, &[]).await }
        };
        assert_eq!(
            post(body(&consent("granted"), &["consent"])).await.status(),
            204
        );
        assert_eq!(publisher.records().len(), 1);
        let withdrawal = body(&consent("denied"), &["consent"]);
        publisher.set_down(true);
        assert_eq!(post(withdrawal.clone()).await.status(), 503);
        let entry = ledger.get("demo", "v-1").unwrap();
        assert!(
            entry
                .withdrawn_at(fiducia_proto::consent::Purpose::Measurement)
                .is_none(),
            "the ledger learns only what Kafka acknowledged"
        );
        publisher.set_down(false);
        assert_eq!(post(withdrawal.clone()).await.status(), 204);
        let records = publisher.records();
        assert_eq!(records.len(), 2, "the retry records the withdrawal");
        assert_eq!(records[1].1.action(), ConsentAction::Withdraw);
        assert!(
            ledger
                .get("demo", "v-1")
                .unwrap()
                .withdrawn_at(fiducia_proto::consent::Purpose::Measurement)
                .is_some()
        );
        // Sent again once durable (an answer lost on the way): nothing new.
        assert_eq!(post(withdrawal).await.status(), 204);
        assert_eq!(publisher.records().len(), 2);
        let stale = post(body(&consent("granted"), &["page_view"])).await;
        assert_eq!(
            stale.headers().get(DROPPED_HEADER).unwrap(),
            "measurement:withdrawn=1"
        );
    }

    #[actix_web::test]
    async fn an_erased_visitor_is_told_to_forget_its_id_and_its_events_are_dropped() {
        let publisher = Arc::new(MemoryPublisher::default());
        let ledger = Arc::new(Ledger::default());
        let body = body(&consent("granted"), &["page_view"]);
        let response = call_on(&publisher, &ledger, true, "/v1/events", &body, &[]).await;
        assert!(response.headers().get(visitor::VISITOR_HEADER).is_none());
        ledger.apply(&crate::consent::testing::record(
            "v-1",
            ConsentAction::Erase,
            &[],
            now(),
        ));
        let response = call_on(&publisher, &ledger, true, "/v1/events", &body, &[]).await;
        assert_eq!(response.status(), 204);
        assert_eq!(
            response.headers().get(visitor::VISITOR_HEADER).unwrap(),
            "0"
        );
        assert_eq!(
            response.headers().get(DROPPED_HEADER).unwrap(),
            "measurement:erased=1"
        );
        assert_eq!(publisher.published().len(), 1, "only the event before");
    }

    #[actix_web::test]
    async fn nothing_is_decided_before_the_ledger_has_read_the_consent_topic() {
        let publisher = Arc::new(MemoryPublisher::default());
        let ledger = Arc::new(Ledger::default());
        for path in ["/v1/events", "/v1/consent/explain"] {
            let body = body(&consent("granted"), &["consent", "page_view"]);
            let response = call_on(&publisher, &ledger, false, path, &body, &[]).await;
            assert_eq!(response.status(), 503, "{path}");
            assert_eq!(response.headers().get("retry-after").unwrap(), "7");
            let reason: serde_json::Value = test::read_body_json(response).await;
            assert_eq!(reason["error"], "ledger_catching_up", "{path}");
        }
        assert!(publisher.published().is_empty() && publisher.records().is_empty());
    }
}
