"""The local stack as the live Prometheus tests see it: its addresses (from
the same environment variables as deploy/local/up), Prometheus' HTTP API,
events sent through the collector, and the loss ledger computed exactly
from raw samples. Shared by deploy/grafana/test_dashboard.py and
deploy/prometheus/test_lag_alert.py. Standard library only.
"""

import json
import os
import secrets
import subprocess
import time
from contextlib import contextmanager
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def env(name, default):
    return os.environ.get(name) or default


# The local Prometheus' scrape interval (deploy/local/lib.sh), in seconds.
SCRAPE_SECONDS = int(env("FIDUCIA_PROMETHEUS_SCRAPE_INTERVAL", "5s").rstrip("s"))
PROMETHEUS = f"http://127.0.0.1:{env('FIDUCIA_PROMETHEUS_PORT', '19090')}"
COLLECTOR = f"http://{env('FIDUCIA_COLLECTOR_LISTEN_ADDR', '127.0.0.1:8080')}"


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def prometheus_ready():
    try:
        return get(f"{PROMETHEUS}/-/ready", 2)[0] == 200
    except (OSError, urllib.error.URLError):
        return False


def query(expr):
    """(result list, error string or None) of an instant query now."""
    return query_at(expr, None)


def query_at(expr, at):
    """(result list, error string or None) of an instant query at `at` (Unix s; None: now)."""
    params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
    url = f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode(params)
    try:
        body = json.loads(get(url, 10)[1])
    except urllib.error.HTTPError as e:
        body = json.loads(e.read() or b"{}")
    if body.get("status") != "success":
        return [], f"{body.get('errorType')}: {body.get('error')}"
    return body["data"]["result"], None


def scalar(expr):
    result, error = query(expr)
    if error or not result:
        return None
    return float(result[0]["value"][1])


def exact_increase(selector, start, end):
    """How much the counters `selector` rose from `start` to `end` (Unix s),
    from Prometheus' raw samples, without increase()'s extrapolation: a
    drop, or a gap of 3 scrapes (the process was down), is a restart whose
    next value counts whole; a series born after `start` counts whole."""
    total = 0.0
    result, error = query(f"{selector}[{int(end - start) + 1}s]")
    if error:
        raise SystemExit(f"FAIL: {selector}: {error}")
    for series in result:
        values = [(float(t), float(v)) for t, v in series["values"]]
        # A series that existed at `start` has a sample within a scrape of
        # it; a later first sample is a series born since (a counter
        # created at its first increment), which counts whole.
        if values[0][0] > start + SCRAPE_SECONDS + 1:
            total += values[0][1]
        for (t1, v1), (t2, v2) in zip(values, values[1:]):
            total += v2 if (v2 < v1 or t2 - t1 > 3 * SCRAPE_SECONDS) else v2 - v1
    return total


IN_FLIGHT = ('(sum(fiducia_enricher_consumer_lag_messages{topic=~".*raw.*"}) or vector(0))'
             ' + (sum(fiducia_sink_consumer_lag_messages{topic=~".*enriched.*"}) or vector(0))')


def ledger(traffic_start):
    """The loss ledger over the test, exactly: published - (inserted +
    dead-lettered + dropped + change in flight). From just over a scrape
    before the traffic (on a quiet stack: `quiet`), so the last sample
    before it is the baseline."""
    start, end = traffic_start - 7, time.time()
    terms = {
        "published": exact_increase("fiducia_collector_events_published_total", start, end),
        "inserted": exact_increase('fiducia_sink_rows_inserted_total{table="events"}', start, end),
        "dead-lettered": exact_increase("fiducia_enricher_dead_letters_total", start, end)
        + exact_increase('fiducia_sink_dead_letters_total{table="events"}', start, end),
        "dropped": exact_increase("fiducia_enricher_events_dropped_total", start, end)
        + exact_increase("fiducia_sink_events_dropped_total", start, end),
    }
    now, _ = query(IN_FLIGHT)
    terms["in flight"] = float(now[0]["value"][1]) if now else 0.0
    at_start, _ = query_at(IN_FLIGHT, start)
    terms["in flight"] -= float(at_start[0]["value"][1]) if at_start else 0.0
    diff = terms["published"] - sum(v for k, v in terms.items() if k != "published")
    return terms, diff


QUIET = ('(sum(changes(fiducia_collector_events_published_total[20s])) or vector(0))'
         ' + (sum(changes(fiducia_sink_rows_inserted_total{table="events"}[20s])) or vector(0)) == 0')


def quiet():
    """True once nothing was published or inserted for 20 s (4 scrapes)."""
    result, _ = query(QUIET)
    return bool(result)


def uuid7():
    ms = int(time.time() * 1000)
    r = bytearray(secrets.token_bytes(10))
    h = ms.to_bytes(6, "big") + bytes([0x70 | (r[0] & 0x0F), r[1], 0x80 | (r[2] & 0x3F)]) + bytes(r[3:10])
    s = h.hex()
    return f"{s[:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:]}"


def envelope(measurement, n):
    """The README's example envelope, with current times and fresh ids."""
    now = int(time.time() * 1000)
    demo = demo_origin().split("//", 1)[1]
    return {
        "site": "demo",
        "sent_at": now,
        "consent": {"measurement": measurement, "personalization": "denied", "functional": "denied",
                    "source": "api", "notice_version": "2026-01", "updated_at": now, "gpc": False},
        "visitor": {"user_id": None},
        "context": {"url": f"http://{demo}/p/42?utm_source=news", "referrer": "https://www.google.com/",
                    "title": "Red shoes", "lang": "it-IT", "tz": "Europe/Rome",
                    "screen": [1920, 1080], "viewport": [1280, 800]},
        "events": [{"id": uuid7(), "type": "page_view", "ts": now, "seq": i + 1, "props": {}} for i in range(n)],
    }


def demo_origin():
    """An origin the sites file allows for the site `demo`."""
    sites = Path(env("FIDUCIA_SITES_FILE", str(REPO / "deploy" / "sites.toml")))
    return tomllib.loads(sites.read_text())["sites"]["demo"]["collect"]["allowed_origins"][0]


def post(body, origin=None, headers=()):
    """POSTs `body` to /v1/events from `origin` (default: the demo's), as
    Firefox unless `headers` says otherwise; returns the HTTP status."""
    headers = {"Content-Type": "text/plain", "Origin": origin or demo_origin(),
               "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", **dict(headers)}
    req = urllib.request.Request(f"{COLLECTOR}/v1/events", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def send_traffic(seconds):
    """Kept (granted), dropped (denied) and refused requests for `seconds`;
    returns the answers by status and the events of granted envelopes the
    collector acknowledged (each must reach ClickHouse)."""
    statuses, kept = {}, 0
    deadline = time.time() + seconds
    i = 0
    while time.time() < deadline:
        i += 1
        granted = i % 5 != 0
        n = 1 + i % 3
        body = b"{not json" if i % 25 == 0 else json.dumps(envelope("granted" if granted else "denied", n)).encode()
        status = post(body)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 204 and granted and i % 25 != 0:
            kept += n
        time.sleep(0.05)
    return statuses, kept


@contextmanager
def local_stack(running, keep=False):
    """The local stack for a test: started (deploy/local/up) unless
    `running()` says it is already; one this started is stopped at the end
    (deploy/local/down) unless `keep`, one it found is left alone."""
    started = not running()
    if started:
        print("starting the local stack (deploy/local/up)", flush=True)
        subprocess.run([str(REPO / "deploy" / "local" / "up")], check=True, stdout=subprocess.DEVNULL)
    try:
        yield
    finally:
        if started and not keep:
            subprocess.run([str(REPO / "deploy" / "local" / "down")], stderr=subprocess.DEVNULL)


def wait_for(what, probe, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1)
    raise SystemExit(f"FAIL: {what} not within {timeout} s")
