#!/bin/sh
# Stop every node of the local cluster started by up.sh and remove its directory.
#   infra/rabbitmq-cluster/down.sh      (same RMQ_PREFIX / RMQ_BASE as up.sh)
. "$(dirname "$0")/lib.sh"

[ -d "$RMQ_BASE" ] || exit 0
for d in "$RMQ_BASE/$RMQ_PREFIX"*; do
  [ -d "$d" ] || continue
  i=${d##*/"$RMQ_PREFIX"}
  case "$i" in '' | *[!0-9]*) continue ;; esac
  if node_pid "$i" >/dev/null; then
    log "stopping $(node_name "$i")"
    stop_node "$i" &
  fi
done
wait
# Anything still running from this cluster (a node whose launcher is gone): its
# environment names this cluster's data directory.
pids=""
for p in $(pgrep -x beam.smp 2>/dev/null); do
  if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "RABBITMQ_MNESIA_BASE=$RMQ_BASE/$RMQ_PREFIX[0-9]*/mnesia"; then pids="$pids $p"; fi
done
[ -z "$pids" ] || { log "killing leftover nodes:$pids"; kill -9 $pids 2>/dev/null || true; }
rm -rf "$RMQ_BASE"
log "down"
