#!/usr/bin/env python3
"""First end-to-end figures for a running local pipeline (`deploy/local/up`).

Not the benchmark harness (that is issue 7's Rust load generator): a small,
dependency-free probe that answers two questions against the real collector,
broker, enricher, sink and ClickHouse:

* throughput: post N events in batches from C threads, then wait until all of
  them are in `fiducia.events`; events/s = N / (first post .. last row visible);
* latency: post one event at a time, poll ClickHouse every 20 ms until its row
  is there; p50/p99 of post-start .. row-visible.

Usage: benches/pipeline_probe.py [--events 20000] [--batch 20] [--threads 4]
       [--samples 50] [--collector http://127.0.0.1:8080]
       [--clickhouse http://127.0.0.1:18123]
"""

import argparse
import json
import os
import statistics
import threading
import time
import urllib.request
import uuid


def uuid7() -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix ms, version 7, variant 10, random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def envelope(ids):
    now = int(time.time() * 1000)
    return json.dumps({
        "site": "demo",
        "sent_at": now,
        "consent": {"measurement": "granted", "updated_at": now - 60_000},
        "visitor": {"id": "probe-" + ids[0][-12:]},
        "context": {"url": "https://shop.example/p/42?utm_source=probe", "referrer": "https://www.google.com/"},
        "events": [{"id": i, "type": "page_view", "ts": now, "seq": n, "props": {}} for n, i in enumerate(ids)],
    }).encode()


def post(collector, ids):
    request = urllib.request.Request(
        collector + "/v1/events", data=envelope(ids), method="POST",
        headers={"Content-Type": "text/plain", "Origin": "http://localhost:8000"})
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 204:
            raise RuntimeError(f"collector answered {response.status}")


def query(clickhouse, sql):
    with urllib.request.urlopen(urllib.request.Request(clickhouse, data=sql.encode()), timeout=30) as r:
        return r.read().decode().strip()


def throughput(args):
    before = int(query(args.clickhouse, "SELECT uniqExact(event_id) FROM fiducia.events"))
    per_thread = args.events // args.threads // args.batch
    errors = []

    def worker():
        try:
            for _ in range(per_thread):
                post(args.collector, [uuid7() for _ in range(args.batch)])
        except Exception as error:  # reported below, never silent
            errors.append(error)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    posted = time.monotonic() - started
    if errors:
        raise SystemExit(f"{len(errors)} threads failed, first: {errors[0]}")
    total = per_thread * args.batch * args.threads
    while int(query(args.clickhouse, "SELECT uniqExact(event_id) FROM fiducia.events")) < before + total:
        if time.monotonic() - started > 300:
            raise SystemExit("rows missing after 300 s")
        time.sleep(0.05)
    stored = time.monotonic() - started
    print(f"throughput: {total} events in batches of {args.batch} from {args.threads} threads: "
          f"accepted at {total / posted:,.0f} events/s, stored at {total / stored:,.0f} events/s "
          f"(all rows visible {stored:.2f} s after the first post)")


def latency(args):
    samples = []
    for _ in range(args.samples):
        event_id = uuid7()
        started = time.monotonic()
        post(args.collector, [event_id])
        sql = f"SELECT count() FROM fiducia.events WHERE event_id = toUUID('{event_id}')"
        while query(args.clickhouse, sql) != "1":
            if time.monotonic() - started > 30:
                raise SystemExit(f"event {event_id} not stored after 30 s")
            time.sleep(0.02)
        samples.append(time.monotonic() - started)
        time.sleep(0.1)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"latency: post → row visible in ClickHouse over {len(samples)} single events: "
          f"p50 {statistics.median(samples) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {samples[-1] * 1000:.0f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collector", default="http://127.0.0.1:8080")
    parser.add_argument("--clickhouse", default="http://127.0.0.1:18123")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    throughput(args)
    latency(args)


if __name__ == "__main__":
    main()
