#!/usr/bin/env bash
# Runs every test of the workspace, installing what the tests need first.
# This is the README's test command, and exactly what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-test-deps.sh
export EDGE_TEST_PYTHON="$PWD/.tools/venv/bin/python"

# The engine core must stay no_std-clean so that it can run on a sensor's microcontroller.
cargo build --quiet -p edge-rules --no-default-features
cargo test --workspace

# The Debian packages (issue 13): built with scripts/release.sh --profile ci, then checked,
# run under qemu-user and installed, upgraded and purged in a throwaway root. Needs root.
./scripts/test-packages.sh
