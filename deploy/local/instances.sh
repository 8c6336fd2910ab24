# shellcheck shell=bash disable=SC2034 # variables are used by the sourcing scripts
# Several instances of every service (SPEC section 13): sourced by lib.sh.
#
# `FIDUCIA_INSTANCES=N deploy/local/up` (or `up --scale N`) runs N
# collectors behind Debian's nginx, N enrichers and N sinks in their
# consumer groups. Instance 1 keeps the plain names (collector, enricher,
# sink: the single-instance stack is unchanged); instance i > 1 is
# `<service>-<i>`, with its own log, pid file and admin port. Ports of
# instance i are the instance-1 port plus (i - 1) * FIDUCIA_INSTANCE_PORT_STEP.
# With N > 1 nginx takes the collector's public address
# (FIDUCIA_COLLECTOR_LISTEN_ADDR, what the tag and the demo use) and
# collector i listens on that port plus i * FIDUCIA_INSTANCE_PORT_STEP.
#
# The count `up` used is kept in $STATE/instances, so `down`, `status` and
# `supervise` see the same instances without being told again.

FIDUCIA_INSTANCE_PORT_STEP=${FIDUCIA_INSTANCE_PORT_STEP:-1000}
if [[ -z ${FIDUCIA_INSTANCES:-} && -s $STATE/instances ]]; then
  FIDUCIA_INSTANCES=$(<"$STATE/instances")
fi
FIDUCIA_INSTANCES=${FIDUCIA_INSTANCES:-1}
[[ $FIDUCIA_INSTANCES =~ ^[1-9]$ ]] ||
  { echo "fiducia-local: FIDUCIA_INSTANCES must be 1 to 9, not '$FIDUCIA_INSTANCES'" >&2; exit 2; }

# nginx (component "nginx", only with several instances): its config is
# rendered into $STATE/nginx on each start.
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)

# Names of the instances of service $1, one a line.
instances_of() {
  local i
  echo "$1"
  for ((i = 2; i <= FIDUCIA_INSTANCES; i++)); do echo "$1-$i"; done
}

# The number of instance NAME (collector-2 → 2, collector → 1).
instance_number() {
  if [[ $1 == *-[0-9] ]]; then echo "${1##*-}"; else echo 1; fi
}

# shift_port ADDR N: ADDR (host:port) with the port moved N steps.
shift_port() {
  echo "${1%:*}:$((${1##*:} + $2 * FIDUCIA_INSTANCE_PORT_STEP))"
}

# Where collector instance NAME listens for the public API: its own port
# behind nginx with several instances, the public address otherwise.
collector_listen_addr() {
  if ((FIDUCIA_INSTANCES > 1)); then
    shift_port "$FIDUCIA_COLLECTOR_LISTEN_ADDR" "$(instance_number "$1")"
  else
    echo "$FIDUCIA_COLLECTOR_LISTEN_ADDR"
  fi
}

# Stop order with the instances: every service's instances where the
# service stands, and nginx before the collectors (edge first).
expand_components() {
  local c expanded=()
  for c in "${COMPONENTS[@]}"; do
    case $c in
      collector)
        if ((FIDUCIA_INSTANCES > 1)); then expanded+=(nginx); fi
        mapfile -t -O "${#expanded[@]}" expanded < <(instances_of "$c") ;;
      enricher | sink) mapfile -t -O "${#expanded[@]}" expanded < <(instances_of "$c") ;;
      *) expanded+=("$c") ;;
    esac
  done
  COMPONENTS=("${expanded[@]}")
}
expand_components
