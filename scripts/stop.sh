#!/usr/bin/env bash
# Stops the server scripts/run.sh started (SIGTERM: graceful), if any.
set -euo pipefail
cd "$(dirname "$0")/.."
PID_FILE=.stampede/serve.pid
[ -f "$PID_FILE" ] || exit 0
pid="$(cat "$PID_FILE")"
if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "[stop] stopped stampede serve (pid $pid)"
fi
rm -f "$PID_FILE"
