#!/usr/bin/env python3
"""The Grafana dashboard against the live Prometheus of the local stack.

1. Structure: deploy/grafana/dashboards/*.json and the provisioning files
   are what Grafana loads (ids unique, panels on the 24-column grid, every
   query on the `datasource` variable, refIds unique, the variable's default
   the provisioned data source's uid).
2. Names: every `fiducia_*` metric a panel uses is declared in a service's
   metrics module, every `fiducia:*` series is a recording rule of
   deploy/prometheus/rules.
3. Live: starts the local stack (deploy/local/up, Prometheus included) unless
   its Prometheus already answers, sends events through the collector (kept,
   dropped for lack of consent and refused ones, with current times), waits until they
   are in ClickHouse and Prometheus has scraped that; requires every
   consumer's lag to return to 0 and the loss ledger to balance exactly
   over the test (published = inserted + dead-lettered + dropped + change
   in flight, from the raw samples); then runs every panel's every query on
   Prometheus' HTTP API (/api/v1/query, Grafana's $__rate_interval as 1m).
   Fails on a query error, or on an empty result for a panel not listed in
   MAY_BE_EMPTY (with why).

A stack this test started is stopped at the end (--keep leaves it running);
one it found running is left alone. Ports and the state directory come from
the same environment variables as deploy/local/up. --static runs 1 and 2
only. Standard library and PyYAML only.
"""

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "deploy" / "prometheus"))
import metric_names  # noqa: E402

DASHBOARDS = sorted((HERE / "dashboards").glob("*.json"))
RULES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))

# Panels (by title) whose queries may rightly return nothing on a healthy
# stack after half a minute of traffic, and why. Every other panel must
# show data.
MAY_BE_EMPTY = {
    "Alerts firing": "no alert fires on a healthy stack",
    "Events dropped by reason": "the enricher drops only bots of sites that ask for it, erased subjects' and duplicate events",
    "Dead letters by reason (enricher)": "the test sends no message the enricher must dead-letter",
    "Kafka produce errors": "counted only when a produce fails",
    "Retention: time since the last good run": "the first retention run may not have finished yet",
    "Privacy requests by state": "no privacy request is made by this test",
    "Consent records published": "published when a visitor's consent changes (the tag's banner), which this test's envelopes do not",
}

PANEL_TYPES = {"row", "timeseries", "stat", "table", "bargauge", "gauge", "heatmap", "text"}


def env(name, default):
    return os.environ.get(name) or default


PROMETHEUS = f"http://127.0.0.1:{env('FIDUCIA_PROMETHEUS_PORT', '19090')}"
COLLECTOR = f"http://{env('FIDUCIA_COLLECTOR_LISTEN_ADDR', '127.0.0.1:8080')}"


def static_checks(dashboards):
    """Structure and names; returns failures."""
    failures = []
    declared = metric_names.declared_names()
    records = set()
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            records |= {r["record"] for r in group["rules"] if "record" in r}
    prov = HERE / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())["datasources"]
    ds_uids = {d["uid"] for d in ds if d.get("type") == "prometheus"}
    providers = yaml.safe_load((prov / "dashboards" / "fiducia.yml").read_text())["providers"]
    if not any(p.get("type") == "file" and p.get("options", {}).get("path") for p in providers):
        failures.append("provisioning/dashboards/fiducia.yml: no file provider with a path")
    for dash in dashboards:
        uid = dash.get("uid")
        where = f"dashboard {uid}"
        for key, kind in (("uid", str), ("title", str), ("schemaVersion", int), ("panels", list)):
            if not isinstance(dash.get(key), kind):
                failures.append(f"{where}: {key} missing or not a {kind.__name__}")
        variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
        var = variables.get("datasource", {})
        if var.get("type") != "datasource" or var.get("query") != "prometheus":
            failures.append(f"{where}: no `datasource` variable of type datasource (prometheus)")
        elif var.get("current", {}).get("value") not in ds_uids:
            failures.append(f"{where}: the datasource variable's default is not a provisioned uid {sorted(ds_uids)}")
        ids, used, titles = set(), set(), set()
        for panel in dash["panels"]:
            title = panel.get("title", "?")
            pw = f"{where}, panel {title!r}"
            if title in titles:
                failures.append(f"{pw}: title not unique (MAY_BE_EMPTY names panels by title)")
            titles.add(title)
            if panel.get("type") not in PANEL_TYPES:
                failures.append(f"{pw}: unknown type {panel.get('type')!r}")
            if panel.get("id") in ids or not isinstance(panel.get("id"), int):
                failures.append(f"{pw}: id missing or not unique")
            ids.add(panel.get("id"))
            g = panel.get("gridPos", {})
            if not all(isinstance(g.get(k), int) for k in "hwxy") or g["x"] + g["w"] > 24 or g["w"] < 1:
                failures.append(f"{pw}: gridPos {g} is not on the 24-column grid")
            if panel.get("type") in ("row", "text"):
                continue
            if panel.get("datasource", {}).get("uid") != "${datasource}":
                failures.append(f"{pw}: datasource is not the ${{datasource}} variable")
            targets = panel.get("targets") or []
            if not targets:
                failures.append(f"{pw}: no query")
            refs = [t.get("refId") for t in targets]
            if len(set(refs)) != len(refs) or None in refs:
                failures.append(f"{pw}: refIds missing or repeated")
            for t in targets:
                if not t.get("expr", "").strip():
                    failures.append(f"{pw}: empty expr")
                used |= metric_names.used_names(t.get("expr", ""))
                for rec in re.findall(r"fiducia:[a-z0-9_:]+", t.get("expr", "")):
                    if rec not in records:
                        failures.append(f"{pw}: {rec} is no recording rule of deploy/prometheus/rules")
        for name in metric_names.undeclared(used, declared):
            failures.append(f"{where}: metric {name} is declared in no service's metrics module")
        print(f"{where}: {len(dash['panels'])} panels, {len(used)} metric names, all checked")
    return failures


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
        if values[0][0] > start + 15:
            total += values[0][1]
        for (t1, v1), (t2, v2) in zip(values, values[1:]):
            total += v2 if (v2 < v1 or t2 - t1 > 15) else v2 - v1
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


def post(body):
    origin = demo_origin()
    req = urllib.request.Request(f"{COLLECTOR}/v1/events", data=body, method="POST",
                                 headers={"Content-Type": "text/plain", "Origin": origin,
                                          "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"})
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


def wait_for(what, probe, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1)
    raise SystemExit(f"FAIL: {what} not within {timeout} s")


def live(dashboards, seconds):
    """Runs every panel query on the live Prometheus; returns failures."""
    # The exact ledger needs the traffic of this test alone in its window.
    try:
        wait_for("a quiet stack (nothing published or inserted for 20 s)", quiet, 40)
        exact = True
    except SystemExit:
        print("the stack carries other traffic: the ledger is shown, not required to balance")
        exact = False
    before = scalar('sum(fiducia_sink_rows_inserted_total{table="events"})') or 0
    start = time.time()
    statuses, kept = send_traffic(seconds)
    print(f"traffic for {seconds} s: answers by status {dict(sorted(statuses.items()))}, {kept} events kept")
    if not kept:
        return [f"the collector kept nothing: {statuses}"]
    # Every kept event is in ClickHouse, as Prometheus scraped the sink
    # saying so (at least once: a redelivery may count twice), then two
    # more scrapes so every rate has points after it.
    want = before + kept
    inserted = wait_for(f"{kept} rows inserted by the sink, scraped",
                        lambda: (lambda v: v if v is not None and v >= want else None)(
                            scalar('sum(fiducia_sink_rows_inserted_total{table="events"})')), 120)
    time.sleep(11)
    print(f"the sink inserted {inserted - before:.0f} event rows for the {kept} kept (as Prometheus scraped it)")
    failures = []
    # Lag returns to zero: nothing is left to process once the rows are in.
    def lag_left():
        result, _ = query("fiducia:consumer_lag_messages:sum > 0")
        return None if result else True
    try:
        wait_for("every consumer's lag in messages back to 0", lag_left, 30)
    except SystemExit:
        result, _ = query("fiducia:consumer_lag_messages:sum > 0")
        failures.append("lag in messages not back to 0 after the traffic: "
                        + ", ".join(f"{r['metric'].get('job')} {r['metric'].get('topic')}={r['value'][1]}" for r in result))
    # The loss ledger balances exactly over the test.
    terms, diff = ledger(start)
    print("loss ledger over the test: " + ", ".join(f"{k} {v:.0f}" for k, v in terms.items()) + f"; difference {diff:.0f}")
    if diff != 0 and exact:
        failures.append(f"the loss ledger does not balance over the test: {diff:.0f} events (terms {terms})")
    ran, empty_ok = 0, 0
    # The latency SLO's rules read the bucket at the SLO's threshold.
    buckets, _ = query("count by (le) (fiducia_sink_end_to_end_latency_seconds_bucket)")
    if buckets and not any(float(b["metric"]["le"]) == 2.0 for b in buckets):
        failures.append("fiducia_sink_end_to_end_latency_seconds has no le=\"2\" bucket, the latency SLO's "
                        "threshold (SPEC: p99 < 2 s; the rules read that bucket): add 2.0 to its buckets "
                        f"in sink/src/metrics.rs (now {sorted(float(b['metric']['le']) for b in buckets)})")
    for dash in dashboards:
        for panel in dash["panels"]:
            if panel.get("type") in ("row", "text"):
                continue
            title = panel["title"]
            series = 0
            for t in panel["targets"]:
                expr = t["expr"].replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "1h")
                result, error = query(expr)
                ran += 1
                if error:
                    failures.append(f"panel {title!r} query {t['refId']}: {error}\n    {expr}")
                series += len(result)
            if series == 0:
                if title in MAY_BE_EMPTY:
                    empty_ok += 1
                    print(f"  empty, allowed: {title!r} ({MAY_BE_EMPTY[title]})")
                else:
                    failures.append(f"panel {title!r}: no data after traffic (queries: "
                                    + "; ".join(t["expr"] for t in panel["targets"]) + ")")
    print(f"{ran} queries run on {PROMETHEUS}; {empty_ok} panels empty as allowed")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--static", action="store_true", help="structure and names only, no stack")
    ap.add_argument("--keep", action="store_true", help="leave a stack this test started running")
    ap.add_argument("--seconds", type=int, default=30, help="seconds of traffic (default 30)")
    args = ap.parse_args()

    dashboards = [json.loads(p.read_text()) for p in DASHBOARDS]
    failures = static_checks(dashboards)
    started = False
    if not args.static:
        try:
            if not prometheus_ready():
                print("starting the local stack (deploy/local/up)", flush=True)
                started = True
                subprocess.run([str(REPO / "deploy/local/up")], check=True, stdout=subprocess.DEVNULL)
            # The three services scraped at least once.
            wait_for("Prometheus scraping the three services",
                     lambda: (scalar('count(up{job=~"fiducia-(collector|enricher|sink)"} == 1)') or 0) >= 3, 60)
            failures += live(dashboards, args.seconds)
        finally:
            if started and not args.keep:
                subprocess.run([str(REPO / "deploy/local/down")], stderr=subprocess.DEVNULL)
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
