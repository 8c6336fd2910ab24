#!/usr/bin/env python3
"""Where a process's resident memory is, at its peak.

Usage: benches/smaps_peak.py PID [--interval-ms 100] [--json OUT]

Samples /proc/PID/smaps every interval until the process exits (or this
script gets SIGTERM/SIGINT), keeps the sample with the largest resident set
and prints it split by what holds it, in MB:

* thread stacks: an anonymous read-write mapping right above a 4 KiB
  no-access guard page (how glibc and Rust make pthread stacks);
* glibc arenas: the read-write start of a 64 MiB-aligned, 64 MiB
  reservation (the heaps glibc's malloc gives threads other than the first:
  librdkafka's threads allocate there);
* glibc main heap: [heap];
* other anonymous: every other anonymous mapping (mimalloc's arenas and
  segments, the services' Rust allocations, and glibc's mmapped chunks);
* files: the binary, libraries and other file-backed mappings.

Also the thread count (/proc/PID/status) of that sample. Used by
benches/sink_ab beside each drain (benches/README.md, "Sink memory").
"""

import argparse
import json
import re
import signal
import sys
import time

ARENA = 64 << 20
HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s*(.*)$")


def mappings(pid):
    """(start, end, perms, inode, name, rss_kb) of each mapping."""
    out = []
    with open(f"/proc/{pid}/smaps") as smaps:
        current = None
        for line in smaps:
            header = HEADER.match(line)
            if header:
                start, end, perms, inode, name = header.groups()
                current = [int(start, 16), int(end, 16), perms, int(inode), name.strip(), 0]
                out.append(current)
            elif line.startswith("Rss:") and current is not None:
                current[5] = int(line.split()[1])
    return out


def classify(maps):
    """Resident KiB per kind."""
    kinds = {"thread stacks": 0, "glibc arenas": 0, "glibc main heap": 0, "other anonymous": 0, "files": 0}
    for i, (start, end, perms, inode, name, rss) in enumerate(maps):
        before = maps[i - 1] if i else None
        after = maps[i + 1] if i + 1 < len(maps) else None
        if name == "[heap]":
            kind = "glibc main heap"
        elif inode or (name and not name.startswith("[")):
            kind = "files"
        elif name:  # [stack], [vdso], [vvar], ...
            kind = "thread stacks" if name == "[stack]" else "files"
        elif (
            perms.startswith("rw")
            and before is not None
            and before[1] == start
            and before[2].startswith("---")
            and before[1] - before[0] == 4096
            and not before[4]
        ):
            kind = "thread stacks"
        elif (
            perms.startswith("rw")
            and start % ARENA == 0
            and after is not None
            and after[0] == end
            and after[2].startswith("---")
            and after[1] == start + ARENA
        ):
            kind = "glibc arenas"
        else:
            kind = "other anonymous"
        kinds[kind] += rss
    return kinds


def threads(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pid", type=int)
    parser.add_argument("--interval-ms", type=float, default=100)
    parser.add_argument("--json")
    args = parser.parse_args()
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    peak = None
    while not stop:
        try:
            kinds = classify(mappings(args.pid))
            count = threads(args.pid)
        except (FileNotFoundError, ProcessLookupError):
            break
        total = sum(kinds.values())
        if peak is None or total > peak[0]:
            peak = (total, kinds, count)
        time.sleep(args.interval_ms / 1000)
    if peak is None:
        sys.exit(f"no sample of pid {args.pid}")
    total, kinds, count = peak
    report = {"rss_mb": round(total / 1024, 1), "threads": count}
    report.update({kind: round(kb / 1024, 1) for kind, kb in kinds.items()})
    print(" ".join(f"{k}={v}" for k, v in report.items()), file=sys.stderr)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out)


if __name__ == "__main__":
    main()
