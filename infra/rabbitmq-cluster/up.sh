#!/bin/sh
# Start an N-node RabbitMQ cluster on loopback (default 3) from Debian's rabbitmq-server,
# beside any system node: nodes lazarus1@localhost.., AMQP on 127.0.0.1:5681.., data, logs,
# configuration and Erlang cookie under /tmp/lazarus-rmq. Works as root without a tty.
# Every node loads ../rabbitmq/definitions.json at boot (vhost lazarus, policy, exchanges,
# quorum queues) merged with a user per service made by ../rabbitmq/users.ts, with random
# passwords (in $RMQ_BASE/users/<service>.password and .env, mode 0600); the nodes form the
# cluster through classic peer discovery, the quorum queues get a member on every node and
# their leaders are spread. Prints each service's AMQP_URL (every node, comma-separated;
# also in $RMQ_BASE/urls) and the time it took. Needs node and the repository's
# node_modules (pnpm install) for users.ts.
#
#   infra/rabbitmq-cluster/up.sh [N]      stop with infra/rabbitmq-cluster/down.sh
#   settings: see lib.sh (RMQ_PREFIX, RMQ_BASE, RMQ_PORT_BASE, RMQ_BOOT_TIMEOUT)
. "$(dirname "$0")/lib.sh"

N=${1:-3}
case "$N" in '' | *[!0-9]*) die "usage: up.sh [N]   (N: number of nodes, default 3)" ;; esac
[ "$N" -ge 1 ] && [ "$N" -le 9 ] || die "N must be 1..9"
[ -x "$RMQ_SBIN/rabbitmq-server" ] || die "no $RMQ_SBIN/rabbitmq-server (apt-get install rabbitmq-server)"
[ -f "$RMQ_DEFINITIONS" ] || die "no definitions file $RMQ_DEFINITIONS"
command -v node >/dev/null || die "no node (users.ts makes the broker users)"
started=$(date +%s%N)

i=1
while [ "$i" -le "$N" ]; do
  if node_pid "$i" >/dev/null; then die "$(node_name "$i") is already running (infra/rabbitmq-cluster/down.sh first)"; fi
  for port in $(amqp_port "$i") $(dist_port "$i"); do
    if command -v ss >/dev/null && [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then die "port $port is in use (set RMQ_PORT_BASE)"; fi
  done
  i=$((i + 1))
done

# A fresh cluster: no state from an earlier run.
rm -rf "$RMQ_BASE"
mkdir -p "$RMQ_BASE"
chmod 700 "$RMQ_BASE"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RMQ_BASE/.erlang.cookie"
chmod 400 "$RMQ_BASE/.erlang.cookie"

# A user per service with a new password, merged with the topology into the file every node loads.
brokers=""
i=1
while [ "$i" -le "$N" ]; do
  brokers="$brokers${brokers:+,}amqp://127.0.0.1:$(amqp_port "$i")"
  i=$((i + 1))
done
(cd "$RMQ_REPO" && node --conditions=@lazarus/source --import tsx infra/rabbitmq/users.ts \
  --out "$RMQ_BASE/users" --vhost lazarus --broker "$brokers" --merge "$RMQ_DEFINITIONS" >/dev/null) ||
  die "cannot make the broker users (infra/rabbitmq/users.ts; pnpm install first?)"
RMQ_DEFINITIONS="$RMQ_BASE/users/definitions.json"

i=1
while [ "$i" -le "$N" ]; do write_config "$i" "$N"; i=$((i + 1)); done

fail() {
  log "$1; stopping what started"
  "$(dirname "$0")/down.sh" >/dev/null 2>&1 || true
  exit 1
}

# The first node forms the cluster; the others find it through peer discovery and join.
log "starting $(node_name 1) (AMQP $(amqp_port 1))"
start_node 1
await_node 1 || fail "$(node_name 1) did not start"
i=2
while [ "$i" -le "$N" ]; do
  log "starting $(node_name "$i") (AMQP $(amqp_port "$i"))"
  start_node "$i"
  i=$((i + 1))
done
i=2
while [ "$i" -le "$N" ]; do await_node "$i" || fail "$(node_name "$i") did not start"; i=$((i + 1)); done

# Every node must see all N running.
deadline=$(($(date +%s) + RMQ_BOOT_TIMEOUT))
while :; do
  running=$(ctl rabbitmqctl 1 eval 'length(rabbit_nodes:all_running()).' 2>/dev/null || echo 0)
  [ "$running" = "$N" ] && break
  [ "$(date +%s)" -lt "$deadline" ] || fail "the cluster has $running of $N nodes running after ${RMQ_BOOT_TIMEOUT}s"
  sleep 0.5
done

# The first node declared the quorum queues of the definitions alone: give them a member
# on every other node, then spread their leaders over the nodes.
if [ "$N" -gt 1 ]; then
  i=2
  while [ "$i" -le "$N" ]; do
    ctl rabbitmq-queues 1 grow "$(node_name "$i")" all --errors-only >/dev/null || fail "cannot add $(node_name "$i") to the quorum queues"
    i=$((i + 1))
  done
  ctl rabbitmq-queues 1 rebalance quorum >/dev/null || log "warning: leader rebalance failed (queues still work)"
fi

# Healthy: every node passes its checks and every quorum queue of the vhost has N online members.
i=1
while [ "$i" -le "$N" ]; do
  ctl rabbitmq-diagnostics "$i" check_local_alarms >/dev/null || fail "$(node_name "$i") has alarms"
  ctl rabbitmq-diagnostics "$i" check_port_connectivity >/dev/null || fail "$(node_name "$i") does not accept AMQP connections"
  i=$((i + 1))
done
short=$(ctl rabbitmqctl 1 list_queues -p lazarus name type online --no-table-headers 2>/dev/null |
  awk -v n="$N" '$2 == "quorum" { c = gsub(/@/, "@"); if (c != n) print $1 }')
[ -z "$short" ] || fail "quorum queues without $N online members: $short"

: >"$RMQ_BASE/urls"
chmod 600 "$RMQ_BASE/urls"
for svc in api detector fencer evacuator; do
  printf '%s %s\n' "$svc" "$(sed -n 's/^AMQP_URL=//p' "$RMQ_BASE/users/$svc.env")" >>"$RMQ_BASE/urls"
done
elapsed=$((($(date +%s%N) - started) / 1000000))
log "cluster of $N up in ${elapsed} ms"
cat "$RMQ_BASE/urls"
