#!/usr/bin/env bash
# benches/ledger-catchup.sh [SUBJECTS] [TAIL]: the end-to-end catch-up of a
# real collector's consent ledger, from the whole topic and from its
# snapshot. Writes SUBJECTS' consent records (default 1,000,000; the mix of
# fiducia-ledger) to a fresh consent topic on the broker of
# deploy/local/up --infra (started if needed), starts the release
# collector on it with a ledger snapshot path and reports how long it took
# to be ready (/readyz: the ledger holds the whole topic) and its RSS then;
# waits for its snapshot (size, write time), stops it, adds TAIL more
# subjects' records (default 10,000) and starts it again: time to ready
# from the snapshot plus that tail, load time, records read, RSS. Ports and
# state as for deploy/local/up (FIDUCIA_* variables). Needs the release
# binaries:
#   cargo build --release -p fiducia-collector -p fiducia-benches --bin fiducia-collector --bin fiducia-ledger
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../deploy/local/lib.sh"
# shellcheck source-path=SCRIPTDIR source=infra.sh
source "$(dirname "${BASH_SOURCE[0]}")/infra.sh"

SUBJECTS=${1:-1000000}
TAIL=${2:-10000}
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
PREFIX=bench.ledger.$(date +%s)
bench_infra >/dev/null

SNAPSHOT=$STATE/bench-ledger.snapshot
rm -f "$SNAPSHOT"
# run_collector [VAR=VALUE...]: the release collector on the bench's topics.
run_collector() {
  env RUST_LOG=warn FIDUCIA_KAFKA_CREATE_TOPICS=true "$@" \
    FIDUCIA_TOPIC_RAW="$PREFIX.raw.v1" FIDUCIA_TOPIC_CONSENT="$PREFIX.consent.v1" \
    FIDUCIA_TOPIC_ENRICHED="$PREFIX.enriched.v1" FIDUCIA_TOPIC_SESSIONS="$PREFIX.sessions.v1" \
    FIDUCIA_TOPIC_DEADLETTER="$PREFIX.deadletter.v1" FIDUCIA_TOPIC_PRIVACY="$PREFIX.privacy.v1" \
    FIDUCIA_TOPIC_PROFILES="$PREFIX.profiles.v1" FIDUCIA_TOPIC_ITEMS="$PREFIX.items.v1" \
    "$BIN/fiducia-collector" >>"$LOG_DIR/bench-ledger-collector.log" 2>&1 &
  COLLECTOR=$!
}

ready=http://$FIDUCIA_COLLECTOR_ADMIN_ADDR/readyz
# A first start creates the topics (retention as the collector requires).
run_collector
wait_http "$ready" 60 || { tail "$LOG_DIR/bench-ledger-collector.log"; exit 1; }
kill -TERM "$COLLECTOR"; wait "$COLLECTOR" || true

"$BIN/fiducia-ledger" --subjects "$SUBJECTS" --produce "$FIDUCIA_KAFKA_BROKERS" --topic "$PREFIX.consent.v1"

admin=http://$FIDUCIA_COLLECTOR_ADMIN_ADDR/metrics
metric() { curl -s "$admin" | awk -v name="$1" '$1 == name {print $2}'; }
snapshotting=(FIDUCIA_COLLECTOR_LEDGER_SNAPSHOT_PATH="$SNAPSHOT" FIDUCIA_COLLECTOR_LEDGER_SNAPSHOT_INTERVAL_S=5)

# start_and_time: starts the collector with a snapshot path, waits for
# /readyz; sets READY_S and RSS_BYTES.
start_and_time() {
  local started ended
  started=$(date +%s.%N)
  run_collector "${snapshotting[@]}"
  wait_http "$ready" 3600 || { tail "$LOG_DIR/bench-ledger-collector.log"; exit 1; }
  ended=$(date +%s.%N)
  READY_S=$(echo "$ended - $started" | bc)
  RSS_BYTES=$(($(awk '/^VmRSS/ {print $2}' "/proc/$COLLECTOR/status") * 1024))
}

# 1. No snapshot yet: the whole topic.
start_and_time
full_s=$READY_S full_rss=$RSS_BYTES
sleep 1.2  # the size gauges are set every second
subjects=$(metric fiducia_collector_consent_ledger_subjects)
for _ in $(seq 1 120); do
  written=$(metric 'fiducia_collector_consent_ledger_snapshot_writes_total{outcome="ok"}')
  [ -n "$written" ] && break
  sleep 1
done
[ -n "$written" ] || { echo "no snapshot written" >&2; kill -TERM "$COLLECTOR"; exit 1; }
write_s=$(metric fiducia_collector_consent_ledger_snapshot_write_duration_seconds_sum)
snapshot_bytes=$(stat -c %s "$SNAPSHOT")
written_rss=$(($(awk '/^VmRSS/ {print $2}' "/proc/$COLLECTOR/status") * 1024))
kill -TERM "$COLLECTOR"; wait "$COLLECTOR" || true

# 2. A tail of other subjects' records, then a start from the snapshot.
"$BIN/fiducia-ledger" --subjects "$TAIL" --seed 8 --produce "$FIDUCIA_KAFKA_BROKERS" --topic "$PREFIX.consent.v1"
start_and_time
started_from=$(curl -s "$admin" | awk '/^fiducia_collector_consent_ledger_starts_total/ {print $1}')
load_s=$(metric fiducia_collector_consent_ledger_snapshot_load_duration_seconds_sum)
tail_records=$(metric 'fiducia_collector_consent_ledger_records_total{outcome="applied"}')
sleep 1.2
after_subjects=$(metric fiducia_collector_consent_ledger_subjects)
kill -TERM "$COLLECTOR"; wait "$COLLECTOR" || true
rm -f "$SNAPSHOT"
printf '{"subjects":%s,"ledger_subjects":%s,"full_replay":{"ready_seconds":%.1f,"rss_bytes":%d},' \
  "$SUBJECTS" "${subjects:-null}" "$full_s" "$full_rss"
printf '"snapshot":{"bytes":%d,"write_seconds":%s,"rss_bytes_after":%d},' "$snapshot_bytes" "${write_s:-null}" "$written_rss"
printf '"from_snapshot":{"tail_subjects":%s,"tail_records":%s,"ledger_subjects":%s,"ready_seconds":%.1f,"load_seconds":%s,"rss_bytes":%d,"started":"%s"}}\n' \
  "$TAIL" "${tail_records:-null}" "${after_subjects:-null}" "$READY_S" "${load_s:-null}" "$RSS_BYTES" "${started_from//\"/\\\"}"
