"""Erasure on a current ClickHouse engine (chDB, in process), with
lightweight DELETE: the statements the sink's erasure workflow runs on
servers of 23.3 and later (`sink/src/jobs/privacy/workflow.rs`), timed, for
a subject with 10,000 events among ROWS (default 5,000,000). The sink itself
cannot talk to chDB (no server), so this times ClickHouse's part: count,
pseudonymise `consent_log`, delete from `profile_events` and `events`, count
again until nothing is left. Seeding is as in the 18.16 bench
(`erasure_time_for_10_000_events_among_millions` in sink/tests/sink/rights.rs).

    python3 benches/erasure_chdb.py [ROWS]
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "clickhouse"))
from chdb import session  # noqa: E402

import guide  # noqa: E402

DB = "fiducia"
SUBJECT = "site_id = 'demo' AND (has(['target'], {column}))"
PSEUDONYM = "concat('erased:', lower(hex(SHA256(concat(site_id, '\\0', subject)))))"
CONSENT_COLUMNS = [
    "record_id", "site_id", "subject", "action", "measurement", "personalization", "functional",
    "contextual", "source", "notice_version", "notice_hash", "tcf", "gpp", "gpc", "dnt", "client_time",
    "server_time", "server_ms", "ip_prefix", "browser_family", "expires_at", "user_key", "retention_months",
]


def seed_events(db, visitor, count):
    db.query(
        f"INSERT INTO {DB}.events (event_id, site_id, event_type, event_time, received_at, visitor_id, "
        "session_id, url, path, consent_measurement, consent_personalization, decision, page_categories) "
        "SELECT generateUUIDv4(), 'demo', 'page_view', "
        "toDateTime(toUInt32(now()) - number % 31536000, 'UTC'), toDateTime(toUInt32(now()) - number % 31536000, 'UTC'), "
        f"{visitor}, concat('s', toString(number % 1000000)), concat('https://shop.example/p/', toString(number % 5000)), "
        "concat('/p/', toString(number % 5000)), 1, toUInt8(number % 4 = 0), 'keep', ['shoes'] "
        f"FROM numbers({count})"
    )


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
    with tempfile.TemporaryDirectory() as tmp:
        db = session.Session(tmp)
        scalar = lambda sql: db.query(sql, "TSVRaw").bytes().decode().strip()  # noqa: E731
        version = scalar("SELECT version()")
        for sql in guide.schema_statements(version, DB):
            db.query(sql)
        started = time.monotonic()
        seed_events(db, "concat('v', toString(number % 200000))", rows - 10_000)
        seed_events(db, "'target'", 10_000)
        db.query(
            f"INSERT INTO {DB}.consent_log (record_id, site_id, subject, action, personalization, client_time, "
            "server_time, ip_prefix, browser_family) SELECT generateUUIDv4(), 'demo', 'target', 'grant', 1, now(), now(), "
            "'203.0.113.0/24', 'Firefox' FROM numbers(3)"
        )
        seeded = time.monotonic() - started
        signals = scalar(f"SELECT count() FROM {DB}.profile_events")
        print(f"chDB {version}: seeded {rows} events ({signals} profile signals) in {seeded:.1f} s")

        started = time.monotonic()
        tables = [("profile_events", "visitor_id"), ("consent_log", "subject"), ("events", "visitor_id")]
        counts = {t: int(scalar(f"SELECT count() FROM {DB}.{t} WHERE {SUBJECT.format(column=c)}")) for t, c in tables}
        counted = time.monotonic() - started
        select = ", ".join(
            PSEUDONYM if c == "subject" else "''" if c in ("ip_prefix", "browser_family") else f"`{c}`"
            for c in CONSENT_COLUMNS
        )
        db.query(
            f"INSERT INTO {DB}.consent_log ({', '.join(CONSENT_COLUMNS)}) SELECT {select} FROM {DB}.consent_log "
            f"WHERE {SUBJECT.format(column='subject')}"
        )
        for table, column in tables:
            db.query(f"DELETE FROM {DB}.`{table}` WHERE {SUBJECT.format(column=column)}")
        deleted = time.monotonic() - started
        left = 1
        while left:
            left = sum(int(scalar(f"SELECT count() FROM {DB}.{t} WHERE {SUBJECT.format(column=c)}")) for t, c in tables)
        verified = time.monotonic() - started
        print(f"rows of the subject: {counts}")
        print(f"counted {counted:.3f} s, deleted {deleted:.3f} s, verified {verified:.3f} s")
        db.close()


if __name__ == "__main__":
    main()
