//! The gate's promises, as examples and as properties over arbitrary
//! envelopes, headers, ledger states and site policies. This file holds the
//! fixtures the others share.

use crate::consent::Field;
use fiducia_proto::consent::{Purpose, PurposeSet};
use fiducia_proto::v1::{ConsentAction, ConsentRecord, Decision};
use proptest::prelude::*;

use super::*;

mod decisions;
mod ledger;
mod properties;
mod records;
mod strip;
use crate::config::Limits;
use crate::consent::policy::Policy;
use crate::envelope::parse;

/// 2026-06-01T00:00Z: the TCF 2.2 test strings (2026-01-15) are fresh then.
const NOW: i64 = 1_780_272_000_000;
const DAY: i64 = 86_400_000;

/// `collector/reference/consent.md` table B: publisher purposes noted.
const ACCEPT_ALL: &str = "CQeEcwAQeEcwAEsAHBENAHEsAP_gAAAAAAYgAGMUQAAAAAAA.IAGMUQAA.f_wAAAAAAAAA"; // 1-11
const MEASUREMENT_ONLY: &str = "CQeEcwAQeEcwAEsAHBENAHEgAIOAAAAAAAYgAAAAAAAA.IAGMUQAA.cDAAAAAAAAAA"; // 1, 8, 9
const PERSONALIZED: &str = "CQeEcwAQeEcwAEsAHBENAHEgAI0AAAAAAAYgAAAAAAAA.IAGMUQAA.caAAAAAAAAAA"; // 1, 5, 6, 8
const REJECT_ALL: &str = "CQeEcwAQeEcwAEsAHBENAHEgAAAAAEPgAAYgAAAAAAAA.IAGMUQAA.YAAAADwAAAAA";
const POLICY_2: &str =
    "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA.YAAAAAAAAAAA";

struct Case {
    body: String,
    meta: RequestMeta,
    policy: Policy,
    ledger: Ledger,
}

impl Case {
    fn new(consent: &str, types: &[&str]) -> Self {
        let events: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(seq, t)| {
                format!(
                    r#"{{"id":"{}","type":"{t}","ts":{NOW},"seq":{seq},"props":{{"k":"v"}}}}"#,
                    uuid::Uuid::now_v7()
                )
            })
            .collect();
        let body = format!(
            r#"{{"site":"demo","sent_at":{NOW},"consent":{consent},
               "visitor":{{"id":"v-1","user_id":"u-1"}},
               "context":{{"url":"https://shop.example/p/42?utm_source=news&email=a%40b.c#x","referrer":"https://www.google.com/search?q=a",
                           "title":"Red shoes","lang":"it-IT","tz":"Europe/Rome","screen":[1920,1080],"viewport":[1280,800]}},
               "events":[{}]}}"#,
            events.join(",")
        );
        Self {
            body,
            meta: RequestMeta {
                ip: Some(crate::client_ip::truncate("203.0.113.77".parse().unwrap())),
                user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36".into(),
                received_at_ms: NOW,
                signals: HeaderSignals::default(),
            },
            policy: Policy::default(),
            ledger: Ledger::default(),
        }
    }

    fn run(&self) -> (Accepted, Resolution) {
        let envelope = parse(self.body.as_bytes()).unwrap();
        let checked = envelope.validate(&Limits::default()).unwrap();
        let resolution = gate(
            &envelope,
            &checked,
            &self.meta,
            &self.policy,
            Some(&self.ledger),
        );
        (
            accept(envelope, &checked, &self.meta, &self.policy, &resolution),
            resolution,
        )
    }
}

fn tag(granted: &[&str], age_days: i64) -> String {
    let fields: Vec<String> = granted
        .iter()
        .map(|p| format!(r#""{p}":"granted""#))
        .collect();
    format!(
        r#"{{{}{}"updated_at":{},"notice_version":"2026-01","source":"api"}}"#,
        fields.join(","),
        if fields.is_empty() { "" } else { "," },
        NOW - age_days * DAY
    )
}

/// A record of the ledger, received at `server_ts_ms`.
fn ledger_record(action: ConsentAction, granted: &[Purpose], server_ts_ms: i64) -> ConsentRecord {
    crate::consent::testing::record("v-1", action, granted, server_ts_ms)
}
