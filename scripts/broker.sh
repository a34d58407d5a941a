#!/usr/bin/env bash
# The single Apache Kafka dev broker that scripts/provision.sh starts
# (KRaft, one node on 127.0.0.1:9092, data under .stampede/kafka/dev).
#
#   scripts/broker.sh start        start it (formatting its storage the first time); wait until it serves
#   scripts/broker.sh stop         stop it gracefully (data kept: topics and records survive)
#   scripts/broker.sh kill         kill -9 it
#   scripts/broker.sh status       running or stopped, and which broker provisioning chose
#   scripts/broker.sh delete-topics REGEX   delete the topics whose whole name matches REGEX
#
# STAMPEDE_KAFKA_PORT and STAMPEDE_BROKER_DIR run another such broker (tests
# restart a private one this way without disturbing the shared one).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kafka/lib.sh
PORT="${STAMPEDE_KAFKA_PORT:-9092}"
DIR="${STAMPEDE_BROKER_DIR:-$PWD/.stampede/kafka/dev}"

case "${1:-}" in
    start)
        reason="$(kafka_unavailable_reason)"
        [ -z "$reason" ] || { echo "broker.sh: Apache Kafka cannot run here: $reason" >&2; exit 3; }
        reason="$(kafka_fetch)" || { echo "broker.sh: $reason" >&2; exit 3; }
        kafka_node_start "$DIR" 1 "$PORT" "1@127.0.0.1:$((PORT + 1))" single
        echo "[broker] Apache Kafka $(kafka_version) serving on 127.0.0.1:$PORT"
        ;;
    stop) kafka_node_stop "$DIR"; echo "[broker] stopped" ;;
    kill) kafka_node_stop "$DIR" KILL; echo "[broker] killed" ;;
    status)
        if pid="$(kafka_node_pid "$DIR")"; then echo "running on 127.0.0.1:$PORT (pid $pid)"; else echo "stopped"; fi
        [ -f .stampede/broker ] && echo "provisioned: $(cat .stampede/broker)"
        ;;
    delete-topics)
        [ -n "${2:-}" ] || { echo "broker.sh: delete-topics needs a regular expression" >&2; exit 2; }
        kafka_delete_topics "127.0.0.1:$PORT" "$2"
        ;;
    *) sed -n '2,13p' "scripts/broker.sh" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
