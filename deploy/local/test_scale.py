#!/usr/bin/env python3
"""The scale test (issue 20): several instances of every service under
steady load through nginx, one of each killed (`kill -9`) and restarted,
and nothing lost, doubled or split.

1. Starts the local stack with two instances of every service
   (`FIDUCIA_INSTANCES=2 deploy/local/up`: two collectors behind nginx, two
   enrichers and two sinks in their consumer groups) in a state directory
   of its own (FIDUCIA_SCALE_STATE_DIR, default .local/scale-test, wiped
   first), the broker in memory, no supervisor: the test restarts what it
   kills.
2. Sends a seeded corpus (deploy/grafana/site/corpus.py, several copies
   with their own seeds and visitor ids) through nginx at a steady pace
   for DURATION seconds: each visitor's pages in order, each page sent
   again until it is answered 2xx (as the tag does), from a few client
   threads. A visitor's pages are spread over the whole run, so its
   session state lives through every fault.
3. Meanwhile kills `collector-2`, `enricher` and `sink-2` with SIGKILL at a
   quarter, half and three quarters of the run, each started again
   (`deploy/local/up`) RESTART_AFTER seconds later.
4. Checks, once everything is stored: every event of an accepted (2xx)
   envelope that the collector keeps is in ClickHouse exactly once (count
   with FINAL, distinct ids, and the very ids), no other; every session
   of the corpus is exactly one session id and every session id one
   session of the corpus (so sessions per visitor match the corpus'
   own, computed from the corpus alone, never from ClickHouse).
   It also checks that the client's address crossed nginx (every event
   has its corpus address' country) and that every consent record is in
   consent_log once.
5. States what the faults cost: the latency from acceptance to the
   event's first appearance in ClickHouse (p50, p99, max, and for the
   events accepted from 1 s before to 20 s after each kill: how many took
   over 2 s, and the max), the longest gap in stored-event progress while
   the load ran, the peak of accepted events not yet stored, and the
   consumers' lag peak as the live instances report it.

Usage: FIDUCIA_BIN_DIR=target/debug deploy/local/test_scale.py [--keep]
(without FIDUCIA_BIN_DIR, `up` builds the release binaries). Ports come
from the same environment variables as deploy/local/up. Exits non-zero on
any failed check.
"""

import argparse
import bisect
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "deploy" / "grafana" / "site"))
import corpus as corpus_mod  # noqa: E402

DURATION = float(os.environ.get("FIDUCIA_SCALE_DURATION_S", "90"))
COPIES = int(os.environ.get("FIDUCIA_SCALE_CORPUS_COPIES", "25"))
CLIENTS = 8
RESTART_AFTER = 8.0
# (fraction of the run, instance) killed with SIGKILL.
FAULTS = [(0.25, "collector-2"), (0.5, "enricher"), (0.75, "sink-2")]
STORE_TIMEOUT = 180


def env(name, default):
    return os.environ.get(name) or default


COLLECTOR = f"http://{env('FIDUCIA_COLLECTOR_LISTEN_ADDR', '127.0.0.1:8080')}"
CLICKHOUSE = f"http://127.0.0.1:{env('FIDUCIA_CLICKHOUSE_HTTP_PORT', '18123')}/"


def clickhouse(sql):
    req = urllib.request.Request(CLICKHOUSE, data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read().decode()


def local(script, *args, **extra):
    return subprocess.run([str(HERE / script), *args], env={**os.environ, **extra},
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def pid_of(name):
    path = Path(os.environ["FIDUCIA_STATE_DIR"]) / "pids" / f"{name}.pid"
    return int(path.read_text().split()[0])


def status():
    out = subprocess.run([str(HERE / "status"), "--json"], capture_output=True, text=True).stdout
    return {k: v["state"] for k, v in json.loads(out).items()}


class Plan:
    """The pages to send, each with its body made once (a retry sends the
    same event ids), and what the checks expect of them."""

    def __init__(self, now):
        self.pages = []          # (corpus ts, visitor, body, kept event ids)
        self.session_of = {}     # kept event id -> corpus session (global)
        self.visitor_of = {}     # kept event id -> visitor
        self.consent_records = 0  # consent events sent (each a row of consent_log)
        for k in range(COPIES):
            c = corpus_mod.build(now, prefix=f"s{now:x}-{k}", seed=1000 + k)
            for i, page in enumerate(c.pages):
                envelope = corpus_mod.envelope(page, i * 8)
                # A `consent` event is a consent record (the table
                # consent_log, counted apart), not a row of `events`.
                kept = [e["id"] for e in envelope["events"] if e["type"] != "consent"] \
                    if page.visitor and page.grants[0] else []
                self.consent_records += sum(e["type"] == "consent" for e in envelope["events"]) if page.visitor else 0
                for event_id in kept:
                    self.session_of[event_id] = (k, page.session)
                    self.visitor_of[event_id] = page.visitor
                self.pages.append((page.ts, page.visitor or f"refusal-{k}-{i}", envelope, kept, page))
        self.pages.sort(key=lambda p: p[0])


class Sender:
    """CLIENTS threads, each with its share of the visitors, sending every
    page at its place in the run until it is answered 2xx."""

    def __init__(self, plan, start):
        self.plan, self.start = plan, start
        self.accepted_at = {}    # kept event id -> when its envelope was answered 2xx
        self.statuses = {}
        self.lock = threading.Lock()

    def due(self, rank):
        """Pages go out at a steady rate, in the corpus' time order."""
        return self.start + rank / len(self.plan.pages) * DURATION

    def post(self, envelope, page):
        envelope = dict(envelope, sent_at=int(time.time() * 1000))
        headers = {"Content-Type": "text/plain", "Origin": corpus_mod.ORIGIN, "User-Agent": page.ua,
                   "X-Forwarded-For": page.address}
        req = urllib.request.Request(f"{COLLECTOR}/v1/events", data=json.dumps(envelope).encode(),
                                     method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0

    def client(self, n):
        mine = ((rank, p) for rank, p in enumerate(self.plan.pages) if hash(p[1]) % CLIENTS == n)
        for rank, (_, _, envelope, kept, page) in mine:
            wait = self.due(rank) - time.time()
            if wait > 0:
                time.sleep(wait)
            while True:
                code = self.post(envelope, page)
                with self.lock:
                    self.statuses[code] = self.statuses.get(code, 0) + 1
                if 200 <= code < 300:
                    break
                if 400 <= code < 500 and code != 429:
                    kept = []  # refused for good: never accepted (the check says so)
                    break
                time.sleep(0.5)
            now = time.time()
            with self.lock:
                for event_id in kept:
                    self.accepted_at[event_id] = now

    def run(self):
        threads = [threading.Thread(target=self.client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


class Watch:
    """Samples, every half second, which events ClickHouse holds (their
    first sighting) and the consumers' lag from every live instance."""

    def __init__(self):
        self.first_seen = {}
        self.progress = []       # (time, rows seen)
        self.lag_peak = {"enricher": 0.0, "sink": 0.0}
        self.stop = threading.Event()

    def lag(self, service):
        total = 0.0
        for name in (service, f"{service}-2"):
            addr = admin_addr(name)
            try:
                with urllib.request.urlopen(f"http://{addr}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith(f"fiducia_{service}_consumer_lag_messages"):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def run(self):
        while not self.stop.wait(0.5):
            now = time.time()
            try:
                ids = clickhouse("SELECT toString(event_id) FROM fiducia.events WHERE site_id = 'corpus'").split()
            except OSError:
                continue
            for event_id in ids:
                self.first_seen.setdefault(event_id, now)
            self.progress.append((now, len(self.first_seen)))
            for service in self.lag_peak:
                self.lag_peak[service] = max(self.lag_peak[service], self.lag(service))


def admin_addr(name):
    service, _, n = name.partition("-")
    base = env(f"FIDUCIA_{service.upper()}_ADMIN_ADDR", {"collector": "127.0.0.1:18080", "enricher": "127.0.0.1:18082",
                                                         "sink": "127.0.0.1:18083"}[service])
    host, port = base.rsplit(":", 1)
    return f"{host}:{int(port) + (int(n or 1) - 1) * int(env('FIDUCIA_INSTANCE_PORT_STEP', '1000'))}"


def kill_and_restart(name, at, log):
    time.sleep(max(0.0, at - time.time()))
    pid = pid_of(name)
    os.kill(pid, 9)
    killed = time.time()
    log.append((name, killed))
    print(f"  {killed - START:6.1f} s: kill -9 {name} (pid {pid})", flush=True)
    time.sleep(RESTART_AFTER)
    up = local("up")
    print(f"  {time.time() - START:6.1f} s: {name} started again (up: exit {up.returncode}, "
          f"{time.time() - killed:.1f} s after the kill)", flush=True)
    if up.returncode:
        print(up.stderr[-2000:], flush=True)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


START = 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args()
    # Its own state directory, always: it is wiped (never a stack's own
    # FIDUCIA_STATE_DIR). The ports are the stack's: stop a running one first.
    state = Path(env("FIDUCIA_SCALE_STATE_DIR", str(REPO / ".local" / "scale-test"))).resolve()
    os.environ.update(FIDUCIA_STATE_DIR=str(state), FIDUCIA_INSTANCES="2", FIDUCIA_KAFKA_STORAGE="memory",
                      FIDUCIA_SUPERVISE="0")
    local("down")
    shutil.rmtree(state, ignore_errors=True)
    began = time.time()
    up = local("up")
    if up.returncode:
        sys.exit(f"FAIL: deploy/local/up: {up.stderr[-3000:]}")
    print(f"stack up in {time.time() - began:.0f} s: {sorted(k for k, v in status().items() if v == 'up')}",
          flush=True)
    failures = []
    try:
        failures = run()
    finally:
        if not args.keep:
            local("down")
    if failures:
        print("\n".join(f"FAIL: {f}" for f in failures))
        sys.exit(1)
    print("PASS")


def run():
    global START
    plan = Plan(int(time.time()))
    kept = plan.session_of
    print(f"corpus: {COPIES} copies, {len(plan.pages)} envelopes, {len(kept)} events kept, "
          f"{len({v for v in plan.visitor_of.values()})} visitors, {len(set(kept.values()))} sessions; "
          f"sent over {DURATION:.0f} s through nginx at {COLLECTOR}", flush=True)
    watch = Watch()
    watcher = threading.Thread(target=watch.run)
    watcher.start()
    START = time.time()
    sender = Sender(plan, START)
    kills = []
    faults = [threading.Thread(target=kill_and_restart, args=(name, START + f * DURATION, kills))
              for f, name in FAULTS]
    for t in faults:
        t.start()
    sender.run()
    sent_end = time.time()
    for t in faults:
        t.join()
    print(f"sent in {sent_end - START:.1f} s; answers by status {dict(sorted(sender.statuses.items()))}", flush=True)
    deadline = time.time() + STORE_TIMEOUT
    while time.time() < deadline and len(watch.first_seen) < len(kept):
        time.sleep(1)
    time.sleep(3)  # any copy still in flight lands too
    watch.stop.set()
    watcher.join()
    print(f"stored: {len(watch.first_seen)} of {len(kept)} events seen, "
          f"{time.time() - sent_end:.1f} s after the last send", flush=True)

    failures = []
    final = int(clickhouse("SELECT count() FROM fiducia.events FINAL WHERE site_id = 'corpus'"))
    raw = int(clickhouse("SELECT count() FROM fiducia.events WHERE site_id = 'corpus'"))
    distinct = int(clickhouse("SELECT uniqExact(event_id) FROM fiducia.events WHERE site_id = 'corpus'"))
    rows = clickhouse("SELECT toString(event_id), session_id FROM fiducia.events FINAL WHERE site_id = 'corpus' "
                      "FORMAT TSV").split("\n")
    stored = dict(r.split("\t") for r in rows if r)
    accepted = set(sender.accepted_at)
    print(f"exactly once: {len(accepted)} events accepted and kept; FINAL count {final}, distinct ids {distinct}, "
          f"rows before merging {raw} ({raw - distinct} copies collapsed by event id)", flush=True)
    if accepted != set(kept):
        failures.append(f"{len(set(kept) - accepted)} kept events never accepted")
    if final != len(accepted) or distinct != len(accepted):
        failures.append(f"FINAL count {final}, distinct ids {distinct}, expected {len(accepted)}")
    missing, extra = accepted - set(stored), set(stored) - accepted
    if missing or extra:
        failures.append(f"{len(missing)} accepted events missing, {len(extra)} stored that were not sent")

    # The client's address reached the collectors through nginx
    # (X-Forwarded-For, believed from nginx only): every event has the
    # country of the corpus' public address, none the loopback's nothing.
    countries = clickhouse("SELECT countIf(country = ''), uniqExact(country) FROM fiducia.events FINAL "
                           "WHERE site_id = 'corpus'").split()
    print(f"client address through nginx: {countries[0]} events without a country, {countries[1]} countries",
          flush=True)
    if countries[0] != "0":
        failures.append(f"{countries[0]} events without a country: X-Forwarded-For lost on the way")
    nginx_log = Path(os.environ["FIDUCIA_STATE_DIR"]) / "logs" / "nginx-error.log"
    moved = sum(1 for line in nginx_log.read_text().splitlines() if "[error]" in line and "upstream" in line)
    print(f"nginx: {moved} requests its collector failed (refused or dropped) were passed to the other one",
          flush=True)

    records = int(clickhouse("SELECT count() FROM fiducia.consent_log FINAL WHERE site_id = 'corpus'"))
    print(f"consent records: {records} in consent_log (FINAL) of {plan.consent_records} sent", flush=True)
    if records != plan.consent_records:
        failures.append(f"consent_log holds {records} records, {plan.consent_records} were sent")

    ids_of_session, sessions_of_id = {}, {}
    for event_id, session_id in stored.items():
        if event_id in kept:
            ids_of_session.setdefault(kept[event_id], set()).add(session_id)
            sessions_of_id.setdefault(session_id, set()).add(kept[event_id])
    split = [s for s, ids in ids_of_session.items() if len(ids) != 1]
    merged = [s for s, ss in sessions_of_id.items() if len(ss) != 1]
    per_visitor_corpus, per_visitor_stored = {}, {}
    for event_id, session in kept.items():
        per_visitor_corpus.setdefault(plan.visitor_of[event_id], set()).add(session)
        if event_id in stored:
            per_visitor_stored.setdefault(plan.visitor_of[event_id], set()).add(stored[event_id])
    differ = [v for v in per_visitor_corpus if len(per_visitor_corpus[v]) != len(per_visitor_stored.get(v, ()))]
    print(f"sessions: corpus {len(ids_of_session)} sessions of {len(per_visitor_corpus)} visitors; "
          f"stored {len(sessions_of_id)} session ids; split {len(split)}, merged {len(merged)}, "
          f"visitors whose session count differs {len(differ)}", flush=True)
    if split or merged or differ:
        failures.append(f"sessions: {len(split)} split, {len(merged)} merged, {len(differ)} visitors differ "
                        f"(e.g. {(split + merged + differ)[:3]})")

    latency = {e: watch.first_seen[e] - t for e, t in sender.accepted_at.items() if e in watch.first_seen}
    print(f"latency accepted → stored (0.5 s sampling): p50 {percentile(latency.values(), 0.5):.1f} s, "
          f"p99 {percentile(latency.values(), 0.99):.1f} s, max {max(latency.values(), default=0):.1f} s", flush=True)
    for name, killed in kills:
        around = [latency[e] for e, t in sender.accepted_at.items() if e in latency and killed - 1 <= t <= killed + 20]
        slow = sum(1 for x in around if x > 2)
        print(f"  {name} killed at {killed - START:.1f} s: of {len(around)} events accepted from 1 s before to 20 s "
              f"after it, {slow} took over 2 s; max {max(around, default=0):.1f} s, p99 {percentile(around, 0.99):.1f} s",
              flush=True)
    during = [(t, n) for t, n in watch.progress if START <= t <= sent_end]
    gap, at = 0.0, START
    last_t, last_n = (during[0] if during else (START, 0))
    for t, n in during:
        if n > last_n:
            if t - last_t > gap:
                gap, at = t - last_t, last_t
            last_t, last_n = t, n
    accepted_times = sorted(sender.accepted_at.values())
    backlog = max((bisect.bisect_right(accepted_times, t) - n for t, n in watch.progress), default=0)
    print(f"longest gap in stored-event progress while the load ran: {gap:.1f} s (from {at - START:.1f} s); "
          f"peak of accepted events not yet stored: {backlog}; consumer lag peak the live instances reported "
          f"(a dead one's partitions count nowhere until reassigned): enrichers {watch.lag_peak['enricher']:.0f}, "
          f"sinks {watch.lag_peak['sink']:.0f} messages", flush=True)
    return failures


if __name__ == "__main__":
    main()
