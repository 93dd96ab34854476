#!/bin/sh
# One node of the local cluster: stop it, start it again (it rejoins), or print its status.
#   infra/rabbitmq-cluster/node.sh stop|start|status <i>
. "$(dirname "$0")/lib.sh"

cmd=${1:-} i=${2:-}
case "$i" in '' | *[!0-9]*) die "usage: node.sh stop|start|status <i>" ;; esac
started=$(date +%s%N)
case "$cmd" in
  stop) stop_node "$i" ;;
  start)
    start_node "$i"
    await_node "$i" || exit 1
    ;;
  status) ctl rabbitmq-diagnostics "$i" status ;;
  *) die "usage: node.sh stop|start|status <i>" ;;
esac
log "$cmd $(node_name "$i"): $((($(date +%s%N) - started) / 1000000)) ms"
