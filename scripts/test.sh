#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs system packages, builds the package
# (the black-box tests drive the built `sloth-runner` binary), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-system-deps.sh --test
# A throw-away PostgreSQL cluster for the PostgreSQL store's tests (the shared store suite runs
# against it as well as SQLite; the multi-node tests start serve nodes on it), on a unix socket
# in a fresh directory, removed when the run ends, whatever its outcome.
pg_dir="$(mktemp -d /tmp/sloth-test-pg.XXXXXX)"
trap './scripts/postgres.sh destroy "$pg_dir"' EXIT
SLOTH_RUNNER_TEST_POSTGRES_URL="$(./scripts/postgres.sh start "$pg_dir")"
export SLOTH_RUNNER_TEST_POSTGRES_URL
swift build --build-tests
# The embedding example must build on the library's public API alone (not its `package` parts).
./scripts/check-public-api.sh
swift test --skip-build
# The HTTP API against its OpenAPI document, with generated input (schemathesis from PyPI).
./scripts/schemathesis.sh
# The web UI in a real browser (Chromium headless, chromium-driver, selenium); screenshots in
# artifacts/screenshots/.
./scripts/webui-tests.sh
