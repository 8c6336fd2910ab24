"""The item lists refresh (`sink/src/jobs/items/`) over ROWS profile_events
rows (default 10,000,000) on the local ClickHouse server (18.16 here): the
two queries of one site's refresh, as the sink runs them (printed by the
`print_item_lists_sql` example), timed and with their peak memory as the
server's query log records it (`system.query_log.memory_usage`: the
query's memory tracker, not the server's RSS), against a baseline in the
same run: a plain `count()` and a `uniqExact(visitor_id)` over the same
rows.

Seeding: ROWS events of VISITORS visitors (default 2,000,000, so 5 events
each), all with personalization consent, over the last 89 days, each about
one of 20,000 items (skewed to the first: item = 20,000 × u^(1/0.3), u
uniform in [0, 1)), on pages of one of 8 categories, inserted into `events` so that
the materialized view fills `profile_events` as in production; plus 5,000
withdrawals in `consent_log` and 1,000 erasure requests (by visitor id) in
`privacy_requests`, which the queries leave out.

    deploy/local/up --infra
    python3 benches/item_lists.py [ROWS] [VISITORS]

The database `fiducia_bench_items` is dropped at the end.
"""

import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "clickhouse"))
import guide  # noqa: E402

DB = "fiducia_bench_items"
PORT = os.environ.get("FIDUCIA_CLICKHOUSE_HTTP_PORT", "18123")
URL = f"http://127.0.0.1:{PORT}/"
K, WINDOW_DAYS, RUNS = 10, 90, 3


def query(sql, **settings):
    params = urllib.parse.urlencode(settings)
    request = urllib.request.Request(f"{URL}?{params}", data=sql.encode())
    try:
        with urllib.request.urlopen(request, timeout=3600) as response:
            return response.read().decode()
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{error.read().decode()[:2000]}\n{sql[:400]}") from None


def seed(rows, visitors):
    version = query("SELECT version()").strip()
    for sql in guide.schema_statements(version, DB):
        query(sql)
    query(
        f"INSERT INTO {DB}.events (event_id, site_id, event_type, event_time, received_at, visitor_id, "
        "session_id, url, path, consent_measurement, consent_personalization, decision, page_categories, item_id) "
        "SELECT generateUUIDv4(), 'demo', 'page_view', at, at, "
        f"concat('v', toString(number % {visitors})), '', '', '', 1, 1, 'keep', "
        "[concat('c', toString(item % 8))], concat('i', toString(item)) "
        "FROM (SELECT number, toDateTime(toUInt32(now()) - intHash32(number) % (89 * 86400), 'UTC') AS at, "
        "toUInt32(pow(intHash32(number * 7 + 1) / 4294967296, 1 / 0.3) * 20000) AS item "
        f"FROM system.numbers LIMIT {rows})",
        max_insert_block_size=1048576,
    )
    query(
        f"INSERT INTO {DB}.consent_log (record_id, site_id, subject, action, measurement, personalization, "
        "client_time, server_time, server_ms, expires_at) SELECT generateUUIDv4(), 'demo', "
        f"concat('v', toString(number * 397 % {visitors})), 'withdraw', 1, 0, now(), now(), 0, now() "
        "FROM system.numbers LIMIT 5000"
    )
    query(
        f"INSERT INTO {DB}.privacy_requests (request_id, site_id, subject, user_key, kind, channel, status, "
        "requested_at, updated_at) SELECT generateUUIDv4(), 'demo', "
        f"concat('v', toString(number * 991 % {visitors})), '', 'erasure', 'center', 'received', now(), now() "
        "FROM system.numbers LIMIT 1000"
    )
    query(f"OPTIMIZE TABLE {DB}.profile_events FINAL")


def timed(sql):
    """Best wall time of RUNS runs, and the peak memory and rows read of
    that run as system.query_log has them."""
    best = None
    for _ in range(RUNS):
        query_id = str(uuid.uuid4())
        started = time.monotonic()
        result = query(sql, log_queries=1, query_id=query_id)
        seconds = time.monotonic() - started
        if best is None or seconds < best[0]:
            best = (seconds, query_id, len(result.splitlines()))
    seconds, query_id, lines = best
    for _ in range(30):
        try:
            query("SYSTEM FLUSH LOGS")
        except Exception:  # noqa: BLE001 - older servers flush on their own
            time.sleep(1)
        row = query(
            "SELECT memory_usage, read_rows FROM system.query_log "
            f"WHERE query_id = '{query_id}' AND type = 2"  # QueryFinish (a UInt8 on 18.16)
        ).split()
        if row:
            return seconds, int(row[0]), int(row[1]), lines
    raise RuntimeError(f"query {query_id} not in system.query_log")


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    visitors = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
    query(f"DROP DATABASE IF EXISTS {DB}")
    started = time.monotonic()
    seed(rows, visitors)
    signals = int(query(f"SELECT count() FROM {DB}.profile_events"))
    print(f"server {query('SELECT version()').strip()}, {signals:,} profile_events rows, "
          f"{visitors:,} visitors, seeded in {time.monotonic() - started:.1f} s, "
          f"load average {os.getloadavg()[0]:.2f}")
    related, popular = guide.item_lists_statements(DB, "demo", K, WINDOW_DAYS)
    cases = [
        ("baseline: count()", f"SELECT count() FROM {DB}.profile_events WHERE site_id = 'demo'"),
        ("baseline: uniqExact(visitor_id)", f"SELECT uniqExact(visitor_id) FROM {DB}.profile_events WHERE site_id = 'demo'"),
        ("related pairs (k = 10)", related),
        ("popular per category (k = 10)", popular),
    ]
    measured = [(name, *timed(sql)) for name, sql in cases]
    count, uniq = measured[0][1], measured[1][1]
    print("| query | best of 3 | × count() | × uniqExact | peak memory | rows read | rows out |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, seconds, memory, read, lines in measured:
        print(f"| {name} | {seconds:.3f} s | {seconds / count:.0f}× | {seconds / uniq:.1f}× "
              f"| {memory / 2**20:.0f} MiB | {read:,} | {lines:,} |")
    results = {name: seconds for name, seconds, *_ in measured}
    refresh = results["related pairs (k = 10)"] + results["popular per category (k = 10)"]
    print(f"refresh (both queries): {refresh:.3f} s")
    query(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()
