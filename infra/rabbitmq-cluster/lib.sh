# Shared by up.sh, down.sh and node.sh: where each node of the local cluster lives and how
# to reach it. Every path, port, name and the Erlang cookie are this cluster's own, so it
# runs beside a system RabbitMQ (rabbit@<host> on 5672) without touching it.
#
#   RMQ_PREFIX     node names <prefix><i>@localhost          (default lazarus)
#   RMQ_BASE       data, logs, config and cookie             (default /tmp/lazarus-rmq)
#   RMQ_PORT_BASE  node i listens for AMQP on RMQ_PORT_BASE+i, for Erlang distribution
#                  on RMQ_PORT_BASE+i+20000                   (default 5680: 5681, 5682, ...)
#   RMQ_DEFINITIONS  topology definitions loaded at boot, with the users up.sh makes
#                                                             (default infra/rabbitmq/definitions.json)
#   RMQ_BOOT_TIMEOUT seconds a node may take to start         (default 90)

set -eu

RMQ_PREFIX=${RMQ_PREFIX:-lazarus}
RMQ_BASE=${RMQ_BASE:-/tmp/lazarus-rmq}
RMQ_PORT_BASE=${RMQ_PORT_BASE:-5680}
RMQ_BOOT_TIMEOUT=${RMQ_BOOT_TIMEOUT:-90}
RMQ_SBIN=${RMQ_SBIN:-/usr/lib/rabbitmq/bin}
_here=$(cd "$(dirname "$0")" && pwd)
RMQ_REPO=$(cd "$_here/../.." && pwd)
RMQ_DEFINITIONS=${RMQ_DEFINITIONS:-$RMQ_REPO/infra/rabbitmq/definitions.json}

log() { printf '%s rabbitmq-cluster: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

node_name() { echo "${RMQ_PREFIX}$1@localhost"; }
node_dir() { echo "$RMQ_BASE/${RMQ_PREFIX}$1"; }
amqp_port() { echo $((RMQ_PORT_BASE + $1)); }
dist_port() { echo $((RMQ_PORT_BASE + $1 + 20000)); }

# The environment of node $1 (server and CLI alike): nothing from /etc/rabbitmq, the
# system node's cookie or its data is read.
node_env() {
  _d=$(node_dir "$1")
  export HOME="$RMQ_BASE"
  export RABBITMQ_NODENAME
  RABBITMQ_NODENAME=$(node_name "$1")
  export RABBITMQ_CONF_ENV_FILE="$_d/rabbitmq-env.conf"
  export RABBITMQ_CONFIG_FILE="$_d/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$_d/advanced.config"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$_d/enabled_plugins"
  export RABBITMQ_MNESIA_BASE="$_d/mnesia"
  export RABBITMQ_LOG_BASE="$_d/log"
  export RABBITMQ_PID_FILE="$_d/rabbit.pid"
  export RABBITMQ_PLUGINS_EXPAND_DIR="$_d/plugins-expand"
  export RABBITMQ_DIST_PORT
  RABBITMQ_DIST_PORT=$(dist_port "$1")
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
  unset ERL_FLAGS || true
}

# rabbitmqctl / rabbitmq-diagnostics / rabbitmq-queues against node $2.
ctl() {
  _tool=$1 _i=$2
  shift 2
  ( node_env "$_i" && "$RMQ_SBIN/$_tool" -q -n "$(node_name "$_i")" "$@" )
}

# The pid of node $1's launcher (the rabbitmq-server script, alive as long as the node), if running.
node_pid() {
  _p=$(cat "$(node_dir "$1")/launcher.pid" 2>/dev/null || true)
  [ -n "$_p" ] && kill -0 "$_p" 2>/dev/null && echo "$_p"
}

# Write the node's configuration. $1: node index, $2: cluster size.
write_config() {
  _i=$1 _n=$2 _d=$(node_dir "$1")
  mkdir -p "$_d/mnesia" "$_d/log" "$_d/plugins-expand"
  : >"$_d/rabbitmq-env.conf"
  echo '[].' >"$_d/enabled_plugins"
  echo '[].' >"$_d/advanced.config"
  {
    echo "cluster_name = ${RMQ_PREFIX}"
    echo "listeners.tcp.1 = 127.0.0.1:$(amqp_port "$_i")"
    echo "loopback_users = none"
    echo "definitions.import_backend = local_filesystem"
    echo "definitions.local.path = $RMQ_DEFINITIONS"
    echo "cluster_formation.peer_discovery_backend = classic_config"
    _k=1
    while [ "$_k" -le "$_n" ]; do
      echo "cluster_formation.classic_config.nodes.$_k = $(node_name "$_k")"
      _k=$((_k + 1))
    done
    echo "cluster_partition_handling = pause_minority"
    echo "disk_free_limit.absolute = 50MB"
    echo "vm_memory_high_watermark.relative = 0.2"
    echo "log.console = false"
    echo "log.file.level = info"
  } >"$_d/rabbitmq.conf"
}

# Start node $1 in the background (its configuration must exist).
start_node() {
  _i=$1 _d=$(node_dir "$1")
  [ -f "$_d/rabbitmq.conf" ] || die "$(node_name "$_i") has no configuration in $_d (run up.sh first)"
  if node_pid "$_i" >/dev/null; then die "$(node_name "$_i") is already running"; fi
  (
    node_env "$_i"
    cd "$_d"
    # setsid: its own session, so that no terminal or caller's signal reaches it.
    setsid "$RMQ_SBIN/rabbitmq-server" >>"$_d/console.log" 2>&1 </dev/null &
    echo $! >"$_d/launcher.pid"
  )
}

# Wait until node $1 runs the rabbit application, within RMQ_BOOT_TIMEOUT seconds.
await_node() {
  _i=$1 _deadline=$(($(date +%s) + RMQ_BOOT_TIMEOUT)) _d=$(node_dir "$1")
  while :; do
    if ctl rabbitmq-diagnostics "$_i" check_running >/dev/null 2>&1; then return 0; fi
    if [ "$(date +%s)" -ge "$_deadline" ]; then
      log "$(node_name "$_i") did not start within ${RMQ_BOOT_TIMEOUT}s; last lines of its logs:"
      tail -n 20 "$_d/console.log" "$_d"/log/*.log >&2 2>/dev/null || true
      return 1
    fi
    # A node whose process is gone (bad config, port taken) will not come up.
    if ! node_pid "$_i" >/dev/null; then
      log "$(node_name "$_i") exited while starting; last lines of its logs:"
      tail -n 30 "$_d/console.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.5
  done
}

# Stop node $1 and wait for its process to exit (bounded; then kill -9).
stop_node() {
  _i=$1
  _p=$(node_pid "$_i" || true)
  [ -n "$_p" ] || return 0
  _beam=$(cat "$(node_dir "$_i")/rabbit.pid" 2>/dev/null || true)
  ctl rabbitmqctl "$_i" shutdown --timeout 30 >/dev/null 2>&1 || true
  _k=0
  while kill -0 "$_p" 2>/dev/null || { [ -n "$_beam" ] && kill -0 "$_beam" 2>/dev/null; }; do
    _k=$((_k + 1))
    if [ "$_k" -gt 100 ]; then
      log "$(node_name "$_i") still running 20s after shutdown; kill -9"
      [ -n "$_beam" ] && kill -9 "$_beam" 2>/dev/null || true
      kill -9 "$_p" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$(node_dir "$_i")/launcher.pid"
}
