#!/usr/bin/env bash
# A local fleet: several `stampede serve` instances sharing one MariaDB,
# Redis and Kafka, as behind a load balancer; instance N listens on
# 127.0.0.1:(8079+N), so three take 8080-8082. pg-sim runs on 8090 for all.
# Each instance's settings come from the environment as for one server, e.g.
# the Kafka cluster (scripts/cluster.sh) or a Redis Cluster
# (scripts/redis-cluster.sh):
#   STAMPEDE__KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092
#   STAMPEDE__KAFKA__REPLICATION_FACTOR=3
#   STAMPEDE__REDIS__CLUSTER_NODES=redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003
#
#   scripts/fleet.sh up [N]      build, migrate, start instances 1..N (default 3) and pg-sim; wait until all serve
#   scripts/fleet.sh down        stop every instance gracefully (SIGTERM) and pg-sim
#   scripts/fleet.sh kill N      kill -9 instance N
#   scripts/fleet.sh restart N   stop instance N gracefully (or find it dead), start it, wait until it serves
#   scripts/fleet.sh status      one line per instance
#   scripts/fleet.sh demo        run `stampede demo` spread over the running instances
#
# Logs and pid files: .stampede/fleet/. Stops the single server of
# scripts/run.sh first (it listens on 8080 too).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$PWD/.stampede/fleet"
BIN=target/release/stampede
mkdir -p "$DIR"

say() { echo "[fleet] $*"; }
port_of() { echo $((8079 + $1)); }
pid_of() { cat "$DIR/$1.pid" 2>/dev/null || true; }
running() { local pid; pid="$(pid_of "$1")"; [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
instances() { for f in "$DIR"/serve-*.pid; do [ -e "$f" ] && basename "$f" .pid | cut -d- -f2; done | sort -n; }
check_instance() {
    [[ "${1:-}" =~ ^[1-9]$ ]] || { echo "fleet.sh: name an instance, 1-9 (got '${1:-}')" >&2; exit 2; }
}

# GET /ready over bash's /dev/tcp (a fresh machine may have no curl).
ready() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /ready HTTP/1.0\r\n\r\n' >&3 && head -n1 <&3 | grep -q ' 200 ') 2>/dev/null
}

start_process() { # name, then the command line
    local name=$1; shift
    nohup "$BIN" "$@" >>"$DIR/$name.log" 2>&1 &
    echo $! >"$DIR/$name.pid"
}

stop_process() { # name, signal
    local pid; pid="$(pid_of "$1")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "-$2" "$pid"
        # A graceful stop drains requests and commits consumer offsets.
        for _ in $(seq 1 240); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$DIR/$1.pid"
}

start_instance() {
    local n=$1 port; port="$(port_of "$1")"
    running "serve-$n" && { say "instance $n already runs on $port"; return; }
    # The local profile lets serve use the committed development JWT secret.
    STAMPEDE__PROFILE="${STAMPEDE__PROFILE:-local}" STAMPEDE__HTTP__PORT="$port" start_process "serve-$n" serve
}

wait_instance() {
    local n=$1 port; port="$(port_of "$1")"
    for _ in $(seq 1 240); do
        ready "$port" && { say "instance $n serves on http://127.0.0.1:$port (pid $(pid_of "serve-$n"))"; return; }
        running "serve-$n" || break
        sleep 0.25
    done
    say "instance $n did not become ready; see $DIR/serve-$n.log" >&2
    exit 1
}

case "${1:-}" in
    up)
        count="${2:-3}"
        [[ "$count" =~ ^[1-9]$ ]] || { echo "fleet.sh: up takes 1-9 instances (got '$count')" >&2; exit 2; }
        [ -x "$BIN" ] || { say "building (release)"; cargo build --release --quiet -p stampede; }
        "$BIN" migrate
        bash scripts/stop.sh
        running pg-sim || start_process pg-sim pg-sim
        # One at a time: each creates missing topics and joins the consumer groups.
        for n in $(seq 1 "$count"); do start_instance "$n"; wait_instance "$n"; done
        say "$count instance(s) up; pg-sim on http://127.0.0.1:8090"
        ;;
    down)
        for n in $(instances); do stop_process "serve-$n" TERM & done
        wait
        stop_process pg-sim TERM
        say "stopped"
        ;;
    kill)
        check_instance "${2:-}"
        running "serve-$2" || { say "instance $2 is not running"; exit 1; }
        pid="$(pid_of "serve-$2")"
        kill -KILL "$pid"
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        say "instance $2 killed (kill -9)"
        ;;
    restart)
        check_instance "${2:-}"
        stop_process "serve-$2" TERM
        start_instance "$2"
        wait_instance "$2"
        ;;
    status)
        [ -n "$(instances)" ] || say "no instance runs"
        for n in $(instances); do
            if running "serve-$n"; then state="running (pid $(pid_of "serve-$n"))"; else state="down"; fi
            echo "instance $n: port $(port_of "$n"), $state"
        done
        ;;
    demo)
        urls=()
        for n in $(instances); do running "serve-$n" && urls+=("http://127.0.0.1:$(port_of "$n")"); done
        [ "${#urls[@]}" -gt 0 ] || { say "no instance runs: scripts/fleet.sh up 3" >&2; exit 1; }
        "$BIN" demo --url "$(IFS=,; echo "${urls[*]}")"
        ;;
    *)
        echo "usage: scripts/fleet.sh up [N] | down | kill N | restart N | status | demo" >&2
        exit 2
        ;;
esac
