#!/usr/bin/env bash
# The whole test suite against real MariaDB, Redis and a Kafka-protocol
# broker (provisioned first). Tests create their own databases, topics and
# groups with unique names, so they run in parallel and re-run cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh

# Test databases of earlier runs (nothing else is named like this).
if command -v mariadb >/dev/null; then
    mariadb -h127.0.0.1 -uroot -N -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'stampede\\_test\\_%'" \
        | while read -r db; do mariadb -h127.0.0.1 -uroot -e "DROP DATABASE \`$db\`"; done || true
fi

cargo fmt --all -- --check
# nextest runs every test in its own process: the tests read the process's
# Prometheus registry, which one shared `cargo test` process would mix up.
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "[test] installing cargo-nextest (once per machine)"
    cargo install cargo-nextest --locked
fi
cargo nextest run --workspace --no-fail-fast --profile ci
