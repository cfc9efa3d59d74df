#!/usr/bin/env bash
# The main job as far as it runs today: a real pump recording (SKAB, beside this checkout at
# ../shared/data/skab) through the shipped default rules, exactly as the live agent runs them,
# each alert transition printed as one wire-shape JSON line. Needs no server.
# Usage: scripts/demo.sh [RECORDING.csv]
set -euo pipefail
cd "$(dirname "$0")/.."
recording=${1:-../shared/data/skab/data/valve1/0.csv}
if [ ! -f "$recording" ]; then
  echo "demo: no recording at $recording; pass a CSV file (timestamp,value or a wide file)" >&2
  exit 2
fi
cargo build --quiet --release -p edge-agent
exec target/release/edge-agent replay --input "$recording" \
  --sensor Accelerometer1RMS,Accelerometer2RMS,Temperature,Thermocouple
