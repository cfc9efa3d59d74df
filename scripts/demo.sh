#!/usr/bin/env bash
# The main job in one command: `edge-agent demo` (see agent/src/cli/demo/mod.rs), built in
# release with cargo's own progress shown. It starts firmware-sim's demo plant (a motor, a pump
# and a fan behind a Modbus TCP gateway, an RTU bus on a pseudo-terminal and two serial
# sensors), an embedded MQTT broker and the agent with the shipped rules and its status page
# (http://127.0.0.1:9180/, or a free port if that one is busy; the address is printed). The
# terminal shows each alert as one line. The motor's bearing starts to fail 10 s in; its ISO
# zone alerts follow within about two minutes.
#
# Usage: scripts/demo.sh [SECONDS] [more `edge-agent demo` options]   (default: until Ctrl-C)
# Honours CARGO_TARGET_DIR (cargo runs the binary it built, wherever that is).
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
  args+=(--seconds "$1")
  shift
fi
echo "demo: building edge-agent in release (the first build takes a few minutes)..." >&2
exec cargo run --release -p edge-agent -- demo "${args[@]}" "$@"
