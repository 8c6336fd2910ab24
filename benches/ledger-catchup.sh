#!/usr/bin/env bash
# benches/ledger-catchup.sh [SUBJECTS]: the end-to-end catch-up of a real
# collector's consent ledger. Writes SUBJECTS' consent records (default
# 1,000,000; the mix of fiducia-ledger) to a fresh consent topic on the
# broker of deploy/local/up --infra (started if needed), starts the release
# collector on it and reports how long it took to be ready (/readyz: the
# ledger holds the whole topic) and its RSS then. Ports and state as for
# deploy/local/up (FIDUCIA_* variables). Needs the release binaries:
#   cargo build --release -p fiducia-collector -p fiducia-benches --bin fiducia-collector --bin fiducia-ledger
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../deploy/local/lib.sh"

SUBJECTS=${1:-1000000}
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
PREFIX=bench.ledger.$(date +%s)
"$REPO/deploy/local/up" --infra >/dev/null

run_collector() {
  env RUST_LOG=warn FIDUCIA_KAFKA_CREATE_TOPICS=true \
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

started=$(date +%s.%N)
run_collector
wait_http "$ready" 3600 || { tail "$LOG_DIR/bench-ledger-collector.log"; exit 1; }
ended=$(date +%s.%N)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$COLLECTOR/status")
subjects=$(curl -s "http://$FIDUCIA_COLLECTOR_ADMIN_ADDR/metrics" | awk '/^fiducia_collector_consent_ledger_subjects / {print $2}')
kill -TERM "$COLLECTOR"; wait "$COLLECTOR" || true
printf '{"subjects":%s,"ledger_subjects":%s,"ready_seconds":%.1f,"rss_bytes":%d}\n' \
  "$SUBJECTS" "${subjects:-null}" "$(echo "$ended - $started" | bc)" "$((rss_kb * 1024))"
