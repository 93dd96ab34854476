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
# Anything still running from this cluster's directory (a node that lost its pid file).
pids=$(pgrep -f -- "-pa .* -sname .*|$RMQ_BASE/$RMQ_PREFIX" 2>/dev/null | while read -r p; do
  if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$RMQ_BASE/$RMQ_PREFIX"; then echo "$p"; fi
done)
[ -z "$pids" ] || { log "killing leftover processes: $pids"; kill -9 $pids 2>/dev/null || true; }
rm -rf "$RMQ_BASE"
log "down"
