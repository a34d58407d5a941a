#!/usr/bin/env bash
# A three-master Redis Cluster on this machine, from Debian's redis-server
# (scripts/provision.sh installs it): ports 7001-7003, the 16384 slots split
# in three, no replicas, nothing persisted. Data under .stampede/redis-cluster/.
#
#   scripts/redis-cluster.sh up       start the nodes, make the cluster once, wait until it serves
#   scripts/redis-cluster.sh down     stop the nodes (the cluster is made again at the next up)
#   scripts/redis-cluster.sh status   the cluster's state and its masters
#
# Stampede uses it with
#   STAMPEDE__REDIS__CLUSTER_NODES=redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${STAMPEDE_REDIS_CLUSTER_DIR:-$PWD/.stampede/redis-cluster}"
PORTS=(7001 7002 7003)

say() { echo "[redis-cluster] $*"; }
cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
answers() { cli "$1" ping 2>/dev/null | grep -q PONG; }
state_ok() { cli "${PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

wait_for() {
    local what="$1" check="$2"
    for _ in $(seq 1 100); do
        if eval "$check"; then return 0; fi
        sleep 0.1
    done
    say "gave up waiting for $what" >&2
    exit 1
}

up() {
    command -v redis-server >/dev/null || { say "redis-server is missing: run scripts/provision.sh" >&2; exit 3; }
    for port in "${PORTS[@]}"; do
        answers "$port" && continue
        # A node's cluster state is only good for the run that made it.
        rm -rf "${DIR:?}/$port" && mkdir -p "$DIR/$port"
        redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$DIR/$port" \
            --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
            --save "" --appendonly no --logfile "$DIR/$port/redis.log" --pidfile "$DIR/$port/redis.pid"
    done
    for port in "${PORTS[@]}"; do wait_for "node $port" "answers $port"; done
    if ! state_ok; then
        local nodes=()
        for port in "${PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
        cli "${PORTS[0]}" --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1 \
            || { say "making the cluster failed:" >&2; cat "$DIR/create.log" >&2; exit 1; }
        # Every node must know every slot's owner before a client asks it.
        for port in "${PORTS[@]}"; do
            wait_for "node $port to see the cluster" "cli $port cluster info | grep -q '^cluster_state:ok'"
        done
    fi
    say "three masters up: 127.0.0.1:7001-7003"
}

down() {
    for port in "${PORTS[@]}"; do
        answers "$port" && cli "$port" shutdown nosave >/dev/null 2>&1 || true
    done
    for port in "${PORTS[@]}"; do wait_for "node $port to stop" "! answers $port"; done
    say "stopped"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status)
        if state_ok; then
            say "ok"
            cli "${PORTS[0]}" cluster nodes | awk '{print "  " $2, $3, $9}'
        else
            say "not running"
        fi
        ;;
    *) echo "usage: scripts/redis-cluster.sh up|down|status" >&2; exit 2 ;;
esac
