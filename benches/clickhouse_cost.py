#!/usr/bin/env python3
"""The ClickHouse side of a sink drain (benches/run, scenario d): what every
ClickHouse server process and ZooKeeper spent while a sink drained a topic
into one database, and what that database's tables got on each server.

  clickhouse_cost.py start STATE NAME=PID[,URL]...
      records each process's CPU ticks (/proc/PID/stat, utime + stime: all
      its threads) in the file STATE, just before the drain.
  clickhouse_cost.py end STATE --label L --database DB --rows N --seconds S
      after the drain: waits until no server with a URL has a replication
      task or a merge left for DB (the second replica has fetched every
      part and merges are done), reads the CPU ticks again, and prints one
      JSON line (kind "clickhouse"): per process its CPU seconds in the
      window, its RSS, and per table of DB (the cluster's `T_local` named
      `T`) the parts it made from inserts, fetched from its replica and
      merged (system.part_log, with their rows), and the parts, rows and
      bytes active at the end (schema_migrations, filled before the
      drain, left out). N (rows the sink inserted) and S (the drain's
      seconds) are carried for the report.

Every server process is measured in every run: the ones the drain did not
use show their idle cost over the same window (report.py subtracts it).
Standard library only."""

import argparse
import json
import os
import sys
import time
import urllib.request

SETTLE_TIMEOUT_S = 300


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def rss_mb(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def query_text(url, sql):
    request = urllib.request.Request(url + "/", data=sql.encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def query(url, sql):
    """Rows of a SELECT as lists."""
    return json.loads(query_text(url, sql + " FORMAT JSONCompact"))["data"]


def parse_server(word):
    name, _, rest = word.partition("=")
    pid, _, url = rest.partition(",")
    return {"name": name, "pid": int(pid), "url": url or None}


def quoted(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pending(url, database):
    """Replication tasks and merges still to do for database on one server."""
    db = quoted(database)
    [[queue]] = query(url, f"SELECT count() FROM system.replication_queue WHERE database = {db}")
    [[merges]] = query(url, f"SELECT count() FROM system.merges WHERE database = {db}")
    return int(queue) + int(merges)


def settle(servers, database):
    """Waits until two looks a second apart find nothing pending anywhere."""
    started = time.monotonic()
    quiet = 0
    while quiet < 2:
        if time.monotonic() - started > SETTLE_TIMEOUT_S:
            sys.exit(f"clickhouse_cost: {database} still busy after {SETTLE_TIMEOUT_S} s")
        busy = sum(pending(s["url"], database) for s in servers if s["url"])
        quiet = quiet + 1 if busy == 0 else 0
        time.sleep(1)
    return time.monotonic() - started


def tables(url, database):
    """Per table the drain filled (the migrations' history left out): parts
    inserted, fetched and merged, parts, rows and bytes stored."""
    where = f"database = {quoted(database)} AND table != 'schema_migrations'"
    out = {}

    def table(name):
        return out.setdefault(name.removesuffix("_local"), {
            "new_parts": 0, "new_rows": 0, "fetched_parts": 0, "fetched_rows": 0,
            "merges": 0, "merged_rows": 0, "merge_ms": 0, "parts": 0, "rows": 0, "bytes": 0,
        })

    kinds = {"NEW_PART": "new", "DOWNLOAD_PART": "fetched"}  # 18.16's names
    for name, event, parts, rows, ms in query(
        url,
        "SELECT table, toString(event_type), count(), sum(rows), sum(duration_ms) "
        f"FROM system.part_log WHERE {where} GROUP BY table, event_type",
    ):
        t = table(name)
        if event in kinds:
            t[kinds[event] + "_parts"] += int(parts)
            t[kinds[event] + "_rows"] += int(rows)
        elif event == "MERGE_PARTS":
            t["merges"] += int(parts)
            t["merged_rows"] += int(rows)
            t["merge_ms"] += int(ms)
    for name, parts, rows, size in query(
        url,
        "SELECT table, count(), sum(rows), sum(bytes_on_disk) "
        f"FROM system.parts WHERE {where} AND active GROUP BY table",
    ):
        t = table(name)
        t["parts"] += int(parts)
        t["rows"] += int(rows)
        t["bytes"] += int(size)
    return out


def start(args):
    servers = [parse_server(word) for word in args.servers]
    for s in servers:
        s["ticks"] = cpu_ticks(s["pid"])
    with open(args.state, "w", encoding="utf-8") as f:
        json.dump({"time": time.monotonic(), "servers": servers}, f)


def end(args):
    with open(args.state, encoding="utf-8") as f:
        state = json.load(f)
    servers = state["servers"]
    settle_s = settle(servers, args.database)
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    window_s = time.monotonic() - state["time"]
    ticks = {s["name"]: cpu_ticks(s["pid"]) for s in servers}
    rss = {s["name"]: rss_mb(s["pid"]) for s in servers}
    for s in servers:
        if s["url"]:
            query_text(s["url"], "SYSTEM FLUSH LOGS")  # part_log, else written every 7.5 s
    report = {
        "kind": "clickhouse",
        "label": args.label,
        "database": args.database,
        "rows": args.rows,
        "seconds": args.seconds,
        "window_s": window_s,
        "settle_s": settle_s,
        "servers": [
            {
                "name": s["name"],
                "cpu_s": (ticks[s["name"]] - s["ticks"]) / ticks_per_s,
                "rss_mb": rss[s["name"]],
                "tables": tables(s["url"], args.database) if s["url"] else {},
            }
            for s in servers
        ],
    }
    print(json.dumps(report))


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("start")
    p.add_argument("state")
    p.add_argument("servers", nargs="+", metavar="NAME=PID[,URL]")
    p = commands.add_parser("end")
    p.add_argument("state")
    p.add_argument("--label", required=True)
    p.add_argument("--database", required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    {"start": start, "end": end}[args.command](args)


if __name__ == "__main__":
    main()
