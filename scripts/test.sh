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

# Test topics of earlier runs (`t<12 hex>.…`): a broker keeps a file open
# per partition, and a few runs' worth would reach the open-file limit.
if [ -f .stampede/broker ] && grep -q '^apache-kafka' .stampede/broker; then
    bash scripts/broker.sh delete-topics 't[0-9a-f]{12}\..*' 2>/dev/null || true
    [ -d .stampede/cluster ] && grep -q running <(bash scripts/cluster.sh status) \
        && { source scripts/kafka/lib.sh; kafka_delete_topics 127.0.0.1:19092 't[0-9a-f]{12}\..*' 2>/dev/null || true; }
fi

cargo fmt --all -- --check
# nextest runs every test in its own process: the tests read the process's
# Prometheus registry, which one shared `cargo test` process would mix up.
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "[test] installing cargo-nextest (once per machine)"
    cargo install cargo-nextest --locked
fi
# Headless chromium and playwright-core for the waiting-page test.
bash scripts/browser.sh
status=0
echo "[test] the suite, in parallel (broker: $(cat .stampede/broker 2>/dev/null || echo unknown))"
cargo nextest run --workspace --no-fail-fast --profile ci -E 'not (binary(cluster) | binary(fleet) | binary(crash))' || status=$?
# Tests that stop and start shared services (the brokers, MariaDB, Redis),
# or run three instances at once, run one at a time, after the rest.
echo "[test] broker failures on the three-node cluster, three instances (and Redis Cluster), then crashes, one test at a time"
cargo nextest run -p stampede --test cluster --test fleet --test crash --no-fail-fast --profile ci --test-threads 1 || status=$?
# The OpenAPI contract against a real serve: no undocumented status, no
# schema mismatch, no 5xx (scripts/schemathesis.sh; its log keeps the details).
echo "[test] schemathesis: all checks against /openapi.json of a real serve"
if bash scripts/schemathesis.sh >.stampede/schemathesis.log 2>&1; then
    echo "[test] schemathesis: passed ($(tail -n 1 .stampede/schemathesis.log | tr -d '=' | xargs))"
else
    status=1
    echo "[test] schemathesis: FAILED ($(tail -n 1 .stampede/schemathesis.log | tr -d '=' | xargs)); see .stampede/schemathesis.log"
    # What failed, and how to reproduce it, where CI shows only this output.
    sed -n '/^=* FAILURES =*$/,/^=* WARNINGS =*$/p' .stampede/schemathesis.log | head -n 120
    grep -m 20 -E ' ERROR |panicked' .stampede/schemathesis-serve.log 2>/dev/null || true
fi
if [ "$status" -eq 0 ]; then echo "[test] all passed"; else echo "[test] FAILED (see the Summary lines above)"; fi
exit "$status"
