#!/bin/sh
# Run a RabbitMQ CLI tool against node i of the local cluster, with the cluster's cookie.
#   infra/rabbitmq-cluster/ctl.sh <i> rabbitmqctl|rabbitmq-diagnostics|rabbitmq-queues <args...>
#   e.g. ctl.sh 1 rabbitmqctl list_queues -p lazarus name leader members
. "$(dirname "$0")/lib.sh"

i=${1:-} tool=${2:-}
case "$i" in '' | *[!0-9]*) die "usage: ctl.sh <i> <tool> <args...>" ;; esac
case "$tool" in rabbitmqctl | rabbitmq-diagnostics | rabbitmq-queues | rabbitmq-plugins | rabbitmq-upgrade) ;; *) die "unknown tool '$tool'" ;; esac
shift 2
ctl "$tool" "$i" "$@"
