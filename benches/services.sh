# shellcheck shell=bash
# benches/services.sh: starts and stops the services under test for
# benches/run (sourced, not run). Each service runs the release binary on
# the server core, with its own addresses and with every topic named from
# a prefix (PREFIX.raw.v1, PREFIX.consent.v1, ...), so a bench never reads
# or writes a running stack's topics and each scenario starts from empty
# topics. Also fills a topic of enriched events for the sink's drains.
# Needs BIN, LOG_DIR, LOCAL_DIR, PIN_SERVER, PIN_LOADGEN, RAW (the file
# the JSON lines of every measurement are appended to), PREFILL and the
# bench addresses from benches/run (or benches/sink_ab).

# topics_env PREFIX: the FIDUCIA_TOPIC_* assignments for PREFIX, in TOPIC_ENV.
topics_env() {
  local p=$1
  TOPIC_ENV=(
    FIDUCIA_TOPIC_RAW="$p.raw.v1" FIDUCIA_TOPIC_CONSENT="$p.consent.v1"
    FIDUCIA_TOPIC_ENRICHED="$p.enriched.v1" FIDUCIA_TOPIC_SESSIONS="$p.sessions.v1"
    FIDUCIA_TOPIC_DEADLETTER="$p.deadletter.v1" FIDUCIA_TOPIC_PRIVACY="$p.privacy.v1"
    FIDUCIA_TOPIC_PROFILES="$p.profiles.v1" FIDUCIA_TOPIC_ITEMS="$p.items.v1"
    FIDUCIA_KAFKA_CREATE_TOPICS=true
  )
}

# await_ready NAME ADMIN_ADDR: waits for /readyz, or shows the log and dies.
# A sink migrating the local cluster (83 statements ON CLUSTER) takes 20-60
# s, and 180 s more when 18.16 stalls an ALTER of a replicated table (both
# replicas of a shard took the task: "Node exists ... /executed" in one
# server's log; the sink retries after distributed_ddl_task_timeout).
await_ready() {
  if ! wait_http "http://$2/readyz" 420; then
    tail -n 30 "$LOG_DIR/bench-$1.log" >&2
    die "the $1 under test is not ready at http://$2/readyz"
  fi
}

# launch NAME ADMIN_ADDR PREFIX ENV...: the release fiducia-NAME (or the
# binary SERVICE_BIN names) on the server core with PREFIX's topics and
# the ENV assignments, its log in LOG_DIR/bench-NAME.log; its pid in
# LAUNCHED_PID once /readyz answers.
launch() {
  local name=$1 admin=$2
  topics_env "$3"
  shift 3
  "${PIN_SERVER[@]}" env RUST_LOG=warn "${TOPIC_ENV[@]}" "$@" \
    FIDUCIA_"${name^^}"_ADMIN_ADDR="$admin" \
    "${SERVICE_BIN:-$BIN/fiducia-$name}" >>"$LOG_DIR/bench-$name.log" 2>&1 &
  LAUNCHED_PID=$!
  PIDS+=("$LAUNCHED_PID")
  await_ready "$name" "$admin"
}

# start_collector PREFIX: the collector under test in COLLECTOR_PID, rate
# limits out of the way (one client IP sends everything), Kafka as
# deploy/local/up configures it.
start_collector() {
  launch collector "$COLLECTOR_ADMIN" "$1" \
    FIDUCIA_COLLECTOR_LISTEN_ADDR="$COLLECTOR_ADDR" \
    FIDUCIA_COLLECTOR_RATE_PER_IP_PER_SECOND=100000000 \
    FIDUCIA_COLLECTOR_RATE_BURST=100000000
  COLLECTOR_PID=$LAUNCHED_PID
}

# start_enricher PREFIX GROUP: the enricher in ENRICHER_PID, reading
# PREFIX.raw.v1 from the beginning in its own consumer group, with the
# local sites file (FIDUCIA_SITES_FILE, from deploy/local/lib.sh).
start_enricher() {
  launch enricher "$ENRICHER_ADMIN" "$1" \
    FIDUCIA_ENRICHER_GROUP_ID="$2"
  ENRICHER_PID=$LAUNCHED_PID
}

# start_sink PREFIX GROUP DATABASE [MAX_ROWS [ENV...]]: the sink in SINK_PID,
# reading PREFIX.enriched.v1 from the beginning into DATABASE (created
# and migrated by the sink). MAX_ROWS empty or unset keeps the default
# batching; the ENV assignments come last (another ClickHouse, cluster mode).
start_sink() {
  local batch=()
  [[ -z ${4:-} ]] || batch=(FIDUCIA_SINK_BATCH_MAX_ROWS="$4" FIDUCIA_SINK_BATCH_MAX_BYTES=$((1 << 30)))
  launch sink "$SINK_ADMIN" "$1" "${batch[@]}" \
    FIDUCIA_SINK_GROUP_ID="$2" \
    FIDUCIA_CLICKHOUSE_DATABASE="$3" "${@:5}"
  SINK_PID=$LAUNCHED_PID
}

# stop_service PID: SIGTERM (a graceful drain) and wait for it to exit.
stop_service() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# clickhouse SQL [URL]: runs one statement on the local ClickHouse (or URL's).
clickhouse() {
  curl -sS --fail-with-body --data-binary "$1" "${2:-$FIDUCIA_CLICKHOUSE_URL}/"
}

# drain LABEL PID TARGET ARGS...: fiducia-drain's JSON appended to RAW.
drain() {
  local label=$1 pid=$2 target=$3
  shift 3
  "$BIN/fiducia-drain" --label "$label" --pid "$pid" --target "$target" "$@" >>"$RAW" ||
    die "$label did not drain $target items"
}

json_field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# metric ADDR NAME: the sum of a counter's series at a service's /metrics.
metric() {
  curl -sS "http://$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%d", s}'
}

# fill_raw PREFIX: fills PREFIX.raw.v1 through the collector (20-event
# batches at 64 connections for PREFILL seconds, every event with an id of
# its own, as in real traffic) and stops it. Leaves RAW_EVENTS, the events
# it accepted.
fill_raw() {
  start_collector "$1"
  local line
  line=$("${PIN_LOADGEN[@]}" "$BIN/fiducia-loadgen" --url "http://$COLLECTOR_ADDR/v1/events" \
    --label "prefill raw topic" --mode closed --connections 64 --batch 20 \
    --duration-s "$PREFILL" --warmup-s 0 --fresh-ids)
  echo "$line" >>"$RAW"
  stop_service "$COLLECTOR_PID"
  RAW_EVENTS=$(json_field "$line" events_accepted)
}

# fill_enriched PREFIX: fill_raw, then times the enricher reading all of
# it from the beginning. Leaves ENRICHED_EVENTS on PREFIX.enriched.v1.
fill_enriched() {
  fill_raw "$1"
  local events=$RAW_EVENTS
  log "raw topic $1.raw.v1 holds $events events; draining it with the enricher"
  start_enricher "$1" "fiducia-bench-enricher-${1##*-}"
  drain "enricher" "$ENRICHER_PID" "$events" \
    --metrics-url "http://$ENRICHER_ADMIN/metrics" --metric fiducia_enricher_kafka_messages_consumed_total
  sleep 1  # the last batch's produce acknowledgements
  ENRICHED_EVENTS=$(metric "$ENRICHER_ADMIN" fiducia_enricher_events_enriched_total)
  stop_service "$ENRICHER_PID"
  log "the enricher wrote $ENRICHED_EVENTS events to $1.enriched.v1"
}
