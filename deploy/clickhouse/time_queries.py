"""Times every example query of the analyst guide (or, with
--site-dashboard, every ClickHouse query of the site dashboard,
deploy/grafana/site/queries, for the site `demo` over the last 30 days in
hourly buckets) on N generated events, on the local ClickHouse server
(through clickhouse-client) and on chDB, and prints a markdown table (best
of 3 runs, seconds; the server's times include starting clickhouse-client,
about 0.05 s).

    python3 deploy/clickhouse/time_queries.py --events 1000000 --port 19300
    python3 deploy/clickhouse/time_queries.py --site-dashboard --events 5000000 --port 19300
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guide  # noqa: E402

DB = "fiducia_timing"
SITE_DASHBOARD = os.path.join(guide.ROOT, "deploy", "grafana", "site")


def site_dashboard_queries():
    """(file name, query) of the site dashboard's ClickHouse queries, as
    Grafana would send them for the generated site over the last 30 days."""
    sys.path.insert(0, SITE_DASHBOARD)
    import panels

    now = int(time.time())
    return [(name, panels.expand(panels.text(name), "demo", now - 30 * 86400, now, 3600))
            for name in panels.query_files() if not panels.is_prometheus(name)]


def best_of(run, query, times=3):
    best = None
    for _ in range(times):
        started = time.perf_counter()
        run(query)
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, help="native port of a ClickHouse server to time too")
    parser.add_argument("--site-dashboard", action="store_true", help="the site dashboard's queries, not the guide's")
    args = parser.parse_args()
    titled = site_dashboard_queries() if args.site_dashboard else guide.sql_blocks(titles=True)
    queries = [q.replace("fiducia.", f"{DB}.") for _, q in titled]
    columns = {}

    if args.port:
        def server(sql):
            subprocess.run(["clickhouse-client", "--port", str(args.port), "--multiquery", "-q", sql],
                           check=True, stdout=subprocess.DEVNULL)
        version = subprocess.run(["clickhouse-client", "--port", str(args.port), "-q", "SELECT version()"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        server(f"DROP DATABASE IF EXISTS {DB}")
        for sql in guide.schema_statements(version, DB) + guide.generate_statements(DB, args.events):
            server(sql)
        server(f"OPTIMIZE TABLE {DB}.events FINAL")
        columns[f"ClickHouse {version} (server)"] = [best_of(server, q) for q in queries]
        server(f"DROP DATABASE {DB}")

    from chdb import session
    with tempfile.TemporaryDirectory() as tmp:
        db = session.Session(tmp)
        version = db.query("SELECT version()", "TSVRaw").bytes().decode().strip()
        for sql in guide.schema_statements(version, DB) + guide.generate_statements(DB, args.events):
            db.query(sql)
        db.query(f"OPTIMIZE TABLE {DB}.events FINAL")
        columns[f"chDB {version} (in process)"] = [best_of(lambda q: db.query(q, "Null"), q) for q in queries]
        db.close()

    names = list(columns)
    print(f"| query ({args.events:,} events) | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for i, (title, _) in enumerate(titled):
        print(f"| {title} | " + " | ".join(f"{columns[n][i]:.3f}" for n in names) + " |")


if __name__ == "__main__":
    main()
