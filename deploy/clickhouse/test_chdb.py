"""The modern path on a current ClickHouse engine, in process (chDB): the
sink's migrations and retention TTLs as it runs them on a server of chDB's
version, the item lists queries, every example query of the analyst guide on generated traffic, and
TTL retention deleting expired rows and only them, and a retried insert
dropped by its deduplication token.

    python3 deploy/clickhouse/test_chdb.py
"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chdb import session  # noqa: E402

import guide  # noqa: E402

DB = "fiducia"


class ModernSchema(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.db = session.Session(cls.tmp.name)
        cls.version = cls.scalar("SELECT version()")
        for sql in guide.schema_statements(cls.version, DB):
            cls.db.query(sql)
        for sql in guide.generate_statements(DB, 36_000):
            cls.db.query(sql)

    @classmethod
    def tearDownClass(cls):
        cls.db.close()
        cls.tmp.cleanup()

    @classmethod
    def scalar(cls, sql):
        return cls.db.query(sql, "TSVRaw").bytes().decode().strip()

    def test_the_events_table_uses_modern_storage(self):
        ddl = self.scalar(f"SHOW CREATE TABLE {DB}.events")
        self.assertIn("`event_type` LowCardinality(String)", ddl)
        self.assertIn("CODEC(ZSTD(3))", ddl)
        self.assertIn("TTL addMonths(event_time, 13)", ddl)
        self.assertIn("TTL addMonths(event_time, 13)", self.scalar(f"SHOW CREATE TABLE {DB}.profile_events"))
        dead_letters = self.scalar(f"SHOW CREATE TABLE {DB}.dead_letters")
        self.assertIn("`reason` LowCardinality(String)", dead_letters)
        self.assertIn("TTL addDays(failed_at, 30)", dead_letters)

    def test_every_documented_query_runs_and_returns_rows(self):
        queries = guide.sql_blocks()
        self.assertGreaterEqual(len(queries), 10)
        for query in queries:
            with self.subTest(query=query.splitlines()[0:3]):
                rows = int(self.scalar(f"SELECT count() FROM ({query})"))
                self.assertGreater(rows, 0, query)

    def test_item_lists_count_distinct_consenting_visitors_from_k_on(self):
        # il1, il2 and il3 view x and y (il1 twice); il4 only x, without
        # personalization consent; k = 3.
        views = [("il1", 1), ("il2", 1), ("il3", 1), ("il1", 1), ("il4", 0)]
        for visitor, consent in views:
            for item in ["x", "y"] if visitor != "il4" else ["x"]:
                self.db.query(
                    f"INSERT INTO {DB}.events (event_id, site_id, event_type, event_time, received_at, visitor_id, "
                    "consent_personalization, decision, page_categories, item_id) "
                    f"SELECT generateUUIDv4(), 'items', 'page_view', now() - 60, now(), '{visitor}', {consent}, 'keep', "
                    f"['shoes'], '{item}'"
                )
        rows = lambda sql: self.db.query(sql, "TSVRaw").bytes().decode().splitlines()  # noqa: E731
        related, popular = guide.item_lists_statements(DB, "items", 3, 90)
        self.assertEqual(rows(related), ["x\ty\t3", "y\tx\t3"])
        self.assertEqual(rows(popular), ["\tx\t3", "\ty\t3", "shoes\tx\t3", "shoes\ty\t3"])
        four = guide.item_lists_statements(DB, "items", 4, 90)
        self.assertEqual([rows(sql) for sql in four], [[], []])

    def test_ttl_deletes_expired_rows_and_only_them(self):
        # (visitor, months old, expired?): identified 13 months, anonymous 25.
        cases = [("ttl-v", 12, False), ("ttl-v", 14, True), ("", 14, False), ("", 26, True)]
        for i, (visitor, months, _) in enumerate(cases):
            self.db.query(
                f"INSERT INTO {DB}.events (event_id, site_id, event_type, event_time, received_at, visitor_id, path, decision) "
                f"SELECT generateUUIDv4(), 'ttl', 'page_view', subtractMonths(now(), {months}) - {i}, now(), '{visitor}', '/ttl', 'keep'"
            )
        self.db.query(f"OPTIMIZE TABLE {DB}.events FINAL")
        kept = int(self.scalar(f"SELECT count() FROM {DB}.events WHERE site_id = 'ttl'"))
        self.assertEqual(kept, sum(1 for c in cases if not c[2]))
        for visitor, months, expired in cases:
            n = int(self.scalar(
                f"SELECT count() FROM {DB}.events WHERE site_id = 'ttl' AND visitor_id = '{visitor}' "
                f"AND event_time < subtractMonths(now(), {months - 1}) AND event_time > subtractMonths(now(), {months + 1})"
            ))
            self.assertEqual(n, 0 if expired else 1, (visitor, months))

    def test_a_retried_insert_with_the_same_batch_token_is_stored_once(self):
        # What the sink sends on servers with insert_deduplication_token
        # (migration 10 gives the tables a deduplication window): a retried
        # batch carries the same token and is dropped whole.
        for attempt in range(2):
            self.db.query(
                f"INSERT INTO {DB}.events (event_id, site_id, event_type, event_time, received_at, path, decision) "
                "SETTINGS insert_deduplication_token = 'fiducia.enriched.v1:0:100-199' "
                f"SELECT generateUUIDv4(), 'dedup', 'page_view', now(), now(), '/attempt-{attempt}', 'keep'"
            )
        stored = self.scalar(f"SELECT groupArray(path) FROM {DB}.events WHERE site_id = 'dedup'")
        self.assertEqual(stored, "['/attempt-0']")


if __name__ == "__main__":
    unittest.main(verbosity=2)
