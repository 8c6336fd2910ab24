# shellcheck shell=bash
# benches/infra.sh: Kafka and ClickHouse for a benchmark (sourced after
# deploy/local/lib.sh, not run).
#
# The broker runs on in-memory storage (FIDUCIA_BENCH_KAFKA_STORAGE,
# default memory), not on `up`'s default PostgreSQL engine: that engine
# commits a transaction for every produce and reads every fetch back from
# PostgreSQL, and on 2026-12-08 it bounded every stage here (the raw topic
# filled at 7,544 events/s against 162,482 on memory, the enricher drained
# 4,990 events/s at 0.27 cores against 42,237 at 0.58), so a bench on it
# measures the broker's storage, not our services.

# bench_infra: `deploy/local/up --infra` with the
# broker on the bench's storage; dies when a broker of another storage is
# already running (it would be reused). Sets BROKER_STORAGE for reports.
bench_infra() {
  local want=${FIDUCIA_BENCH_KAFKA_STORAGE:-memory} running
  running=$(kafka_storage)
  if [[ -n $running && $running != external && $running != "$want" ]]; then
    die "the running broker keeps records in $running; benchmarks measure on $want storage" \
      "(benches/infra.sh says why): stop it with deploy/local/down, or set" \
      "FIDUCIA_BENCH_KAFKA_STORAGE=$running to measure on it"
  fi
  FIDUCIA_KAFKA_STORAGE=$want "$REPO/deploy/local/up" --infra || die "deploy/local/up --infra failed"
  # shellcheck disable=SC2034 # read by the scripts that source this
  BROKER_STORAGE=$(kafka_storage)
}
