#!/usr/bin/env bash
# The main job in one command: firmware-sim's demo plant (a motor, a pump and a fan behind a
# Modbus TCP gateway and an RTU bus on a pseudo-terminal) and the agent polling it, running
# the shipped rules, spooling every event durably and printing what it would send as JSON
# lines (no [mqtt] section: the embedded stdout sink stands in for the broker).
#
# The motor's bearing starts to fail 10 s in; its vibration crosses ISO zone C after about
# 80 s and D after about 90 s (plant time runs 30x faster). Expect the alerts within about
# three minutes. Usage: scripts/demo.sh [SECONDS]   (default 240; Ctrl-C stops it early)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-240}

cargo build --quiet --release -p edge-agent -p firmware-sim
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

target/release/firmware-sim --scenario firmware-sim/scenarios/demo.toml \
  --modbus-tcp "gateway=127.0.0.1:$port" --rtu-link "$work/rtu" \
  --serial-link "accel-motor=$work/accel" --serial-link "temp-pump=$work/probe" --truth "$work/truth.jsonl" \
  > "$work/firmware-sim.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true; wait $sim 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q '^ready' "$work/firmware-sim.log" && break; sleep 0.1; done
grep -q '^ready' "$work/firmware-sim.log" || { cat "$work/firmware-sim.log" >&2; exit 1; }

sed -e "s#@TCP@#127.0.0.1:$port#" -e "s#@RTU@#$work/rtu#" -e "s#@DATA@#$work/data#" \
    -e "s#@ACCEL@#$work/accel#" -e "s#@PROBE@#$work/probe#" \
    -e "s#@RULES@#$PWD/rules#" deploy/demo/agent.toml.in > "$work/agent.toml"

echo "demo: plant and agent running for ${seconds}s; events below (work dir $work)" >&2
timeout -s INT "$seconds" target/release/edge-agent run --config "$work/agent.toml" 2> "$work/agent.log" \
  | tee "$work/events.jsonl" || true

echo >&2
echo "demo: $(grep -c '"kind":"alert"' "$work/events.jsonl" || true) alert transitions," \
  "$(grep -c '"kind":"features"' "$work/events.jsonl" || true) feature sets," \
  "$(grep -c '"kind":"health"' "$work/events.jsonl" || true) health events" >&2
echo "demo: the simulator's ground truth (fault intervals):" >&2
cat "$work/truth.jsonl" >&2
