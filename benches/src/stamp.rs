//! Re-stamps a corpus request at the moment it is sent, for the tag →
//! ClickHouse latency scenario: `sent_at` and every event's `ts` become
//! now, and every event gets a fresh UUIDv7 minted now, so each event is
//! new to the pipeline (no dedup against an earlier send) and the time it
//! was sent travels with it.

use bytes::Bytes;
use serde_json::Value;

/// The body of `body` stamped at `now_ms`, and the ids of its events.
/// `random` supplies the ids' random bits.
///
/// # Errors
/// When `body` is not a JSON envelope with an `events` array.
pub fn restamp(
    body: &[u8],
    now_ms: i64,
    random: &mut crate::corpus::Rng,
) -> anyhow::Result<(Bytes, Vec<String>)> {
    let mut envelope: Value = serde_json::from_slice(body)?;
    envelope["sent_at"] = now_ms.into();
    let events = envelope["events"]
        .as_array_mut()
        .ok_or_else(|| anyhow::anyhow!("the envelope has no events array"))?;
    let mut ids = Vec::with_capacity(events.len());
    for event in events {
        let id = crate::corpus::uuid7(random, now_ms);
        event["ts"] = now_ms.into();
        event["id"] = id.clone().into();
        ids.push(id);
    }
    Ok((Bytes::from(serde_json::to_vec(&envelope)?), ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{Rng, generate};

    #[test]
    fn every_event_gets_a_new_id_and_the_send_time() {
        let (requests, _) = generate(7, 1, 3, 1_000);
        let (body, ids) = restamp(&requests[0].body, 5_000, &mut Rng::new(1)).unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["sent_at"], 5_000);
        let events = value["events"].as_array().unwrap();
        assert_eq!(ids.len(), 3);
        for (event, id) in events.iter().zip(&ids) {
            assert_eq!(event["ts"], 5_000);
            assert_eq!(event["id"].as_str(), Some(id.as_str()));
        }
        let (_, again) = restamp(&requests[0].body, 5_000, &mut Rng::new(2)).unwrap();
        assert_ne!(ids, again);
    }
}
