#!/usr/bin/env python3
"""The sink stopped under load, seen by the real Prometheus of the local stack.

Issue 19's fault test, on the stack deploy/local/up runs (started here
unless its Prometheus answers; stopped again if started here):

1. waits for a quiet stack, then sends events through the collector
   (kept, consent-dropped and refused ones) for the whole test;
2. stops the sink (`deploy/local/down sink`: the supervisor leaves it down)
   for --outage seconds (default 120) and, meanwhile, requires the
   expression of FiduciaConsumerLagHigh (deploy/prometheus/rules) to become
   true for the sink's job in Prometheus: while the sink is down its lag is
   reported from upstream (the enricher watches the sinks' group);
3. starts it again (`deploy/local/up`), stops the traffic, and requires
   every consumer's lag to return to 0, every kept event to be in
   ClickHouse, and the loss ledger to balance exactly over the test
   (published = inserted + dead-lettered + dropped + change in flight, from
   raw samples).

Prints the figures (when the expression became true, the largest lag,
time to drain after the restart, the ledger) and exits non-zero on a
failure. About four minutes. Standard library only.
"""

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from live import ledger, local_stack, prometheus_ready, query, quiet, scalar, send_traffic, wait_for  # noqa: E402

# FiduciaConsumerLagHigh's expression (rules/fiducia.rules.yml), for the sink.
LAG_HIGH = 'fiducia:consumer_lag_seconds:max{job="fiducia-sink"} > 60'
SINK_LAG = 'max(fiducia:consumer_lag_seconds:max{job="fiducia-sink"})'
INSERTED = 'sum(fiducia_sink_rows_inserted_total{table="events"})'


def local(*args):
    subprocess.run([str(REPO / "deploy" / "local" / args[0]), *args[1:]], check=True,
                   stdout=subprocess.DEVNULL)


def run(outage):
    failures = []
    wait_for("a quiet stack (nothing published or inserted for 20 s)", quiet, 60)
    start = time.time()
    traffic = {}
    sender = threading.Thread(target=lambda: traffic.update(zip(("statuses", "kept"),
                                                               send_traffic(outage + 40))))
    sender.start()
    time.sleep(15)
    print(f"stopping the sink for {outage} s under load", flush=True)
    stopped = time.time()
    local("down", "sink")
    true_at, worst = None, 0.0
    while time.time() < stopped + outage:
        lag = scalar(SINK_LAG)
        worst = max(worst, lag or 0.0)
        if true_at is None and query(LAG_HIGH)[0]:
            true_at = time.time() - stopped
            print(f"  FiduciaConsumerLagHigh's expression true for the sink after {true_at:.0f} s"
                  f" (lag {lag:.0f} s, reported by the enricher)", flush=True)
        time.sleep(2)
    print(f"starting the sink again; the largest lag seen while it was down: {worst:.0f} s", flush=True)
    if true_at is None:
        failures.append(f"FiduciaConsumerLagHigh's expression never became true in {outage} s"
                        f" with the sink down (largest lag {worst:.0f} s)")
    restarted = time.time()
    local("up")
    sender.join()
    statuses, kept = traffic["statuses"], traffic["kept"]
    print(f"traffic: answers by status {dict(sorted(statuses.items()))}, {kept} events kept", flush=True)

    def drained():
        lag, _ = query("fiducia:consumer_lag_messages:sum > 0")
        high, _ = query(LAG_HIGH)
        return None if lag or high else True
    try:
        wait_for("every consumer's lag back to 0 and the expression false", drained, 180)
        print(f"lag back to 0 {time.time() - restarted:.0f} s after the restart", flush=True)
    except SystemExit as e:
        failures.append(str(e))
    # Two more scrapes, so the raw samples hold the last counts.
    time.sleep(11)
    terms, diff = ledger(start)
    print("loss ledger over the test: " + ", ".join(f"{k} {v:.0f}" for k, v in terms.items())
          + f"; difference {diff:.0f}")
    if diff != 0:
        failures.append(f"the loss ledger does not balance: {diff:.0f} events ({terms})")
    if terms["inserted"] < kept:
        failures.append(f"{kept} events kept, {terms['inserted']:.0f} inserted")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outage", type=int, default=120, help="seconds the sink is down (default 120)")
    ap.add_argument("--keep", action="store_true", help="leave a stack this test started running")
    args = ap.parse_args()
    with local_stack(prometheus_ready, args.keep):
        wait_for("Prometheus scraping the three services",
                 lambda: (scalar('count(up{job=~"fiducia-(collector|enricher|sink)"} == 1)') or 0) >= 3, 60)
        failures = run(args.outage)
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    passed = not failures
    print(f"{int(passed)} passed, {int(not passed)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
