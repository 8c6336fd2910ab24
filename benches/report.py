#!/usr/bin/env python3
"""Turns the load generator's JSON lines (one per run) into the results
table of benches/README.md: OUT.md (markdown) and OUT.json (every run's raw
figures plus the conditions). Runs come in pairs, "bare NAME" then
"collector NAME", so each collector figure has its baseline from the same
run. Called by benches/run; standard library only."""

import argparse
import json
import sys

# SPEC section 12.
RATIO_TARGET = 0.8
EVENTS_PER_CPU_S_TARGET = 150_000
RSS_TARGET_MB = 50
TAG_GZIP_TARGET = 3_000


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
    for name in ("date", "commit", "machine", "pinning", "load", "duration", "warmup", "tag-gzip-bytes"):
        parser.add_argument(f"--{name}", default="")
    args = parser.parse_args()

    runs = [json.loads(line) for line in open(args.raw, encoding="utf-8") if line.strip()]
    by_label = {run["label"]: run for run in runs}
    pairs = []
    for run in runs:
        kind, _, name = run["label"].partition(" ")
        if kind == "collector" and f"bare {name}" in by_label:
            pairs.append((name, by_label[f"bare {name}"], run))

    lines = [
        f"Run {args.date}, commit {args.commit}.",
        f"Machine: {args.machine}. Pinning: {args.pinning}.",
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
    if args.tag_gzip_bytes:
        lines.append(
            f"| tag size, js-tag/dist/fiducia.min.js, gzip -9 | ≤ {TAG_GZIP_TARGET:,} B | {int(args.tag_gzip_bytes):,} B |"
        )
    table = "\n".join(lines) + "\n"

    with open(args.out + ".md", "w", encoding="utf-8") as f:
        f.write(table)
    meta = {k: getattr(args, k.replace("-", "_")) for k in ("date", "commit", "machine", "pinning", "load", "duration", "warmup")}
    meta["tag_gzip_bytes"] = int(args.tag_gzip_bytes) if args.tag_gzip_bytes else None
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "summary": summary, "runs": runs}, f, indent=1)
    sys.stdout.write(table)


if __name__ == "__main__":
    main()
