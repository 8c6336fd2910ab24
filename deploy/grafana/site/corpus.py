"""The site dashboard's seeded corpus, and its answers computed from the
corpus alone (never from ClickHouse): what the tests compare every query
with.

The corpus is a few hours of a small site, `corpus` (deploy/sites.toml),
made by a seeded generator, so the same seed gives the same visits and the
same answers; only the visitor ids (a fresh prefix per run, so the
collector's consent ledger and the enricher's session state start clean)
and the time window (it ends shortly before the run) change.

* Visitors who grant measurement (a `consent` event on their first page,
  as the tag sends one), some personalization too; sessions of 1-5 pages
  a minute or two apart, sessions of one visitor at least 45 minutes
  apart and never across midnight UTC (the sessions' rules would split
  them), each page a `page_view`, most an `engagement` event, some a
  `custom` one; the first page of a session has a referrer (search,
  social, another site or none) and, for some sessions, a campaign that
  every page of the session carries (a new campaign would split it).
* Some of them change their mind later: grant personalization (a second
  `grant` record) or withdraw everything (a `withdraw` record).
* Visitors who refuse: their pages are sent without consent, no visitor
  id and no `consent` event (the tag sends none for a refusal), and the
  collector drops them.
"""

import json
import random
import time
from dataclasses import dataclass, field

SITE = "corpus"
ORIGIN = "https://corpus.example"
SEED = 21
PATHS = ["/", "/pricing", "/blog/consent", "/p/shoes/red", "/p/shoes/blue", "/signup"]
PATH_WEIGHTS = [8, 4, 3, 3, 2, 1]
# Referrers of a session's first page, with the class the enricher gives
# them (SPEC 6); a campaign's medium `email` makes the session's class
# `email` whatever the referrer.
REFERRERS = {"": "direct", "https://www.google.com/": "search", "https://www.facebook.com/": "social",
             "https://news.example.org/post/7": "other"}
CAMPAIGN = "utm_source=newsletter&utm_medium=email&utm_campaign=spring"
# User agents, with their device class.
USER_AGENTS = {
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0": "desktop",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36": "desktop",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1": "mobile",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36": "mobile",
}
# Public addresses of a few countries; the collector believes them only
# from a trusted proxy (FIDUCIA_COLLECTOR_TRUSTED_PROXIES), else every
# visitor is 127.0.0.1 and has no country.
ADDRESSES = ["81.2.69.142", "85.214.132.117", "151.101.1.69", "8.8.8.8", "193.0.6.139"]
HOUR = 3600


@dataclass
class Page:
    """One page of a visit: the envelope the tag would send for it."""
    visitor: str          # visitor id, "" for a refusal
    ts: float             # Unix seconds of the page view
    path: str
    referrer: str
    campaign: bool
    grants: tuple         # (measurement, personalization) granted
    consent_event: bool   # the page carries a `consent` event (a new choice)
    engagement_ms: int    # 0: no engagement event
    custom: str           # "": no custom event
    ua: str
    address: str
    session: int = -1     # index of its session (corpus-wide), -1 when dropped


@dataclass
class Corpus:
    pages: list = field(default_factory=list)
    # Consent records the corpus makes, by action.
    records: dict = field(default_factory=dict)
    # Visitors whose latest choice grants personalization, with events then.
    profiles: set = field(default_factory=set)
    start: int = 0
    end: int = 0


def build(now=None, prefix=None, seed=SEED):
    """The corpus, its pages ending about 30 minutes before `now`."""
    rng = random.Random(seed)
    now = int(now or time.time())
    prefix = prefix or f"c{now:x}"
    start = (now - 6 * HOUR) // 60 * 60
    corpus = Corpus(start=start, end=now - 30 * 60)
    session = 0
    for v in range(40):
        visitor = f"{prefix}-v{v}"
        personalization = v % 4 == 0
        ua, address = list(USER_AGENTS)[v % len(USER_AGENTS)], ADDRESSES[v % len(ADDRESSES)]
        t = start + rng.randrange(0, 2 * HOUR)
        first = True
        for _ in range(rng.choice([1, 1, 2, 2, 3])):
            n = rng.choice([1, 1, 2, 3, 4, 5])
            if int(t) // 86400 != int(t + n * 130) // 86400:  # no session across midnight UTC
                t = (int(t + n * 130) // 86400) * 86400 + 60
            if t + n * 130 > corpus.end:
                break
            referrer, campaign = rng.choice(list(REFERRERS)), rng.random() < 0.3
            prev = None
            for i in range(n):
                path = rng.choices(PATHS, PATH_WEIGHTS)[0]
                custom = "signup" if path == "/signup" else ("add_to_cart" if path.startswith("/p/") and rng.random() < 0.5 else "")
                corpus.pages.append(Page(
                    visitor, t, path, f"{ORIGIN}{prev}" if prev else referrer, campaign,
                    (True, personalization), first, rng.choice([0, 4000, 15000, 42000]), custom, ua, address, session))
                first, prev = False, path
                t += rng.randrange(60, 130)
            session += 1
            t += rng.randrange(45 * 60, 90 * 60)
        if first:  # no session fitted: not a visitor of the corpus
            continue
        corpus.records["grant"] = corpus.records.get("grant", 0) + 1
        last = corpus.pages[-1]
        if v % 10 == 3 and last.ts + 300 < corpus.end:
            # Withdraws everything 5 minutes after the last page: the tag
            # sends a `consent` event with the visitor id it had.
            corpus.pages.append(Page(visitor, last.ts + 300, last.path, "", last.campaign, (False, False),
                                     True, 0, "", ua, address))
            corpus.records["withdraw"] = corpus.records.get("withdraw", 0) + 1
        elif v % 10 == 5 and not personalization and last.ts + 50 * 60 < corpus.end:
            # Grants personalization too, on a page of a new session.
            corpus.pages.append(Page(visitor, last.ts + 50 * 60, "/", "", False, (True, True),
                                     True, 0, "", ua, address, session))
            session += 1
            corpus.records["grant"] += 1  # a new grant, recorded as one
            corpus.profiles.add(visitor)
        elif personalization:
            corpus.profiles.add(visitor)
    for r in range(10):  # refusals: dropped by the collector
        t = start + rng.randrange(0, 4 * HOUR)
        corpus.pages.append(Page("", t, rng.choices(PATHS, PATH_WEIGHTS)[0], rng.choice(list(REFERRERS)), False,
                                 (False, False), False, 0, "", list(USER_AGENTS)[r % len(USER_AGENTS)], ADDRESSES[r % 5]))
    return corpus


def envelope(page, seq):
    """The tag's envelope for `page` (docs: the README's wire contract)."""
    ms = int(page.ts) * 1000 + 100  # whole seconds + 0.1 s: skew of a few ms keeps the second
    granted = lambda b: "granted" if b else "denied"  # noqa: E731
    url = f"{ORIGIN}{page.path}" + (f"?{CAMPAIGN}" if page.campaign else "")
    events = []
    if page.consent_event:
        events.append({"id": uuid7(ms, seq), "type": "consent", "ts": ms, "seq": 1, "props": {}})
    if page.grants[0] or not page.visitor:
        events.append({"id": uuid7(ms, seq + 1), "type": "page_view", "ts": ms, "seq": 2, "props": {}})
        if page.engagement_ms:
            events.append({"id": uuid7(ms + 30_000, seq + 2), "type": "engagement", "ts": ms + 30_000, "seq": 3,
                           "props": {"ms": page.engagement_ms}})
        if page.custom:
            events.append({"id": uuid7(ms + 20_000, seq + 3), "type": "custom", "ts": ms + 20_000, "seq": 4,
                           "props": {"name": page.custom}})
    visitor = {"user_id": None}
    if page.visitor:
        visitor["id"] = page.visitor
    return {
        "site": SITE,
        "sent_at": int(time.time() * 1000),
        "consent": {"measurement": granted(page.grants[0]), "personalization": granted(page.grants[1]),
                    "functional": "denied", "source": "api", "notice_version": "2026-01",
                    "updated_at": ms, "gpc": False},
        "visitor": visitor,
        "context": {"url": url, "referrer": page.referrer, "title": page.path, "lang": "en-GB",
                    "tz": "UTC", "screen": [1920, 1080], "viewport": [1280, 800]},
        "events": events,
    }


def uuid7(ms, n):
    """A UUIDv7 of time `ms` whose random bits are the counter `n` and
    the process's randomness (unique per run)."""
    rand = random.getrandbits(62) ^ n
    h = f"{ms:012x}7{(n >> 62) & 0xfff:03x}{0x8000000000000000 | rand:016x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def body(page, seq):
    return json.dumps(envelope(page, seq)).encode()


def erasable(corpus):
    """The visitor the test has erased: the first with a profile."""
    return sorted(corpus.profiles, key=lambda v: int(v.rsplit("-v", 1)[1]))[0]


def stored(corpus, erased=frozenset()):
    """The corpus' kept events as (visitor, session, ts, type, page):
    everything of a visitor who granted measurement, until a withdrawal,
    unless the visitor was erased."""
    rows = []
    for page in corpus.pages:
        if not page.visitor or not page.grants[0] or page.visitor in erased:
            continue
        ts = int(page.ts)
        if page.consent_event:
            rows.append((page.visitor, page.session, ts, "consent", page))
        rows.append((page.visitor, page.session, ts, "page_view", page))
        if page.engagement_ms:
            rows.append((page.visitor, page.session, ts + 30, "engagement", page))
        if page.custom:
            rows.append((page.visitor, page.session, ts + 20, "custom", page))
    return rows


def answers(corpus, interval_s=HOUR, erased=frozenset()):
    """What the queries must return, from the corpus alone, once the
    visitors `erased` are."""
    rows = stored(corpus, erased)
    views = [r for r in rows if r[3] == "page_view"]
    sessions = {}
    for visitor, session, ts, kind, page in sorted(rows, key=lambda r: (r[2], r[3] != "consent")):
        s = sessions.setdefault(session, {"views": 0, "first": page, "last": page, "visitor": visitor})
        s["views"] += kind == "page_view"
        s["last"] = page
    by_path, entries, exits, hosts, classes, devices = {}, {}, {}, {}, {}, {}
    for r in views:
        by_path[r[4].path] = by_path.get(r[4].path, 0) + 1
    for s in sessions.values():
        entries[s["first"].path] = entries.get(s["first"].path, 0) + 1
        exits[s["last"].path] = exits.get(s["last"].path, 0) + 1
        host = s["first"].referrer.split("/")[2] if s["first"].referrer else ""
        if host:
            hosts[host] = hosts.get(host, 0) + 1
        kind = "email" if s["first"].campaign else REFERRERS[s["first"].referrer]
        classes[kind] = classes.get(kind, 0) + 1
    for visitor, device in {(r[0], USER_AGENTS[r[4].ua]) for r in rows}:
        devices[device] = devices.get(device, 0) + 1
    buckets = {}
    for visitor, _, ts, kind, _ in rows:
        b = buckets.setdefault(ts // interval_s * interval_s, [set(), 0])
        b[0].add(visitor)
        b[1] += kind == "page_view"
    customs = {}
    for r in rows:
        if r[3] == "custom":
            customs[r[4].custom] = customs.get(r[4].custom, 0) + 1
    top = lambda d: sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))  # noqa: E731
    n_sessions = len(sessions)
    return {
        "visitors": len({r[0] for r in rows}),
        "page_views": len(views),
        "sessions": n_sessions,
        "bounces": sum(1 for s in sessions.values() if s["views"] == 1),
        "engaged_seconds_per_session": round(sum(r[4].engagement_ms for r in rows if r[3] == "engagement") / 1000 / n_sessions, 1),
        "top_pages": top(by_path),
        "entry_pages": top(entries),
        "exit_pages": top(exits),
        "referrer_hosts": top(hosts),
        "referrer_classes": top(classes),
        "devices": top(devices),
        "campaign_sessions": sum(1 for s in sessions.values() if s["first"].campaign),
        "custom_events": top(customs),
        "traffic": sorted((t, len(v), n) for t, (v, n) in buckets.items()),
        "records": dict(corpus.records),
        "refused_pages": sum(1 for p in corpus.pages if not p.visitor),
        "profiles": len(corpus.profiles - set(erased)),
        "erasures": len(erased),
        "erased_page_views": sum(1 for r in stored(corpus) if r[3] == "page_view" and r[0] in erased),
    }
