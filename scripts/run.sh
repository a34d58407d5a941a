#!/usr/bin/env bash
# The main job: provision, build, migrate, start `stampede serve` on
# 127.0.0.1:8080 (restarting one this script started before), run the demo.
# The server keeps running afterwards; stop it with scripts/stop.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh
STATE_DIR="$PWD/.stampede"
BIN=target/release/stampede

echo "[run] building (release)"
cargo build --release --quiet -p stampede
"$BIN" migrate

bash scripts/stop.sh
echo "[run] starting stampede serve (logs: .stampede/serve.log)"
nohup "$BIN" serve >"$STATE_DIR/serve.log" 2>&1 &
echo $! >"$STATE_DIR/serve.pid"
for _ in $(seq 1 60); do
    curl -fsS http://127.0.0.1:8080/ready >/dev/null 2>&1 && break
    sleep 0.5
done
curl -fsS http://127.0.0.1:8080/ready >/dev/null || { echo "[run] server not ready; see .stampede/serve.log"; exit 1; }

"$BIN" demo
echo "[run] server running on http://127.0.0.1:8080 (pid $(cat "$STATE_DIR/serve.pid")); stop it with scripts/stop.sh"
