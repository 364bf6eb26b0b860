#!/usr/bin/env bash
# Installs the system packages sloth-runner builds against; with --test also what the test suite
# uses (Python's prometheus_client, to parse /metrics as Prometheus would; python3-venv, for
# schemathesis, which scripts/schemathesis.sh installs from PyPI; Chromium, its driver and
# selenium, for the web UI's browser tests, scripts/webui-tests.sh; PostgreSQL, for the PostgreSQL
# store's tests, scripts/postgres.sh). Idempotent: packages
# already present are left alone, so a second run costs one dpkg query.
set -euo pipefail

packages=(liblua5.4-dev libsqlite3-dev pkg-config sqlite3)
if [ "${1:-}" = "--test" ]; then packages+=(python3 python3-prometheus-client python3-venv chromium chromium-driver python3-selenium postgresql); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing system packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
