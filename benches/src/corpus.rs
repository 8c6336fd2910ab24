//! The fixed, seeded corpus of envelopes (`collector/README.md`, the envelope) that every load
//! scenario sends: the same seed gives the same requests, byte for byte,
//! but for the times, which are relative to the moment the corpus is made
//! (consent older than the site's maximum age would be denied).
//!
//! The mix, per request: a user agent from a realistic list (about 5%
//! bots), UTM parameters on about 30% of page URLs, and about 10% of
//! envelopes without measurement consent, which the collector must drop
//! and count (`Fiducia-Dropped`). Events carry realistic properties so an
//! event costs 400-600 bytes on the wire, alone or in a batch.

use bytes::Bytes;
use serde_json::{Value, json};

/// The origin every request claims: one the local `demo` site allows
/// (deploy/sites.toml).
pub const ORIGIN: &str = "http://127.0.0.1:8000";

/// The site id of deploy/sites.toml.
pub const SITE: &str = "demo";

/// SplitMix64: small, fast and fully determined by its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let len = u64::try_from(items.len()).unwrap_or(u64::MAX);
        &items[usize::try_from(self.below(len)).unwrap_or(0)]
    }
}

/// Browsers, in rough proportion to their share of traffic (repeats weigh).
const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
];

/// Crawlers and tools: about 5% of requests.
const BOTS: &[&str] = &[
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.32.3",
    "HeadlessChrome/131.0.6778.69",
];

const PAGES: &[(&str, &str)] = &[
    ("/", "Shop: shoes and bags for every day"),
    ("/c/shoes", "Shoes | Shop"),
    ("/c/bags", "Bags | Shop"),
    ("/p/red-leather-sneakers-42", "Red leather sneakers | Shop"),
    ("/p/canvas-tote-bag-17", "Canvas tote bag | Shop"),
    ("/p/suede-chelsea-boots-9", "Suede Chelsea boots | Shop"),
    ("/cart", "Your cart | Shop"),
    ("/checkout/shipping", "Shipping | Checkout"),
    ("/blog/how-to-clean-suede", "How to clean suede | Shop blog"),
    ("/search?q=sneakers&page=2", "Search: sneakers | Shop"),
];

const REFERRERS: &[&str] = &[
    "",
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://www.instagram.com/",
    "https://shop.example/c/shoes",
    "https://news.example.org/2026/11/best-sneakers",
];

const UTM: &[&str] = &[
    "utm_source=newsletter&utm_medium=email&utm_campaign=black_friday_2026",
    "utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=red+sneakers",
    "utm_source=instagram&utm_medium=social&utm_campaign=autumn_drop&utm_content=story_3",
    "utm_source=partner&utm_medium=affiliate&utm_campaign=q4",
];

const LOCALES: &[(&str, &str)] = &[
    ("it-IT", "Europe/Rome"),
    ("en-GB", "Europe/London"),
    ("de-DE", "Europe/Berlin"),
    ("fr-FR", "Europe/Paris"),
    ("en-US", "America/New_York"),
    ("es-ES", "Europe/Madrid"),
];

const SCREENS: &[([u32; 2], [u32; 2])] = &[
    ([1920, 1080], [1280, 800]),
    ([2560, 1440], [1600, 900]),
    ([1440, 900], [1440, 789]),
    ([390, 844], [390, 664]),
    ([412, 915], [412, 780]),
    ([820, 1180], [820, 1050]),
];

const PRODUCTS: &[(&str, &str, u32)] = &[
    ("SKU-RLS-42", "Red leather sneakers", 12_900),
    ("SKU-CTB-17", "Canvas tote bag", 3_900),
    ("SKU-SCB-09", "Suede Chelsea boots", 18_900),
    ("SKU-WRS-38", "White running shoes", 9_900),
    ("SKU-LBP-03", "Leather backpack", 15_900),
];

/// One request of the corpus.
#[derive(Debug, Clone)]
pub struct Request {
    /// The JSON body.
    pub body: Bytes,
    /// The `User-Agent` header.
    pub user_agent: &'static str,
    /// Events in the body.
    pub events: usize,
    /// Whether the envelope grants measurement (if not, the collector drops
    /// every event and says so in `Fiducia-Dropped`).
    pub consented: bool,
    /// Whether the user agent is a bot's.
    pub bot: bool,
}

/// What a corpus holds, for the results.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Requests.
    pub requests: usize,
    /// Events in all requests.
    pub events: usize,
    /// Body bytes per event, on average.
    pub bytes_per_event: f64,
    /// Share of requests with a bot's user agent.
    pub bot_share: f64,
    /// Share of requests whose page URL carries UTM parameters.
    pub utm_share: f64,
    /// Share of requests without measurement consent.
    pub no_consent_share: f64,
}

/// Makes `requests` requests of `events_per_request` events each from
/// `seed`, with times just before `now_ms`.
#[must_use]
pub fn generate(
    seed: u64,
    requests: usize,
    events_per_request: usize,
    now_ms: i64,
) -> (Vec<Request>, Stats) {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(requests);
    let (mut bytes, mut bots, mut utms, mut denied) = (0usize, 0usize, 0usize, 0usize);
    for _ in 0..requests {
        let (request, utm) = one(&mut rng, events_per_request, now_ms);
        bytes += request.body.len();
        bots += usize::from(request.bot);
        utms += usize::from(utm);
        denied += usize::from(!request.consented);
        out.push(request);
    }
    let share = |n: usize| n as f64 / requests.max(1) as f64;
    let events = requests * events_per_request;
    let stats = Stats {
        requests,
        events,
        bytes_per_event: bytes as f64 / events.max(1) as f64,
        bot_share: share(bots),
        utm_share: share(utms),
        no_consent_share: share(denied),
    };
    (out, stats)
}

/// A UUIDv7 at `ms`, its random bits from `rng`.
#[must_use]
pub fn uuid7(rng: &mut Rng, ms: i64) -> String {
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    random[8..].copy_from_slice(&rng.next_u64().to_le_bytes()[..2]);
    let ms = u64::try_from(ms).unwrap_or_default();
    uuid::Builder::from_unix_timestamp_millis(ms, &random)
        .into_uuid()
        .to_string()
}

fn one(rng: &mut Rng, events: usize, now_ms: i64) -> (Request, bool) {
    let bot = rng.percent(5);
    let user_agent = if bot {
        *rng.pick(BOTS)
    } else {
        *rng.pick(BROWSERS)
    };
    let consented = !rng.percent(10);
    let utm = rng.percent(30);
    let (path, title) = *rng.pick(PAGES);
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = if utm {
        format!("https://shop.example{path}{sep}{}", rng.pick(UTM))
    } else {
        format!("https://shop.example{path}")
    };
    let (lang, tz) = *rng.pick(LOCALES);
    let (screen, viewport) = *rng.pick(SCREENS);
    let sent_at = now_ms - i64::try_from(rng.below(2_000)).unwrap_or(0);
    // Granted up to 30 days ago: well inside the 13-month maximum age.
    let updated_at = now_ms - i64::try_from(rng.below(30 * 86_400_000)).unwrap_or(0);
    // Half the consenting visitors agreed to personalization too: their
    // events move a profile (the enricher's work, the freshness scenario).
    let personalization = if rng.percent(50) { "granted" } else { "denied" };
    let consent = if consented {
        json!({"measurement": "granted", "personalization": personalization, "functional": "granted",
               "source": "cmp", "notice_version": "2026-01", "updated_at": updated_at})
    } else {
        json!({"measurement": "denied", "personalization": "denied", "functional": "denied",
               "source": "cmp", "notice_version": "2026-01", "updated_at": updated_at})
    };
    let visitor = if consented {
        json!({"id": uuid7(rng, updated_at).replace('-', "")})
    } else {
        json!({})
    };
    let mut list = Vec::with_capacity(events);
    for seq in 0..events {
        let ts = sent_at - i64::try_from(rng.below(5_000)).unwrap_or(0);
        let (kind, props) = event_body(rng, seq, events > 1);
        list.push(
            json!({"id": uuid7(rng, ts), "type": kind, "ts": ts, "seq": seq + 1, "props": props}),
        );
    }
    let envelope = json!({
        "site": SITE,
        "sent_at": sent_at,
        "consent": consent,
        "visitor": visitor,
        "context": {"url": url, "referrer": rng.pick(REFERRERS), "title": title, "lang": lang, "tz": tz,
                    "screen": screen, "viewport": viewport},
        "events": list,
    });
    let body = Bytes::from(serde_json::to_vec(&envelope).unwrap_or_default());
    let request = Request {
        body,
        user_agent,
        events,
        consented,
        bot,
    };
    (request, utm)
}

/// An event type and its properties. In a batch the envelope's overhead is
/// shared, so each event carries more of its own (a product list view, a
/// click with its element) to stay at 400-600 bytes an event.
fn event_body(rng: &mut Rng, seq: usize, batched: bool) -> (&'static str, Value) {
    let (sku, name, cents) = *rng.pick(PRODUCTS);
    let kind = if seq == 0 {
        "page_view"
    } else {
        *rng.pick(&[
            "click",
            "scroll",
            "engagement",
            "custom",
            "outbound_link",
            "page_view",
        ])
    };
    let mut props = match kind {
        "click" => {
            json!({"element": "button.add-to-cart", "text": "Add to cart", "product_id": sku})
        }
        "scroll" => json!({"depth": 25 * (1 + rng.below(4))}),
        "engagement" => json!({"active_ms": 1_000 + rng.below(120_000)}),
        "outbound_link" => json!({"href": "https://help.example.org/shipping-and-returns"}),
        "custom" => json!({"name": "newsletter_signup", "placement": "footer", "plan": "weekly"}),
        _ => json!({}),
    };
    if batched && let Value::Object(map) = &mut props {
        map.insert("item_id".into(), json!(sku));
        map.insert("item_name".into(), json!(name));
        map.insert("price_cents".into(), json!(cents));
        map.insert("currency".into(), json!("EUR"));
        map.insert("brand".into(), json!("Shop Originals"));
        map.insert(
            "list".into(),
            json!("category grid: best sellers, autumn collection"),
        );
        map.insert("position".into(), json!(1 + rng.below(24)));
        map.insert(
            "variant".into(),
            json!(format!("size-{}", 36 + rng.below(10))),
        );
        map.insert(
            "section".into(),
            json!("main > div.products > article.product-card"),
        );
    }
    (kind, props)
}

#[cfg(test)]
mod tests {
    use fiducia_proto::time::midnight_days_ago_ms;

    use super::*;

    /// The instant the corpus is generated for: its times fall just before it.
    fn now() -> i64 {
        midnight_days_ago_ms(0)
    }

    #[test]
    fn the_same_seed_gives_the_same_corpus() {
        let (a, _) = generate(7, 50, 1, now());
        let (b, _) = generate(7, 50, 1, now());
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.body == y.body && x.user_agent == y.user_agent)
        );
        let (c, _) = generate(8, 50, 1, now());
        assert!(a.iter().zip(&c).any(|(x, y)| x.body != y.body));
    }

    #[test]
    fn the_mix_is_as_described() {
        for events in [1, 20] {
            let (_, stats) = generate(7, 4_000, events, now());
            assert!(
                (400.0..=600.0).contains(&stats.bytes_per_event),
                "{stats:?}"
            );
            assert!((0.03..0.07).contains(&stats.bot_share), "{stats:?}");
            assert!((0.26..0.34).contains(&stats.utm_share), "{stats:?}");
            assert!((0.08..0.12).contains(&stats.no_consent_share), "{stats:?}");
        }
    }

    #[test]
    fn bodies_are_json_envelopes_with_uuid7_ids() {
        let (requests, _) = generate(7, 20, 20, now());
        for request in requests {
            let value: Value = serde_json::from_slice(&request.body).unwrap();
            let events = value["events"].as_array().unwrap();
            assert_eq!(events.len(), 20);
            for event in events {
                let id = uuid::Uuid::parse_str(event["id"].as_str().unwrap()).unwrap();
                assert_eq!(id.get_version_num(), 7);
            }
            assert_eq!(value["site"], SITE);
        }
    }
}
