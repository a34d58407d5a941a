# Apache Kafka (KRaft) on this machine, without Docker. Sourced by
# scripts/provision.sh (the single dev broker) and scripts/cluster.sh (three
# nodes); tests start nodes through those two scripts.
#
# The broker's jars come from Maven Central (scripts/kafka/pom.xml, copied
# into .stampede/kafka/libs once; ~/.m2 caches the downloads). A node is a
# directory holding its server.properties, its data, kafka.log and pid:
#
#   kafka_node_start <dir> <node id> <client port> <voters> <profile>
#
# starts one (formatting its storage the first time) and waits until it
# serves; <voters> is the controller quorum (`1@127.0.0.1:9093,…`, each
# controller on its client port + 1) and <profile> `single` or `cluster`,
# the settings file beside this one that says how much is replicated.

KAFKA_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_HOME_DIR="${KAFKA_HOME_DIR:-$(cd "$KAFKA_SCRIPTS/../.." && pwd)/.stampede/kafka}"
KAFKA_LIBS="$KAFKA_HOME_DIR/libs"
# Every node of one machine shares this id (a base64 UUID, as
# `kafka-storage.sh random-uuid` prints); a node only joins a quorum of its own cluster.
KAFKA_CLUSTER_ID="${KAFKA_CLUSTER_ID:-c3RhbXBlZGUtbG9jYWwtMQ}"
# 1 GiB at most per node: a broker holding thousands of test partitions (topics
# of earlier runs) ran out of 512 MiB; three nodes still fit beside everything else.
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
KAFKA_START_TIMEOUT_SECS="${KAFKA_START_TIMEOUT_SECS:-120}"

kafka_say() { printf '[kafka] %s\n' "$*" >&2; }

kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_SCRIPTS/pom.xml"; }

# Why Apache Kafka cannot run here (one line), or nothing when it can.
kafka_unavailable_reason() {
    command -v java >/dev/null || { echo "java not found"; return; }
    local major
    major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
    [ "${major:-0}" -ge 17 ] || { echo "java ${major:-?} found, Kafka 4 needs 17+"; return; }
    [ -f "$KAFKA_LIBS/.stamp" ] && [ "$(cat "$KAFKA_LIBS/.stamp")" = "$(kafka_pom_hash)" ] && return
    command -v mvn >/dev/null || echo "mvn not found (the broker's jars come from Maven Central)"
}

kafka_pom_hash() { sha256sum "$KAFKA_SCRIPTS/pom.xml" | cut -d' ' -f1; }

# Copies the broker's jars into $KAFKA_LIBS unless the same pom did before.
# On failure prints what Maven refused, in one line, and returns 1.
kafka_fetch() {
    local stamp="$KAFKA_LIBS/.stamp" hash
    hash="$(kafka_pom_hash)"
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && return 0
    mkdir -p "$KAFKA_HOME_DIR"
    local staging="$KAFKA_HOME_DIR/libs.new" log="$KAFKA_HOME_DIR/fetch.log"
    rm -rf "$staging"
    kafka_say "fetching Apache Kafka $(kafka_version) from Maven Central (once; log: $log)"
    if ! mvn -B -q -f "$KAFKA_SCRIPTS/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$staging" >"$log" 2>&1; then
        local refused
        refused="$(grep -m1 -E 'Could not (resolve|transfer|find)|Failed to' "$log" | sed 's/^\[ERROR\] //' | cut -c1-300)"
        echo "Maven could not fetch the broker: ${refused:-see $log}"
        return 1
    fi
    rm -rf "$KAFKA_LIBS" && mv "$staging" "$KAFKA_LIBS" && echo "$hash" >"$stamp"
}

# The java command line of a Kafka tool or broker (main class and arguments follow).
kafka_java() {
    KAFKA_JAVA=(java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
        -Dlog4j2.configurationFile="$KAFKA_SCRIPTS/log4j2.properties" -cp "$KAFKA_LIBS/*")
}

kafka_node_pid() { # dir → the pid of its running broker, or nothing
    local pid_file="$1/pid"
    [ -f "$pid_file" ] || return 1
    local pid
    pid="$(cat "$pid_file")"
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

kafka_write_config() { # dir node-id port voters profile
    local dir=$1 node=$2 port=$3 voters=$4 profile=$5
    mkdir -p "$dir/data"
    {
        echo "# Written by scripts/kafka/lib.sh: broker.properties + $profile.properties + this node."
        cat "$KAFKA_SCRIPTS/broker.properties" "$KAFKA_SCRIPTS/$profile.properties"
        echo
        echo "node.id=$node"
        echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))"
        echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
        echo "controller.quorum.voters=$voters"
        echo "log.dirs=$dir/data"
    } >"$dir/server.properties"
}

# Keeps the kernel from handing PORT and PORT+1 (a node's listener and
# controller) to outgoing connections: 39092/39093 lie in Linux's ephemeral
# range (32768-60999), and a test's client socket that happened to get one
# made the node fail to bind. Best effort: without the permission to write
# the sysctl, nothing changes.
kafka_reserve_ports() { # port
    local file=/proc/sys/net/ipv4/ip_local_reserved_ports current
    [ -w "$file" ] || return 0
    current="$(cat "$file")"
    case ",$current," in *",$1-$(($1 + 1)),"*) return 0 ;; esac
    echo "${current:+$current,}$1-$(($1 + 1))" >"$file" 2>/dev/null || true
}

kafka_node_start() { # dir node-id port voters profile [--no-wait]
    local dir=$1 node=$2 port=$3 voters=$4 profile=$5 wait=${6:-}
    kafka_reserve_ports "$port"
    if kafka_node_pid "$dir" >/dev/null; then return 0; fi
    kafka_write_config "$dir" "$node" "$port" "$voters" "$profile"
    kafka_java
    if [ ! -f "$dir/data/meta.properties" ]; then
        "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c "$dir/server.properties" \
            >"$dir/format.log" 2>&1 || { kafka_say "formatting $dir failed:"; tail -n 5 "$dir/format.log" >&2; return 1; }
    fi
    # Only lines written after this start count when waiting for it.
    : >"$dir/kafka.log"
    # A broker keeps a file open per partition segment; tests create thousands.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    nohup "${KAFKA_JAVA[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    [ "$wait" = "--no-wait" ] || kafka_node_wait "$dir"
}

# Waits until the node logged that it serves (or died, or the timeout passed).
kafka_node_wait() {
    local dir=$1 deadline=$((SECONDS + KAFKA_START_TIMEOUT_SECS))
    while [ $SECONDS -lt $deadline ]; do
        grep -q "Kafka Server started" "$dir/kafka.log" 2>/dev/null && return 0
        if ! kafka_node_pid "$dir" >/dev/null; then
            kafka_say "the broker in $dir exited; last lines of its log:"; tail -n 15 "$dir/kafka.log" >&2; return 1
        fi
        sleep 0.2
    done
    kafka_say "the broker in $dir did not start within ${KAFKA_START_TIMEOUT_SECS}s (log: $dir/kafka.log)"; return 1
}

kafka_node_stop() { # dir [TERM|KILL]
    local dir=$1 signal=${2:-TERM} pid
    pid="$(kafka_node_pid "$dir")" || { rm -f "$dir/pid"; return 0; }
    kill "-$signal" "$pid" 2>/dev/null || true
    # A graceful stop hands partition leadership over first; it takes seconds.
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    rm -f "$dir/pid"
}

# Deletes every topic whose whole name matches <regex> (nothing when none does).
kafka_delete_topics() { # bootstrap regex
    kafka_java
    "${KAFKA_JAVA[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$1" \
        --delete --if-exists --topic "$2" 2>&1 | grep -v "^$" >&2 || true
}
