#!/usr/bin/env python3
"""Turns the load generator's JSON lines (one per run) into the results
table of benches/README.md: OUT.md (markdown) and OUT.json (every run's raw
figures plus the conditions). Runs come in pairs, "bare NAME" then
"collector NAME", so each collector figure has its baseline from the same
run. fiducia-drain's lines (kind "drain": the enricher and the sink draining
a backlog) and the load generator's pipeline run (with "arrival": tag →
ClickHouse latency) get tables of their own. Called by benches/run;
standard library only."""

import argparse
import json
import sys

# SPEC section 12.
RATIO_TARGET = 0.8
EVENTS_PER_CPU_S_TARGET = 150_000
RSS_TARGET_MB = 50
TAG_GZIP_TARGET = 3_000
ENRICHER_TARGET = 50_000  # events/s per core
SINK_TARGET = 200_000  # rows/s
LATENCY_P99_TARGET_MS = 2_000


def fmt(value, digits=0):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def cpu_us(run):
    """Server CPU microseconds per answered request."""
    server = run.get("server") or {}
    if not run["requests_ok"] or "cpu_s" not in server:
        return None
    return server["cpu_s"] * 1e6 / run["requests_ok"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("raw")
    parser.add_argument("out")
    for name in ("date", "commit", "machine", "pinning", "broker", "load", "duration", "warmup", "tag-gzip-bytes"):
        parser.add_argument(f"--{name}", default="")
    args = parser.parse_args()

    runs = [json.loads(line) for line in open(args.raw, encoding="utf-8") if line.strip()]
    drains = [run for run in runs if run.get("kind") == "drain"]
    pipeline = [run for run in runs if run.get("arrival")]
    prefill = [run for run in runs if run["label"] == "prefill raw topic"]
    runs_by_kind = [run for run in runs if run.get("kind") not in ("drain", "freshness")]
    by_label = {run["label"]: run for run in runs}
    pairs = []
    for run in runs_by_kind:
        kind, _, name = run["label"].partition(" ")
        if kind == "collector" and f"bare {name}" in by_label:
            pairs.append((name, by_label[f"bare {name}"], run))

    lines = [
        f"Run {args.date}, commit {args.commit}.",
        f"Machine: {args.machine}. Pinning: {args.pinning}. Broker: {args.broker}.",
        f"Load average when the table was written: {args.load}. Each load: {args.warmup} s warm-up, "
        f"{args.duration} s measured; bare handler and collector back to back.",
        "",
        "| load | bare req/s | collector req/s | ratio | collector ev/s | ev per collector CPU-s "
        "| collector CPU (cores) | collector p50 / p99 / p99.9 ms | bare p99 ms | errors | dropped events "
        "| collector peak RSS MB | load generator CPU | broker CPU (cores) | CPU µs per request, bare / collector |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = {}
    for name, bare, coll in pairs:
        ratio = coll["requests_per_s"] / bare["requests_per_s"] if bare["requests_per_s"] else None
        server = coll.get("server") or {}
        lat = coll["latency"]
        errors = coll["error_total"]
        error_kinds = ", ".join(f"{k} {v}" for k, v in coll["errors"].items())
        lines.append(
            f"| {name} | {fmt(bare['requests_per_s'])} | {fmt(coll['requests_per_s'])} | {fmt(ratio, 2)} "
            f"| {fmt(coll['events_per_s'])} | {fmt(server.get('events_per_cpu_s'))} "
            f"| {fmt(server.get('cpu_cores'), 2)} "
            f"| {lat['p50_ms']:.2f} / {lat['p99_ms']:.2f} / {lat['p999_ms']:.2f} "
            f"| {bare['latency']['p99_ms']:.2f} | {errors}{' (' + error_kinds + ')' if errors else ''} "
            f"| {coll['events_dropped']} | {fmt(server.get('peak_rss_mb'), 1)} "
            f"| {fmt(coll['loadgen_cpu_cores'], 2)} / {fmt(bare['loadgen_cpu_cores'], 2)} "
            f"| {fmt(coll.get('broker_cpu_cores'), 2)} "
            f"| {fmt(cpu_us(bare), 1)} / {fmt(cpu_us(coll), 1)} |"
        )
        if coll["mode"] == "closed":
            key = "single" if coll["batch"] == 1 else "batch"
            best = summary.get(key)
            if best is None or coll["requests_per_s"] > best["collector_rps"]:
                bare_us, coll_us = cpu_us(bare), cpu_us(coll)
                summary[key] = {
                    "load": name,
                    "ratio": ratio,
                    "cpu_ratio": bare_us / coll_us if bare_us and coll_us else None,
                    "collector_rps": coll["requests_per_s"],
                    "events_per_cpu_s": server.get("events_per_cpu_s"),
                }
        summary["peak_rss_mb"] = max(summary.get("peak_rss_mb", 0), server.get("vm_hwm_mb", 0))
    lines.append("")
    lines.append(
        "Load generator CPU is shown as collector run / bare run; at 1.00 the load generator's "
        "core was the limit of that run, not the server. On a machine busy with other work, a "
        "bare run where neither the server nor the load generator reaches 1.00 was limited by "
        "the share of the cores it got: compare CPU per request then."
    )
    lines.extend(drain_table(drains, prefill))
    lines.extend(clickhouse_table([run for run in runs if run.get("kind") == "clickhouse"]))
    lines.extend(latency_table(pipeline))
    lines.append("")
    lines.append("| SPEC section 12 | target | measured |")
    lines.append("|---|---|---|")
    single = summary.get("single", {})
    batch = summary.get("batch", {})
    lines.append(
        f"| collector / bare handler, single events (closed loop, highest collector rate: {single.get('load', 'n/a')}) "
        f"| ≥ {RATIO_TARGET} | {fmt(single.get('ratio'), 2)} |"
    )
    lines.append(
        f"| same load, bare handler's CPU per request / collector's (the ratio if both were bound by one core) "
        f"| ≥ {RATIO_TARGET} | {fmt(single.get('cpu_ratio'), 2)} |"
    )
    lines.append(
        f"| events per collector CPU-second, 20-event batches ({batch.get('load', 'n/a')}) "
        f"| ≥ {EVENTS_PER_CPU_S_TARGET:,} | {fmt(batch.get('events_per_cpu_s'))} |"
    )
    lines.append(
        f"| collector peak RSS over the whole run (VmHWM) | < {RSS_TARGET_MB} MB | {fmt(summary.get('peak_rss_mb'), 1)} MB |"
    )
    enricher = next((d for d in drains if d["label"] == "enricher"), None)
    if enricher:
        lines.append(
            f"| enricher events per enricher CPU-second, draining {enricher['items_measured']:,} raw events "
            f"(events/s at {fmt(enricher['cpu_cores'], 2)} cores: {fmt(enricher['items_per_s'])}) "
            f"| ≥ {ENRICHER_TARGET:,} | {fmt(enricher['items_per_cpu_s'])} |"
        )
        summary["enricher_events_per_cpu_s"] = enricher["items_per_cpu_s"]
    for sink in (d for d in drains if d["label"].startswith("sink") and not d["label"].endswith(" cluster")):
        lines.append(
            f"| sink rows/s into ClickHouse, {sink['label'].removeprefix('sink ')} rows "
            f"({fmt(sink['items_measured'])} rows) | ≥ {SINK_TARGET:,} | {fmt(sink['items_per_s'])} |"
        )
        summary[sink["label"]] = sink["items_per_s"]
    for run in pipeline:
        arrival = run["arrival"]
        lines.append(
            f"| tag → ClickHouse latency p50 / p99 ({run['label']}) | p99 < {LATENCY_P99_TARGET_MS / 1000:g} s "
            f"| {fmt(arrival['p50_ms'])} / {fmt(arrival['p99_ms'])} ms |"
        )
        summary["latency_p99_ms"] = arrival["p99_ms"]
    for run in (r for r in runs if r.get("kind") == "freshness"):
        lines.append(
            f"| event accepted → profile readable p95 / p99 ({run['label']}, {run['profiles']:,} profile records) "
            f"| ≤ 1,000 / 2,000 ms | {fmt(run['p95_ms'])} / {fmt(run['p99_ms'])} ms |"
        )
        summary["profile_freshness_p95_ms"] = run["p95_ms"]
        summary["profile_freshness_p99_ms"] = run["p99_ms"]
    if args.tag_gzip_bytes:
        lines.append(
            f"| tag size, js-tag/dist/fiducia.min.js, gzip -9 | ≤ {TAG_GZIP_TARGET:,} B | {int(args.tag_gzip_bytes):,} B |"
        )
    table = "\n".join(lines) + "\n"

    with open(args.out + ".md", "w", encoding="utf-8") as f:
        f.write(table)
    meta = {k: getattr(args, k.replace("-", "_")) for k in ("date", "commit", "machine", "pinning", "broker", "load", "duration", "warmup")}
    meta["tag_gzip_bytes"] = int(args.tag_gzip_bytes) if args.tag_gzip_bytes else None
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "summary": summary, "runs": runs}, f, indent=1)
    sys.stdout.write(table)


def drain_table(drains, prefill):
    """Scenarios (c) and (d): a consumer draining a backlog."""
    if not drains:
        return []
    lines = [""]
    if prefill:
        fill = prefill[0]
        lines.append(
            f"Raw topic pre-filled through the collector: {fill['events_accepted']:,} events "
            f"({fmt(fill['events_per_s'])} events/s sent, 20-event batches, 64 connections)."
        )
        lines.append("")
    lines += [
        "| drain | items | seconds | items/s | CPU (cores) | items per CPU-s | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in drains:
        lines.append(
            f"| {d['label']}{' (timed out)' if d['timed_out'] else ''} | {d['items_measured']:,} "
            f"| {d['seconds']:.2f} | {fmt(d['items_per_s'])} | {fmt(d['cpu_cores'], 2)} "
            f"| {fmt(d['items_per_cpu_s'])} | {fmt(d['vm_hwm_mb'], 1)} |"
        )
    return lines


def in_use(label, name):
    """Whether a sink drain labelled label used ClickHouse process name (the
    cluster's servers and ZooKeeper for the cluster, the single server else)."""
    return (name != "clickhouse") == label.endswith(" cluster")


def clickhouse_table(costs):
    """Scenario (d), the ClickHouse side (clickhouse_cost.py): per process
    the drain used, its CPU less its idle cost (the rate of the same process
    in a drain that did not use it, over this window), per table the parts
    made by inserts, fetched from the replica and merged."""
    if not costs:
        return []
    idle = {}  # process name → CPU seconds per second while not in use
    for run in costs:
        for s in run["servers"]:
            if not in_use(run["label"], s["name"]):
                idle.setdefault(s["name"], []).append(s["cpu_s"] / run["window_s"])

    def net_cpu_s(run, s):
        rates = idle.get(s["name"])
        return s["cpu_s"] - (sum(rates) / len(rates) * run["window_s"] if rates else 0.0)

    lines = [
        "",
        "ClickHouse side of each sink drain: CPU seconds of each process from the drain's start until "
        "the database's replication queue and merges were empty (window), less the same process's idle "
        "rate (measured in the drains that did not use it) over that window; parts from "
        "`system.part_log`: made by inserts, fetched from the other replica, merged; bytes per row of "
        "the active parts after the merges.",
        "",
        "| drain | process | window s | events rows on it | CPU-s | idle CPU-s | CPU-s per M rows on it "
        "| events inserts / fetches / merges → parts left | events inserts per s | rows per insert | all tables' inserts per s "
        "| events bytes per row | RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in costs:
        total = 0.0
        for s in (s for s in run["servers"] if in_use(run["label"], s["name"])):
            net = net_cpu_s(run, s)
            idle_s = s["cpu_s"] - net
            total += net
            events = s["tables"].get("events")
            if events is None:
                lines.append(
                    f"| {run['label']} | {s['name']} | {run['window_s']:.1f} | | {s['cpu_s']:.2f} | {idle_s:.2f} "
                    f"| {fmt(net * 1e6 / run['rows'], 2)} (per M rows inserted) | | | | | | {fmt(s['rss_mb'], 0)} |"
                )
                continue
            all_inserts = sum(t["new_parts"] for t in s["tables"].values())
            lines.append(
                f"| {run['label']} | {s['name']} | {run['window_s']:.1f} | {events['rows']:,} | {s['cpu_s']:.2f} "
                f"| {idle_s:.2f} | {fmt(net * 1e6 / events['rows'], 2) if events['rows'] else 'n/a'} "
                f"| {events['new_parts']} / {events['fetched_parts']} / {events['merges']} → {events['parts']} "
                f"| {events['new_parts'] / run['seconds']:.1f} "
                f"| {fmt(events['new_rows'] / events['new_parts']) if events['new_parts'] else 'n/a'} "
                f"| {all_inserts / run['seconds']:.1f} "
                f"| {fmt(events['bytes'] / events['rows'], 1) if events['rows'] else 'n/a'} "
                f"| {fmt(s['rss_mb'], 0)} |"
            )
        lines.append(
            f"| {run['label']} | all | | {run['rows']:,} inserted | | | {fmt(total * 1e6 / run['rows'], 2)} "
            f"(per M rows inserted) | | | | | | |"
        )
    return lines + part_cost_fit(costs, net_cpu_s)


def part_cost_fit(costs, net_cpu_s):
    """Per server, CPU = a × rows + b × parts solved from two drains of the
    same target at different batch sizes (parts: its `events` parts
    inserted or fetched): the cost of a row and of a part, and the part
    size from which a part's fixed cost is a fifth of its total (4b/a)."""
    points = {}  # (process, cluster or not) → [(rows, parts, net CPU-s)]
    for run in costs:
        for s in run["servers"]:
            events = s["tables"].get("events")
            if in_use(run["label"], s["name"]) and events:
                points.setdefault((s["name"], run["label"].endswith(" cluster")), []).append(
                    (events["rows"], events["new_parts"] + events["fetched_parts"], net_cpu_s(run, s))
                )
    lines = []
    for (name, _), found in points.items():
        if len(found) < 2:
            continue
        (r1, p1, c1), (r2, p2, c2) = found[:2]
        det = r1 * p2 - r2 * p1
        if det == 0:
            continue
        a, b = (c1 * p2 - c2 * p1) / det, (r1 * c2 - r2 * c1) / det
        lines.append(
            f"| {name} | {a * 1e6:.2f} | {b * 1e3:.1f} | {fmt(4 * b / a) if a > 0 else 'n/a'} |"
        )
    if not lines:
        return []
    return [
        "",
        "CPU = a × rows + b × parts per process, from its first two drains (the two batch sizes):",
        "",
        "| process | a: µs per row | b: ms per part | rows per part where b is a fifth (4b/a) |",
        "|---|---|---|---|",
    ] + lines


def latency_table(pipeline):
    """Scenario (e): tag → ClickHouse latency through the whole pipeline."""
    if not pipeline:
        return []
    lines = [
        "",
        "| pipeline load | events/s sent | events tracked | seen | not seen | p50 / p90 / p99 / max ms "
        "| request p99 ms | errors | collector CPU (cores) | load generator CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in pipeline:
        a = run["arrival"]
        server = run.get("server") or {}
        lines.append(
            f"| {run['label']} | {fmt(run['events_per_s'])} | {a['events_tracked']:,} | {a['events_seen']:,} "
            f"| {a['events_not_seen']:,} | {fmt(a['p50_ms'])} / {fmt(a['p90_ms'])} / {fmt(a['p99_ms'])} / {fmt(a['max_ms'])} "
            f"| {run['latency']['p99_ms']:.2f} | {run['error_total']} | {fmt(server.get('cpu_cores'), 2)} "
            f"| {fmt(run['loadgen_cpu_cores'], 2)} |"
        )
    for run in pipeline:
        windows = run["arrival"].get("p99_by_window_ms") or []
        if len(windows) > 1:
            lines.append("")
            lines.append(
                f"p99 ms per 5 minutes of send time ({run['label']}; first and last partial): "
                + ", ".join(f"{w:,}" for w in windows)
            )
    return lines


if __name__ == "__main__":
    main()
