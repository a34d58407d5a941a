#!/usr/bin/env bash
# The waiting-page browser test's tools, installed where missing: Debian's
# chromium (headless) and npm's playwright-core, the latter into
# .stampede/browser/ (never globally). Prints what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null; then
    echo "[browser] installing chromium"
    apt() { if [ "$(id -u)" -eq 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
    # A fresh machine's package lists may be stale: refresh them once if needed.
    apt install -y chromium >/dev/null || { apt update >/dev/null && apt install -y chromium >/dev/null; }
fi
if [ ! -d .stampede/browser/node_modules/playwright-core ]; then
    echo "[browser] installing playwright-core into .stampede/browser"
    mkdir -p .stampede/browser
    npm install --prefix .stampede/browser --no-audit --no-fund playwright-core@1 >/dev/null
fi
echo "[browser] $(chromium --version), playwright-core $(node -p "require('./.stampede/browser/node_modules/playwright-core/package.json').version")"
