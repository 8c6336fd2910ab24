#!/usr/bin/env python3
"""The site dashboard's queries give the right numbers.

1. Static: the dashboard JSON is what panels.yaml and queries/ build
   (build.py --check); every panel names a query file that exists and that
   CHECKS below tests; every query file is a panel's or a variable's; every
   query expands (panels.expand) with nothing of Grafana's left.
2. Live, on the local ClickHouse (18.16 here): deletes the rows of the test
   site `corpus`, sends the seeded corpus (corpus.py) through the collector
   (collector → Kafka → enricher → sink), asks the admin API to erase one
   of its visitors, waits until everything is stored and the erasure
   verified, then runs every query file (site `corpus`, the corpus' time
   range, hourly buckets) and compares it with the answers computed from
   the corpus alone: visitors, page views, sessions, bounces, top, entry
   and exit pages, referrers, custom events, hourly traffic, consent
   records, profiles and erasures exactly. The Prometheus panel's query
   runs on the stack's Prometheus.
3. chDB: the same rows, copied into chDB's engine with the modern DDL the
   sink creates on current servers (deploy/clickhouse/guide.py), and the
   same queries and comparisons.

Starts the local stack (deploy/local/up) unless its ClickHouse and
collector answer, and stops what it started (--keep leaves it running);
ports from the same environment variables as deploy/local/up. --static
runs 1 only.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import corpus as corpus_mod
import local_clickhouse as ch
import panels

REPO = panels.HERE.parents[2]
sys.path.insert(0, str(REPO / "deploy" / "prometheus"))
sys.path.insert(0, str(REPO / "deploy" / "clickhouse"))
import live  # noqa: E402

TABLES = ["events", "consent_log", "privacy_requests", "profile_events"]
INTERVAL_S = 3600


def n(value):
    """A number of ClickHouse's JSON (64-bit integers come quoted)."""
    return float(value) if "." in str(value) or "e" in str(value) or "nan" in str(value) else int(value)


def pairs(rows, key, value):
    return [(r[key], n(r[value])) for r in rows]


def epoch(text):
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp())


def same(what, got, want):
    return [] if got == want else [f"{what}: got {got}, want {want}"]


# One check per query file: (rows, answers) -> failures.
CHECKS = {
    "site.sql": lambda r, a: same("sites include the corpus", corpus_mod.SITE in [x["site_id"] for x in r], True),
    "summary.sql": lambda r, a: (same("visitors", n(r[0]["visitors"]), a["visitors"])
                                 + same("page views", n(r[0]["page_views"]), a["page_views"])
                                 + same("sessions", n(r[0]["sessions"]), a["sessions"])
                                 + same("engaged seconds per session", n(r[0]["engaged_seconds_per_session"]),
                                        a["engaged_seconds_per_session"])),
    "bounce_rate.sql": lambda r, a: (same("sessions", n(r[0]["sessions"]), a["sessions"])
                                     + same("bounces", n(r[0]["bounces"]), a["bounces"])),
    "traffic.sql": lambda r, a: same("hourly (time, visitors, page views)",
                                     [(epoch(x["time"]), n(x["visitors"]), n(x["page_views"])) for x in r], a["traffic"]),
    "top_pages.sql": lambda r, a: same("top pages", pairs(r, "path", "page_views"), a["top_pages"][:10]),
    "entry_pages.sql": lambda r, a: same("entry pages", pairs(r, "entry_page", "sessions"), a["entry_pages"][:10]),
    "exit_pages.sql": lambda r, a: same("exit pages", pairs(r, "exit_page", "sessions"), a["exit_pages"][:10]),
    "referrer_classes.sql": lambda r, a: same("referrer classes", pairs(r, "referrer_class", "sessions"), a["referrer_classes"]),
    "top_referrers.sql": lambda r, a: same("top referrers", pairs(r, "referrer_host", "sessions"), a["referrer_hosts"][:10]),
    "campaigns.sql": lambda r, a: same("campaign sessions", [(x["utm_source"], x["utm_medium"], x["utm_campaign"], n(x["sessions"])) for x in r],
                                       [("newsletter", "email", "spring", a["campaign_sessions"])] if a["campaign_sessions"] else []),
    "countries.sql": lambda r, a: same("visitors over countries (one each)", sum(n(x["visitors"]) for x in r), a["visitors"]),
    "devices.sql": lambda r, a: same("devices", pairs(r, "device", "visitors"), a["devices"]),
    "browsers.sql": lambda r, a: same("visitors over browsers (one each)", sum(n(x["visitors"]) for x in r), a["visitors"]),
    "custom_events.sql": lambda r, a: same("custom events", pairs(r, "event", "events"), a["custom_events"][:10]),
    "consent_of_events.sql": lambda r, a: same("stored events all with measurement, by hour",
                                               [(epoch(x["time"]), n(x["measurement"])) for x in r],
                                               [(t, 1) for t, _, _ in a["traffic"]]),
    # Records are stamped with the collector's clock (the test's run): one
    # subject per visitor, in one hour or, across an hour's end, two.
    "consent_of_visitors.sql": lambda r, a: same("visitors with a consent record, summed over hours, within [grants, records]",
                                                 a["records"]["grant"] - a["records"]["withdraw"] <= sum(n(x["visitors"]) for x in r)
                                                 <= sum(a["records"].values()) + a["erasures"], True),
    "consent_choices.sql": lambda r, a: same("consent records by action",
                                             {k: sum(n(x[k]) for x in r) for k in ("grants", "refusals", "changes", "withdrawals")},
                                             {"grants": a["records"]["grant"], "refusals": 0, "changes": 0,
                                              "withdrawals": a["records"].get("withdraw", 0) + a["erasures"]}),
    "privacy_requests.sql": lambda r, a: same("erasures requested and verified, access requests",
                                              [sum(n(x[k]) for x in r) for k in ("erasure_requests", "erasures_verified", "access_requests")],
                                              [a["erasures"], a["erasures"], 0]),
    "profiles.sql": lambda r, a: (same("visitors with a profile", n(r[0]["visitors_with_profile"]), a["profiles"])
                                  + same("visitors", n(r[0]["visitors"]), a["visitors"])),
    "dropped_by_reason.promql": lambda r, a: same("drops for measurement counted",
                                                  any(x["metric"].get("purpose") == "measurement" and float(x["value"][1]) > 0 for x in r), True),
}


def static_checks():
    failures = []
    if subprocess.run([sys.executable, str(panels.HERE / "build.py"), "--check"]).returncode:
        failures.append("the dashboard JSON is not what panels.yaml and queries/ build")
    files = panels.query_files()
    used = set(panels.VARIABLE_QUERIES.values())
    for entry in panels.panels():
        if "row" in entry:
            continue
        name = entry.get("query")
        used.add(name)
        if name not in files:
            failures.append(f"panel {entry['title']!r}: query file queries/{name} does not exist")
    for name in files:
        if name not in used:
            failures.append(f"queries/{name}: no panel or variable uses it")
        if name not in CHECKS:
            failures.append(f"queries/{name}: no check in CHECKS tests its result")
        try:
            panels.expand(panels.text(name), "demo", 0, 3600)
        except ValueError as e:
            failures.append(f"queries/{name}: {e}")
    print(f"static: {len(files)} query files, every panel's tested")
    return failures


def clear_site():
    for table in TABLES:
        ch.execute(f"ALTER TABLE fiducia.{table} DELETE WHERE site_id = '{corpus_mod.SITE}'")
    live.wait_for("the corpus site's old rows deleted (mutations done)",
                  lambda: count("SELECT count() AS c FROM system.mutations WHERE database = 'fiducia' AND is_done = 0 "
                                f"AND position(command, '{corpus_mod.SITE}') > 0") == 0, 120)


def send(corpus):
    """Posts every page; half the refusals a few scrapes after the rest, so
    Prometheus sees the drop counter rise even when this creates it."""
    statuses = {}
    refusals = [i for i, p in enumerate(corpus.pages) if not p.visitor]
    later = set(refusals[len(refusals) // 2:])
    order = [i for i in range(len(corpus.pages)) if i not in later] + sorted(later)
    for k, i in enumerate(order):
        page = corpus.pages[i]
        if k == len(order) - len(later):
            time.sleep(live.SCRAPE_SECONDS * 2 + 1)
        headers = {"User-Agent": page.ua, "X-Forwarded-For": page.address}
        for _ in range(20):
            status = live.post(corpus_mod.body(page, i * 8), corpus_mod.ORIGIN, headers)
            if status not in (429, 503):
                break
            time.sleep(1)
        statuses[status] = statuses.get(status, 0) + 1
    return statuses


def collector_ready():
    try:
        return live.get(f"{live.COLLECTOR}/tag.js", 2)[0] == 200
    except (OSError, urllib.error.URLError):
        return False


def admin_secret():
    if os.environ.get("FIDUCIA_COLLECTOR_ADMIN_SECRET"):
        return os.environ["FIDUCIA_COLLECTOR_ADMIN_SECRET"]
    state = os.environ.get("FIDUCIA_STATE_DIR") or str(REPO / ".local" / "state")
    return open(os.path.join(state, "admin-secret")).read().strip()


def erase(visitor):
    body = json.dumps({"kind": "erasure", "visitor_id": visitor}).encode()
    req = urllib.request.Request(f"{live.COLLECTOR}/v1/admin/{corpus_mod.SITE}/requests", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {admin_secret()}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def count(sql):
    return n(ch.rows(sql)[0]["c"])


def stored_everything(answers, page_views_all):
    site = f"site_id = '{corpus_mod.SITE}'"
    views = count(f"SELECT count() AS c FROM fiducia.events FINAL WHERE {site} AND event_type = 'page_view'")
    records = count(f"SELECT count() AS c FROM fiducia.consent_log FINAL WHERE {site}")
    return views == page_views_all and records == sum(answers["records"].values())


def run_all(run_sql, run_promql, corpus, answers):
    """Every query file on one engine; returns failures."""
    failures = []
    start, end = corpus.start - 60, int(time.time())
    for name in panels.query_files():
        query = panels.expand(panels.text(name), corpus_mod.SITE, start, end, INTERVAL_S)
        if panels.is_prometheus(name):
            if run_promql is None:
                continue
            rows, error = run_promql(query)
            if error:
                failures.append(f"{name}: {error}")
                continue
        else:
            try:
                rows = run_sql(query)
            except RuntimeError as e:
                failures.append(f"{name}: {e}")
                continue
        failures += [f"{name}: {f}" for f in CHECKS[name](rows, answers)]
    return failures


def live_checks(corpus, answers, erased):
    clear_site()
    page_views_all = answers["page_views"] + answers.pop("erased_page_views")
    started = time.time()
    statuses = send(corpus)
    print(f"sent {len(corpus.pages)} envelopes in {time.time() - started:.1f} s: answers by status {statuses}")
    live.wait_for("the corpus stored (page views and consent records)",
                  lambda: stored_everything(answers, page_views_all), 120)
    print(f"erasing one visitor: admin API answered {erase(erased)}")
    live.wait_for("the erasure verified", lambda: count(
        f"SELECT count() AS c FROM fiducia.privacy_requests FINAL WHERE site_id = '{corpus_mod.SITE}' AND status = 'verified'") == 1, 120)
    promql = live.query if live.prometheus_ready() else None
    if promql is None:
        print("no Prometheus answers: its panel's query is not run")
    else:
        # Prometheus scrapes the collector's drops within a scrape interval.
        time.sleep(live.SCRAPE_SECONDS * 2 + 1)
    failures = run_all(ch.rows, promql, corpus, answers)
    version = ch.execute("SELECT version()").decode().strip()
    print(f"ClickHouse {version} (server): {len(panels.query_files())} queries run, {len(failures)} failures")
    return failures


def chdb_checks(corpus, answers):
    import guide
    from chdb import session

    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        db = session.Session(tmp)
        version = db.query("SELECT version()", "TSVRaw").bytes().decode().strip()
        for sql in guide.schema_statements(version, "fiducia"):
            db.query(sql)
        for table in ("events", "consent_log", "privacy_requests"):
            data = ch.execute(f"SELECT * FROM fiducia.{table} FINAL WHERE site_id = '{corpus_mod.SITE}' FORMAT JSONEachRow")
            if data.strip():
                db.query(f"INSERT INTO fiducia.{table} SETTINGS input_format_skip_unknown_fields = 1 FORMAT JSONEachRow\n"
                         + data.decode())
        run = lambda sql: json.loads(db.query(sql, "JSON").bytes())["data"]  # noqa: E731
        failures = run_all(run, None, corpus, answers)
        db.close()
    print(f"chDB {version} (modern DDL): {len(panels.query_files()) - 1} queries run, {len(failures)} failures")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--static", action="store_true", help="structure only, no stack")
    ap.add_argument("--keep", action="store_true", help="leave a stack this test started running")
    args = ap.parse_args()
    failures = static_checks()
    if not args.static:
        with live.local_stack(lambda: ch.ready() and collector_ready(), args.keep):
            corpus = corpus_mod.build()
            erased = corpus_mod.erasable(corpus)
            answers = corpus_mod.answers(corpus, INTERVAL_S, erased={erased})
            print(f"corpus: {answers['visitors']} visitors left after erasing one, {answers['sessions']} sessions, "
                  f"{answers['page_views']} page views, top page {answers['top_pages'][0]}")
            failures += live_checks(corpus, dict(answers), erased)
            failures += chdb_checks(corpus, answers)
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    print("site dashboard: " + ("FAILED" if failures else "every query as the corpus says"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
