#!/usr/bin/env bash
# The web UI's browser tests: Chromium headless, chromium-driver and selenium (Debian packages,
# installed by scripts/install-system-deps.sh --test) against the built `sloth-runner serve`.
# Screenshots of each test's page go to artifacts/screenshots/ (kept in the workspace; the
# README shows two of them). Needs `swift build` first (test.sh runs it after the suite).
set -euo pipefail
cd "$(dirname "$0")/.."
export SLOTH_RUNNER_BIN="$(swift build --show-bin-path)/sloth-runner"
export SCREENSHOTS="${SCREENSHOTS:-$PWD/artifacts/screenshots}"
mkdir -p "$SCREENSHOTS"
# Debian's interpreter, where python3-selenium is installed (a python3 earlier on PATH may be another).
/usr/bin/python3 Tests/WebUI/webui_test.py "$@"
