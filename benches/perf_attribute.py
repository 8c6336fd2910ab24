#!/usr/bin/env python3
"""Where a collector's CPU goes per request, from a perf profile.

    perf record -F 999 --call-graph dwarf,16384 -p <collector> -o perf.data -- sleep 6
    perf script -i perf.data -F comm,ip,sym | benches/perf_attribute.py REQUESTS_PER_S CPU_CORES

(benches/collector_ab --perf does both.) Each sample goes to one part: its
thread first (librdkafka's threads, the delivery polling thread), then, on
an actix worker, the kernel's send and receive of the HTTP exchange, then
the innermost frame of its stack that names a part of the request path
(allocation, metrics, JSON parse, consent, ...); what names none is actix,
tokio and HTTP. Parts are shown in microseconds per request: the share of
samples times the CPU the collector used per request. Generic arguments are
left out of frame names, so `Foo<KafkaPublisher>::poll` counts as actix,
not as the publisher.
"""

import collections
import re
import sys

# (part, pattern of a frame), innermost frame first, in this order per frame.
PARTS = [
    ("allocation", r"^(_?mi_|malloc|free|_int_free|_int_malloc|realloc|cfree|__libc_malloc|__libc_free|__rust_alloc|__rust_dealloc|__rdl)"),
    ("metrics", r"metrics(_util|_exporter_prometheus)?::|quanta::"),
    ("tracing", r"^tracing|tracing_subscriber|tracing_core"),
    ("Kafka enqueue", r"rd_kafka|ResilientProducer|send::enqueue|ThreadedProducer|BaseProducer"),
    ("Kafka acknowledgement wait", r"ack::Pending|join_all|oneshot"),
    ("JSON parse", r"serde_json|envelope::parse|envelope::object"),
    ("validate", r"validate"),
    ("consent", r"accept::gate|consent::|resolve|decision"),
    ("accept + protobuf", r"accept::|prost::|encode_to_vec|strip::"),
    ("privacy (visitor ids)", r"privacy::"),
    ("rate limit, client IP", r"rate_limit|governor|client_ip"),
    ("body read", r"body::read|body::collect|Payload"),
    ("intake, other", r"routes::intake"),
    ("handler and publish futures", r"routes::events|routes::cors|publish::kafka"),
    ("observe middleware", r"routes::observe|match_pattern|ResourceMap"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in PARTS]
SYSCALL_PARTS = [
    ("kernel: send", ("sys_sendto", "tcp_sendmsg", "__libc_send")),
    ("kernel: receive", ("sys_recvfrom", "tcp_recvmsg", "__libc_recv")),
    ("kernel: epoll", ("epoll_wait", "sys_epoll")),
]


def strip_generics(symbol):
    """`a::b<T>::c` → `a::b::c`; a leading `<A as B>` is kept."""
    out, depth = [], 0
    for ch in symbol:
        if depth == 0 and ch == "<" and out and (out[-1].isalnum() or out[-1] in "_}:"):
            depth = 1
        elif depth:
            depth += 1 if ch == "<" else -1 if ch == ">" else 0
        else:
            out.append(ch)
    return "".join(out)


def part(comm, stack):
    if comm.startswith("rdk:"):
        return "librdkafka threads"
    if comm.startswith("producer"):
        return "delivery polling thread"
    if not comm.startswith("actix-server"):
        return f"other threads ({comm})"
    for name, markers in SYSCALL_PARTS:
        if any(m in frame for frame in stack for m in markers):
            return name
    in_kernel = any(k in frame for frame in stack for k in ("entry_SYSCALL", "asm_exc_page_fault", "asm_sysvec", "asm_common_interrupt"))
    for frame in stack:
        for name, pattern in COMPILED:
            if pattern.search(frame):
                return f"kernel, for: {name}" if in_kernel else name
    return "kernel, other" if in_kernel else "actix, tokio, HTTP"


def samples(lines):
    comm, stack = None, []
    for line in lines:
        if not line.strip():
            if comm is not None:
                yield comm, stack
            comm, stack = None, []
        elif line[0] in " \t":
            fields = line.strip().split(None, 1)
            stack.append(strip_generics(fields[-1]))
        else:
            comm = line.strip()
    if comm is not None:
        yield comm, stack


def main():
    requests_per_s, cpu_cores = float(sys.argv[1]), float(sys.argv[2])
    counts = collections.Counter(part(comm, stack) for comm, stack in samples(sys.stdin))
    total = sum(counts.values())
    per_request = 1e6 * cpu_cores / requests_per_s
    print(f"{total} samples; {per_request:.2f} µs of collector CPU per request")
    for name, n in counts.most_common():
        print(f"  {name:34s} {100 * n / total:5.1f}%  {per_request * n / total:5.2f} µs")


if __name__ == "__main__":
    main()
