#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs system packages, builds the package
# (the black-box tests drive the built `sloth-runner` binary), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-system-deps.sh --test
swift build --build-tests
# The embedding example must build on the library's public API alone (not its `package` parts).
./scripts/check-public-api.sh
swift test --skip-build
# The HTTP API against its OpenAPI document, with generated input (schemathesis from PyPI).
./scripts/schemathesis.sh
# The web UI in a real browser (Chromium headless, chromium-driver, selenium); screenshots in
# artifacts/screenshots/.
./scripts/webui-tests.sh
