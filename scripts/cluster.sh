#!/usr/bin/env bash
# A three-node Apache Kafka cluster on this machine, in KRaft combined mode
# (each node a broker and a controller), as deploy/docker-compose.yml runs it:
# replication factor 3, min.insync.replicas 2. Data under .stampede/cluster/.
#
#   scripts/cluster.sh up          start the nodes that are not running; wait until all serve
#   scripts/cluster.sh down        stop every node gracefully (data kept)
#   scripts/cluster.sh kill N      kill -9 node N (1-3)
#   scripts/cluster.sh stop N      stop node N gracefully
#   scripts/cluster.sh start N     start node N and wait until it serves
#   scripts/cluster.sh status      one line per node
#   scripts/cluster.sh wipe        down, then delete the data
#
# Clients bootstrap from 127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092
# (node N listens on N9092, its controller on N9093).
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."
source scripts/kafka/lib.sh
CLUSTER_DIR="${STAMPEDE_CLUSTER_DIR:-$PWD/.stampede/cluster}"
NODES=(1 2 3)
VOTERS="1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093"
BOOTSTRAP="127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092"

node_dir() { echo "$CLUSTER_DIR/node-$1"; }
node_port() { echo "$(($1 * 10000 + 9092))"; }
check_node() { [[ "${1:-}" =~ ^[123]$ ]] || { echo "cluster.sh: name a node, 1, 2 or 3 (got '${1:-}')" >&2; exit 2; }; }
start_node() { kafka_node_start "$(node_dir "$1")" "$1" "$(node_port "$1")" "$VOTERS" cluster "${2:-}"; }

ensure_available() {
    local reason
    reason="$(kafka_unavailable_reason)"
    [ -z "$reason" ] || { echo "cluster.sh: Apache Kafka cannot run here: $reason" >&2; exit 3; }
    reason="$(kafka_fetch)" || { echo "cluster.sh: $reason" >&2; exit 3; }
}

case "${1:-}" in
    up)
        ensure_available
        # A node waits for a quorum of controllers, so all three start before any is awaited.
        for n in "${NODES[@]}"; do start_node "$n" --no-wait; done
        for n in "${NODES[@]}"; do kafka_node_wait "$(node_dir "$n")"; done
        echo "[cluster] three brokers up: $BOOTSTRAP (replication 3, min.insync.replicas 2)"
        ;;
    down)
        for n in "${NODES[@]}"; do kafka_node_stop "$(node_dir "$n")" & done
        wait
        echo "[cluster] stopped"
        ;;
    kill)
        check_node "${2:-}"
        kafka_node_stop "$(node_dir "$2")" KILL
        echo "[cluster] node $2 killed"
        ;;
    stop)
        check_node "${2:-}"
        kafka_node_stop "$(node_dir "$2")"
        echo "[cluster] node $2 stopped"
        ;;
    start)
        check_node "${2:-}"
        ensure_available
        start_node "$2"
        echo "[cluster] node $2 serving on 127.0.0.1:$(node_port "$2")"
        ;;
    status)
        for n in "${NODES[@]}"; do
            if pid="$(kafka_node_pid "$(node_dir "$n")")"; then
                echo "node $n  127.0.0.1:$(node_port "$n")  running (pid $pid)"
            else
                echo "node $n  127.0.0.1:$(node_port "$n")  stopped"
            fi
        done
        ;;
    wipe)
        "$SELF" down
        rm -rf "$CLUSTER_DIR"
        echo "[cluster] data deleted"
        ;;
    *)
        sed -n '2,16p' "$SELF" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
