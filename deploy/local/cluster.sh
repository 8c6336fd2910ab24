# shellcheck shell=bash disable=SC2034 # variables are used by the sourcing scripts
# The local ClickHouse cluster (`up clickhouse-cluster`, `down
# clickhouse-cluster`): 2 shards x 2 replicas of Debian's clickhouse-server,
# four processes with their own config, ports and data directory under
# $FIDUCIA_STATE_DIR/clickhouse-cluster/, coordinated by one standalone
# ZooKeeper (Debian's package) under $FIDUCIA_STATE_DIR/zookeeper/. Sourced
# after lib.sh; started only when asked for, never by a plain `up`.

# The name in remote_servers: what FIDUCIA_SINK_CLICKHOUSE_CLUSTER names.
CLUSTER_NAME=fiducia
# Server n (1-4, in the order of CLUSTER_NODES) listens on
# BASE+10n (HTTP), BASE+10n+1 (native TCP) and BASE+10n+2 (replication).
FIDUCIA_CLICKHOUSE_CLUSTER_PORT_BASE=${FIDUCIA_CLICKHOUSE_CLUSTER_PORT_BASE:-22600}
FIDUCIA_ZOOKEEPER_PORT=${FIDUCIA_ZOOKEEPER_PORT:-22681}
# Shard s replica r is the component clickhouse-s<s>r<r>.
CLUSTER_NODES=(s1r1 s1r2 s2r1 s2r2)
ZOOKEEPER_CLASSPATH=/etc/zookeeper/conf:/usr/share/java/zookeeper.jar
# The JVM's default heap is a quarter of the machine: a test ZooKeeper needs little.
FIDUCIA_ZOOKEEPER_HEAP=${FIDUCIA_ZOOKEEPER_HEAP:-128m}

# cluster_port NODE KIND: KIND is http, tcp or interserver.
cluster_port() {
  local i offset
  for i in "${!CLUSTER_NODES[@]}"; do
    [[ ${CLUSTER_NODES[$i]} == "$1" ]] && break
  done
  case $2 in http) offset=0 ;; tcp) offset=1 ;; interserver) offset=2 ;; esac
  echo $((FIDUCIA_CLICKHOUSE_CLUSTER_PORT_BASE + 10 * (i + 1) + offset))
}

cluster_url() { echo "http://127.0.0.1:$(cluster_port "$1" http)"; }

start_zookeeper() {
  local dir=$STATE/zookeeper
  if is_running zookeeper; then
    log "zookeeper already running"
  else
    [[ -r /usr/share/java/zookeeper.jar ]] || die "no ZooKeeper (deploy/local/install clickhouse-cluster installs Debian's)"
    port_free zookeeper "$FIDUCIA_ZOOKEEPER_PORT"
    mkdir -p "$dir/data" "$LOG_DIR"
    render "$LOCAL_DIR/zookeeper/zoo.cfg.in" "$dir/zoo.cfg" DATA_DIR="$dir/data" PORT="$FIDUCIA_ZOOKEEPER_PORT"
    start_bg zookeeper java "-Xmx$FIDUCIA_ZOOKEEPER_HEAP" -XX:+UseSerialGC \
      -Dzookeeper.root.logger=INFO,CONSOLE -Dzookeeper.log.dir="$LOG_DIR" \
      -cp "$ZOOKEEPER_CLASSPATH" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg"
  fi
  local deadline=$((SECONDS + 60))
  until [[ $(zookeeper_ask ruok) == imok ]]; do
    if ! is_running zookeeper || ((SECONDS >= deadline)); then
      show_log_tail zookeeper
      die "zookeeper did not answer on 127.0.0.1:$FIDUCIA_ZOOKEEPER_PORT"
    fi
    sleep 0.2
  done
}

# zookeeper_ask WORD: ZooKeeper's answer to a four-letter command.
zookeeper_ask() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf %s "$1" >&3 && cat <&3' \
    "$FIDUCIA_ZOOKEEPER_PORT" "$1" 2>/dev/null || true
}

# start_cluster_node NODE: one server, its config rendered on each start
# (config.xml.in plus config.d/cluster.xml with remote_servers and macros).
start_cluster_node() {
  local node=$1 name=clickhouse-$1 dir=$STATE/clickhouse-cluster/$1
  if is_running "$name"; then
    log "$name already running"
    return 0
  fi
  local http tcp interserver f
  http=$(cluster_port "$node" http) tcp=$(cluster_port "$node" tcp) interserver=$(cluster_port "$node" interserver)
  port_free "$name" "$http"
  port_free "$name" "$tcp"
  port_free "$name" "$interserver"
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas,config.d} "$LOG_DIR/$name"
  for f in config users; do
    render "$LOCAL_DIR/clickhouse/$f.xml.in" "$dir/$f.xml" \
      DATA_DIR="$dir" LOG_DIR="$LOG_DIR/$name" HTTP_PORT="$http" TCP_PORT="$tcp" INTERSERVER_PORT="$interserver"
  done
  render "$LOCAL_DIR/clickhouse/cluster.xml.in" "$dir/config.d/cluster.xml" \
    CLUSTER="$CLUSTER_NAME" ZOOKEEPER_PORT="$FIDUCIA_ZOOKEEPER_PORT" \
    SHARD="${node:1:1}" REPLICA="$node" \
    S1R1_TCP="$(cluster_port s1r1 tcp)" S1R2_TCP="$(cluster_port s1r2 tcp)" \
    S2R1_TCP="$(cluster_port s2r1 tcp)" S2R2_TCP="$(cluster_port s2r2 tcp)"
  start_bg "$name" "$CLICKHOUSE_SERVER" --config-file="$dir/config.xml"
}

wait_cluster_node() {
  local name=clickhouse-$1
  if ! wait_http "$(cluster_url "$1")/ping" 60 "$name"; then
    show_log_tail "$name"
    die "$name did not answer $(cluster_url "$1")/ping"
  fi
}

start_clickhouse_cluster() {
  local node
  start_zookeeper
  for node in "${CLUSTER_NODES[@]}"; do start_cluster_node "$node"; done
  for node in "${CLUSTER_NODES[@]}"; do wait_cluster_node "$node"; done
}

# Servers first, so none is left waiting on a ZooKeeper that is gone.
stop_clickhouse_cluster() {
  local node
  for node in "${CLUSTER_NODES[@]}"; do stop "clickhouse-$node"; done
  stop zookeeper
}

# One status line per server and one for ZooKeeper (see status).
cluster_status() {
  local node url ok
  for node in "${CLUSTER_NODES[@]}"; do
    # $? taken before line's arguments: a $(...) among them would reset it.
    url=$(cluster_url "$node") ok=0
    [[ $(curl -s --max-time 2 "$url/ping" 2>/dev/null) == Ok* ]] || ok=$?
    line "clickhouse-$node" "$url" "$ok"
  done
  [[ $(zookeeper_ask ruok) == imok ]]
  line zookeeper "tcp://127.0.0.1:$FIDUCIA_ZOOKEEPER_PORT" $?
}
