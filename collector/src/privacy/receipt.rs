//! Consent receipts: one per consent record, a JWS of type
//! [`RECEIPT_TYPE`] over the record's fields, signed by the collector's
//! key and verifiable offline against `/.well-known/jwks.json`. Field
//! names follow the Kantara Initiative's Consent Receipt Specification
//! v1.1 where one fits (`consentReceiptID`, `consentTimestamp`,
//! `collectionMethod`, `piiPrincipalId`, `piiControllers`, `services[]
//! .purposes[]`, `termination`, `thirdPartyDisclosure`); what it has no
//! name for (the record's action, times in ms, network, browser, notice
//! hash, signals) is under `fiducia`, named as in `fiducia.v1.ConsentRecord`.
//! Its `jurisdiction` and `policyUrl` are not known to the collector and
//! are left out, so `version` names this document, not Kantara's.

use fiducia_proto::consent::{Purpose, action_name};
use fiducia_proto::v1::ConsentRecord;
use serde_json::{Value, json};

use super::jws;
use super::keys::Keys;
use super::state::{record_id, stated};

/// The JWS `typ` of consent receipts.
pub const RECEIPT_TYPE: &str = "fiducia-consent-receipt+jws";
/// The receipt document's `version`.
pub const VERSION: &str = "fiducia-consent-receipt-1";

/// The receipt's payload for `record`.
#[must_use]
pub fn payload(record: &ConsentRecord) -> Value {
    let granted = stated(record);
    let termination = (record.expires_at_ms > 0).then_some(record.expires_at_ms.div_euclid(1000));
    let purposes: Vec<Value> = Purpose::CONSENTABLE
        .into_iter()
        .map(|p| {
            json!({
                "purpose": p.as_str(),
                "consentGiven": granted.contains(p),
                "termination": termination.filter(|_| granted.contains(p)),
                "thirdPartyDisclosure": false,
            })
        })
        .collect();
    let state = record.state.clone().unwrap_or_default();
    let network = record.ip.as_ref().map(|ip| {
        let address = match ip.network.len() {
            4 => std::net::IpAddr::from(
                <[u8; 4]>::try_from(ip.network.as_slice()).unwrap_or_default(),
            ),
            _ => std::net::IpAddr::from(
                <[u8; 16]>::try_from(ip.network.as_slice()).unwrap_or_default(),
            ),
        };
        format!("{address}/{}", ip.prefix_len)
    });
    json!({
        "version": VERSION,
        "consentReceiptID": record_id(record),
        "consentTimestamp": record.server_ts_ms.div_euclid(1000),
        "collectionMethod": record.source,
        "piiPrincipalId": record.subject,
        "piiControllers": [{"piiController": record.site_id}],
        "services": [{"service": record.site_id, "purposes": purposes}],
        "sensitive": false,
        "spiCat": [],
        "fiducia": {
            "action": action_name(record.action()),
            "notice_version": record.notice_version,
            "notice_hash": record.notice_hash,
            "client_ts_ms": record.client_ts_ms,
            "server_ts_ms": record.server_ts_ms,
            "expires_at_ms": record.expires_at_ms,
            "network": network,
            "browser_family": record.browser_family,
            "gpc": state.gpc,
            "dnt": state.dnt,
            "tcf": state.tcf,
            "gpp": state.gpp,
        },
    })
}

/// The signed receipt of `record`; `None` without a signing key.
#[must_use]
pub fn sign(keys: &Keys, record: &ConsentRecord) -> Option<String> {
    let signer = keys.signer()?;
    Some(jws::sign(
        signer,
        RECEIPT_TYPE,
        payload(record).to_string().as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use fiducia_proto::v1::{ConsentAction, ConsentSnapshot, IpPrefix};

    use super::*;

    #[test]
    fn a_receipt_states_the_record_and_verifies_against_the_published_keys() {
        let keys = Keys::signing("k1", SigningKey::from_bytes(&[9; 32]));
        let record = ConsentRecord {
            record_id: uuid::Uuid::now_v7().into_bytes().to_vec(),
            site_id: "demo".into(),
            subject: "v-1".into(),
            action: ConsentAction::Withdraw.into(),
            state: Some({
                let mut state = ConsentSnapshot::default();
                Purpose::Measurement.set_in(&mut state, true);
                state
            }),
            source: "privacy:center".into(),
            server_ts_ms: 1_800_000_000_123,
            expires_at_ms: 1_834_000_000_000,
            ip: Some(IpPrefix {
                network: vec![198, 51, 100, 0],
                prefix_len: 24,
            }),
            ..ConsentRecord::default()
        };
        let jws = sign(&keys, &record).unwrap();
        let payload: Value =
            serde_json::from_slice(&jws::verify(&keys, RECEIPT_TYPE, &jws).unwrap()).unwrap();
        assert_eq!(payload["consentReceiptID"], record_id(&record));
        assert_eq!(payload["piiPrincipalId"], "v-1");
        assert_eq!(payload["consentTimestamp"], 1_800_000_000);
        assert_eq!(payload["fiducia"]["action"], "withdraw");
        assert_eq!(payload["fiducia"]["network"], "198.51.100.0/24");
        let purposes = &payload["services"][0]["purposes"];
        assert_eq!(purposes[0]["purpose"], "measurement");
        assert_eq!(purposes[0]["consentGiven"], true);
        assert_eq!(purposes[0]["termination"], 1_834_000_000);
        assert_eq!(purposes[1]["consentGiven"], false);
        assert_eq!(purposes[1]["termination"], Value::Null);
    }
}
