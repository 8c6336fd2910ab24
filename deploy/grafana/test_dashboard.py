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
import re
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "deploy" / "prometheus"))
import metric_names  # noqa: E402
from live import PROMETHEUS, ledger, local_stack, prometheus_ready, query, quiet, scalar, send_traffic, wait_for  # noqa: E402

# The Prometheus dashboards; the site dashboard reads ClickHouse and has its
# own test (site/test_site_dashboard.py).
DASHBOARDS = sorted(p for p in (HERE / "dashboards").glob("*.json") if p.name != "fiducia-site.json")
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
    if not args.static:
        with local_stack(prometheus_ready, args.keep):
            # The three services scraped at least once.
            wait_for("Prometheus scraping the three services",
                     lambda: (scalar('count(up{job=~"fiducia-(collector|enricher|sink)"} == 1)') or 0) >= 3, 60)
            failures += live(dashboards, args.seconds)
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
