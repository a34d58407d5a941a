#!/usr/bin/env bash
# The main job: provision, build, migrate, start the payment-gateway
# simulator (`stampede pg-sim`, 127.0.0.1:8090) and `stampede serve`
# (127.0.0.1:8080) — restarting the ones this script started before — and
# run the demo. Both keep running afterwards; stop them with scripts/stop.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh
STATE_DIR="$PWD/.stampede"
BIN=target/release/stampede

echo "[run] building (release)"
cargo build --release --quiet -p stampede
"$BIN" migrate

bash scripts/stop.sh
start() { # name, then the command line
    local name=$1; shift
    echo "[run] starting stampede $name (logs: .stampede/$name.log)"
    nohup "$BIN" "$@" >"$STATE_DIR/$name.log" 2>&1 &
    echo $! >"$STATE_DIR/$name.pid"
}
start pg-sim pg-sim
# The local profile lets serve use the committed development JWT secret.
STAMPEDE__PROFILE="${STAMPEDE__PROFILE:-local}" start serve serve
# GET /ready over bash's /dev/tcp (a fresh machine may have no curl).
ready() {
    (exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /ready HTTP/1.0\r\n\r\n' >&3 && head -n1 <&3 | grep -q ' 200 ') 2>/dev/null
}
for _ in $(seq 1 120); do ready && break; sleep 0.5; done
ready || { echo "[run] server not ready; see .stampede/serve.log"; exit 1; }

"$BIN" demo
echo "[run] server on http://127.0.0.1:8080 (pid $(cat "$STATE_DIR/serve.pid")), pg-sim on http://127.0.0.1:8090; stop both with scripts/stop.sh"
