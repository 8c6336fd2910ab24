//! Consent records for unit tests, in one place.

use fiducia_proto::consent::Purpose;
use fiducia_proto::v1::{ConsentAction, ConsentRecord, ConsentSnapshot};

/// A record of `subject` on site `demo` made through the tag's API,
/// stating `granted` (the other purposes denied), received at
/// `server_ts_ms` and chosen then by the client's clock.
pub fn record(
    subject: &str,
    action: ConsentAction,
    granted: &[Purpose],
    server_ts_ms: i64,
) -> ConsentRecord {
    let mut state = ConsentSnapshot::default();
    for p in Purpose::CONSENTABLE {
        p.set_in(&mut state, granted.contains(&p));
    }
    ConsentRecord {
        record_id: uuid::Uuid::now_v7().into_bytes().to_vec(),
        site_id: "demo".into(),
        subject: subject.into(),
        action: action.into(),
        state: Some(state),
        source: "tag:api".into(),
        client_ts_ms: server_ts_ms,
        server_ts_ms,
        ..ConsentRecord::default()
    }
}
