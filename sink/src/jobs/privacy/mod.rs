//! The privacy-request workflow: the sink's consumer of
//! `fiducia.privacy.v1` (a consumer group of its own,
//! `<FIDUCIA_SINK_GROUP_ID>-privacy`), which records every request in
//! `privacy_requests` and carries erasures through to a verified deletion
//! ([`workflow`]). It runs in the shared at-least-once consume loop: a
//! request's offset is stored only once it reached its last state
//! (`verified`, or `completed` for an access request), so a sink stopped or
//! killed mid-request takes it up again after the restart, from the first
//! state it has no row for.
//!
//! Its partner is the deny filter ([`crate::deny`]): every sink also follows
//! the whole topic, without a group, into its deny-list, which the
//! workflow waits for before it counts and deletes.

pub mod request;
pub mod statements;
pub mod subject;
pub mod sweep;
pub mod workflow;

use fiducia_runtime::kafka::consume::{BatchError, BatchHandler, OffsetRange};
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::message::OwnedMessage;
use tokio_util::sync::CancellationToken;

use self::request::{InvalidRequest, Request};
use self::workflow::Workflow;
use crate::metrics;
use fiducia_proto::v1::PrivacyRequest;

/// Takes each request of a batch through the [`Workflow`], in order.
pub struct PrivacyHandler {
    workflow: Workflow,
    shutdown: CancellationToken,
}

impl PrivacyHandler {
    /// A handler that stops waiting when `shutdown` is cancelled.
    #[must_use]
    pub fn new(workflow: Workflow, shutdown: CancellationToken) -> Self {
        Self { workflow, shutdown }
    }
}

/// A message of the privacy topic, decoded.
fn decode(message: &OwnedMessage) -> Result<Request, String> {
    let payload = message.payload().unwrap_or_default();
    let request = PrivacyRequest::decode(payload).map_err(|e| e.to_string())?;
    Request::try_from(request).map_err(|e: InvalidRequest| e.to_string())
}

impl BatchHandler for PrivacyHandler {
    type Prepared = Vec<Request>;

    fn prepare(batch: Vec<OwnedMessage>, _ranges: &[OffsetRange]) -> Vec<Request> {
        batch
            .iter()
            .filter_map(|message| {
                decode(message)
                    .map_err(|detail| {
                        // Not dead-lettered: the privacy topic never expires,
                        // so the message stays where it is for inspection.
                        ::metrics::counter!(metrics::PRIVACY_INVALID).increment(1);
                        tracing::warn!(
                            partition = message.partition(),
                            offset = message.offset(),
                            %detail,
                            "privacy request skipped"
                        );
                    })
                    .ok()
            })
            .collect()
    }

    async fn handle(&mut self, requests: &Vec<Request>) -> Result<(), BatchError> {
        for request in requests {
            self.workflow.run(request, &self.shutdown).await?;
        }
        Ok(())
    }
}
