#!/usr/bin/env bash
# Stops what scripts/run.sh started (SIGTERM: graceful), if it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
for name in serve pg-sim; do
    pid_file=".stampede/$name.pid"
    [ -f "$pid_file" ] || continue
    pid="$(cat "$pid_file")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        echo "[stop] stopped stampede $name (pid $pid)"
    fi
    rm -f "$pid_file"
done
