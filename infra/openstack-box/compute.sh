#!/bin/bash
# Control one fake nova-compute process of the box by host name, for tests
# that simulate a compute host failing and coming back.
#
#   ./compute.sh kill HOST [SIGNAL]   kill HOST's nova-compute (default SIGKILL:
#                                     a crash; the heartbeat stops at once) and its
#                                     companions ($RUN/companions/HOST/*.pid)
#   ./compute.sh stop HOST            graceful stop (SIGTERM)
#   ./compute.sh start HOST [--wait]  start it again (no-op if running); with
#                                     --wait, return once Nova reports it up
#   ./compute.sh restart HOST [--wait]
#   ./compute.sh wait HOST up|down [TIMEOUT]  wait until Nova shows that state
#   ./compute.sh status [HOST...]     process + Nova view (state status forced_down)
#   ./compute.sh list                 the compute host names
#
# HOST is compute1..computeN (N_COMPUTE of up.sh).  Pid files and logs:
# /tmp/osbox/nova-HOST.{pid,log}.  Exit status 0 on success; a failed wait
# exits 1 and prints the tail of the compute's log.
set -euo pipefail
exec </dev/null
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
WAIT_TIMEOUT=${WAIT_TIMEOUT:-90}

hosts() { ls /etc/nova/nova-compute*.conf 2>/dev/null | sed -n 's#.*/nova-\(compute[0-9]*\)\.conf$#\1#p' | sort -V; }
usage() { sed -n '2,19s/^# \{0,1\}//p' "$0" >&2; exit 2; }
check_host() {
  [ -n "${1:-}" ] || usage
  hosts | grep -qx "$1" || die "unknown compute host '$1' (known: $(hosts | xargs))"
}

# wait_state HOST up|down TIMEOUT
wait_state() {
  local h=$1 want=$2 t=$3 tok st i
  tok=$(admin_token); [ -n "$tok" ] || die "no admin token from Keystone (is the box up?)" keystone
  for ((i = 0; i < t * 2; i++)); do
    st=$(compute_state "$tok" "$h"); [ "${st%% *}" = "$want" ] && { echo "$h: $st"; return 0; }
    sleep 0.5
  done
  die "Nova did not report $h $want within ${t}s (last: ${st:-?})" "nova-$h"
}

cmd=${1:-}; [ $# -gt 0 ] && shift
case "$cmd" in
  kill)
    check_host "${1:-}"; h=$1; sig=${2:-KILL}; sig=${sig#SIG}
    # The host's companions go with it, as in a power loss: every process whose pid a test
    # wrote to $RUN/companions/HOST/NAME.pid (a lazarus-agent of that host), signalled first.
    for f in "$RUN/companions/$h"/*.pid; do
      [ -e "$f" ] || continue
      cpid=$(cat "$f"); rm -f "$f"
      if kill -"$sig" "$cpid" 2>/dev/null; then echo "killed $(basename "$f" .pid) of $h (pid $cpid, SIG$sig)"; fi
    done
    if alive "nova-$h"; then
      pid=$(cat "$RUN/nova-$h.pid")
      kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid"
      for ((i = 0; i < 100; i++)); do gone "$pid" && break; sleep 0.05; done
      echo "killed nova-$h (pid $pid, SIG$sig)"
    else
      echo "nova-$h is not running"
    fi ;;
  stop)
    check_host "${1:-}"; stop_pid "nova-$1" ;;
  start|restart)
    check_host "${1:-}"; h=$1
    [ "$cmd" = restart ] && stop_pid "nova-$h"
    if alive "nova-$h"; then echo "nova-$h already running (pid $(cat "$RUN/nova-$h.pid"))"
    else start_compute "$h" >/dev/null; echo "started nova-$h (pid $(cat "$RUN/nova-$h.pid"))"; fi
    if [ "${2:-}" = --wait ]; then
      sleep 1; alive "nova-$h" || die "nova-$h exited right after start" "nova-$h"
      wait_state "$h" up "$WAIT_TIMEOUT"
    fi ;;
  wait)
    check_host "${1:-}"; [ "${2:-}" = up ] || [ "${2:-}" = down ] || usage
    wait_state "$1" "$2" "${3:-$WAIT_TIMEOUT}" ;;
  status)
    [ $# -gt 0 ] || set -- $(hosts)
    tok=$(admin_token)
    for h in "$@"; do
      check_host "$h"
      if alive "nova-$h"; then p="running pid $(cat "$RUN/nova-$h.pid")"; else p="not running"; fi
      if [ -n "$tok" ]; then n=$(compute_state "$tok" "$h"); else n="(no token)"; fi
      printf '%-10s process: %-20s nova: %s\n' "$h" "$p" "$n"
    done ;;
  list) hosts ;;
  *) usage ;;
esac
