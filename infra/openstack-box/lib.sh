# Shared helpers for up.sh, down.sh, compute.sh, verify.sh, masakari-test.sh.
# Source it; it does not change shell options.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
OSBOX_HOME=${OSBOX_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
RUN=${OSBOX_RUN:-/tmp/osbox}
PY=/usr/bin/python3
KS=http://127.0.0.1:5000
NOVA_URL=http://127.0.0.1:8774/v2.1
MASAKARI_URL=http://127.0.0.1:15868/v1
ADMIN_PASS=${ADMIN_PASS:-admin-pass}
mkdir -p "$RUN"

T0=${T0:-$(date +%s)}
log() { echo "[osbox +$(( $(date +%s) - T0 ))s] $*"; }

# die MESSAGE [LOGNAME...]: print the error and the tail of the named logs
# (/tmp/osbox/LOGNAME.log, or an absolute path), then exit 1.
die() {
  local msg=$1 f; shift
  echo "[osbox] ERROR: $msg" >&2
  for f in "$@"; do
    [ "${f#/}" = "$f" ] && f=$RUN/$f.log
    if [ -s "$f" ]; then
      echo "----- last 40 lines of $f -----" >&2
      tail -n 40 "$f" >&2
      echo "----- end of $f -----" >&2
    fi
  done
  exit 1
}

# gone PID: true when PID has exited (a zombie not yet reaped counts as gone)
gone() {
  ! kill -0 "$1" 2>/dev/null || [ "$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null)" = Z ]
}

# Processes are tracked by /tmp/osbox/NAME.pid plus NAME.sig: a string that
# must appear in /proc/PID/cmdline, so a recycled pid is never taken for ours.
alive() {
  local pid sig
  [ -f "$RUN/$1.pid" ] || return 1
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ "$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ] || return 1
  sig=$(cat "$RUN/$1.sig" 2>/dev/null || true)
  [ -z "$sig" ] || tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$sig"
}

# start_bg NAME CMD...: run CMD detached (own session, no stdin), output
# appended to /tmp/osbox/NAME.log, pid in NAME.pid.  No-op when alive.
start_bg() {
  local name=$1; shift
  if alive "$name"; then return 0; fi
  echo "===== $(date -Is) starting: $*" >>"$RUN/$name.log"
  # 9>&-: the daemon must not inherit up.sh's lock on /tmp/osbox/up.lock
  setsid "$@" >>"$RUN/$name.log" 2>&1 </dev/null 9>&- &
  echo $! > "$RUN/$name.pid"
  # signature: the command with its program's basename (python scripts show
  # up as "/usr/bin/python3 /usr/bin/nova-api ..." in /proc/PID/cmdline)
  printf '%s' "$(basename "$1")${2:+ }${*:2}" > "$RUN/$name.sig"
  STARTED="${STARTED:-} $name"
  log "started $name (pid $!)"
}

# stop_pid NAME [SIGNAL]: stop a tracked process and its children (they share
# its process group: start_bg runs each under setsid); TERM, then KILL after
# 10 s; SIGNAL=KILL kills at once.  Removes the pid file.
stop_pid() {
  local name=$1 sig=${2:-TERM} pid i
  if alive "$name"; then
    pid=$(cat "$RUN/$name.pid")
    kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do gone "$pid" && break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true   # leftovers of the group (workers)
    sleep 0.1
    echo "stopped $name (pid $pid, SIG$sig)"
  fi
  rm -f "$RUN/$name.pid"
}

# stop_many NAME...: stop_pid for several processes at once (TERM to all,
# one shared 10 s grace period, then KILL).
stop_many() {
  local name pids=() names=() pid i left
  for name in "$@"; do
    alive "$name" || { rm -f "$RUN/$name.pid"; continue; }
    pid=$(cat "$RUN/$name.pid"); pids+=("$pid"); names+=("$name")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for ((i = 0; i < 40; i++)); do
    left=0; for pid in "${pids[@]}"; do gone "$pid" || left=1; done
    [ $left = 0 ] && break; sleep 0.25
  done
  for i in "${!pids[@]}"; do
    gone "${pids[$i]}" || echo "${names[$i]} ignored SIGTERM for 10 s: SIGKILL"
    kill -KILL -- "-${pids[$i]}" 2>/dev/null || true
    rm -f "$RUN/${names[$i]}.pid"; echo "stopped ${names[$i]} (pid ${pids[$i]})"
  done
}

# compute_cmd HOST: the command line of one fake nova-compute.
compute_cmd() {
  echo "$PY $OSBOX_HOME/nova-compute.py --config-file /etc/nova/nova.conf --config-file /etc/nova/nova-$1.conf"
}
start_compute() {  # start_compute HOST
  [ -f "/etc/nova/nova-$1.conf" ] || die "no /etc/nova/nova-$1.conf: unknown compute host '$1' (run up.sh with a larger N_COMPUTE?)"
  # shellcheck disable=SC2046
  start_bg "nova-$1" $(compute_cmd "$1")
}

# wait_http URL TIMEOUT WHAT [LOGNAME...]
wait_http() {
  local url=$1 t=$2 what=$3 i; shift 3
  for ((i = 0; i < t * 2; i++)); do
    curl -s -o /dev/null --max-time 2 "$url" && return 0
    sleep 0.5
  done
  die "$what did not answer on $url within ${t}s" "$@"
}

# admin_token: print a Keystone token for the admin user (empty on failure).
admin_token() {
  curl -s -i --max-time 20 -H 'Content-Type: application/json' -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"'"$ADMIN_PASS"'"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' \
    "$KS/v3/auth/tokens" 2>/dev/null | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r'
}

# nova_get TOKEN PATH [MICROVERSION]: GET on Nova, body on stdout.
nova_get() {
  curl -s --max-time 30 -H "X-Auth-Token: $1" -H "OpenStack-API-Version: compute ${3:-2.53}" "$NOVA_URL$2"
}

# compute_state TOKEN HOST -> "up enabled false" (state status forced_down), or "missing"
compute_state() {
  nova_get "$1" "/os-services?binary=nova-compute&host=$2" \
    | jq -r '(.services[0] // null) | if . == null then "missing" else "\(.state) \(.status) \(.forced_down)" end' 2>/dev/null
}
