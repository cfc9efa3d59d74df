#!/usr/bin/env bash
# The Modbus load benchmark (docs/benchmarks.md) in one command: Modbus TCP transactions/s
# of the agent's poll loop next to a bare tokio-modbus client loop against firmware-sim's
# gateway, then the CPU and memory of `edge-agent run` polling 100 devices x 20 registers at
# 10 Hz, at each spool durability. Everything runs on 127.0.0.1; about 5 minutes after the
# build. Arguments go to the harness, e.g. `--seconds 20 --warm-up 5` or `--only throughput`
# (see agent/examples/modbus_load/main.rs). Run it on a quiet machine: the figures are CPU
# shares and the server shares the cores.
#
# Honours CARGO_TARGET_DIR: the binaries are found where cargo says it builds.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "bench-modbus: building edge-agent and the harness in release..." >&2
cargo build --release -p edge-agent --bin edge-agent --example modbus_load
target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
exec "$target_dir/release/examples/modbus_load" --agent "$target_dir/release/edge-agent" "$@"
