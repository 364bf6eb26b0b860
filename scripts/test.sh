#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs system packages, builds the package
# (the black-box tests drive the built `sloth-runner` binary), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-system-deps.sh
swift build --build-tests
swift test --skip-build
