#!/usr/bin/env bash
# The footprint of `edge-agent demo` (docs/benchmarks.md, "Footprint during the demo"): the binary's size,
# then the demo process's CPU and resident memory over a window with the status page closed
# and a window with it open. "Open" is what a browser tab does: the server-sent event stream
# read continuously, the selected sensor's trend fetched every 3 s, plus a Prometheus scrape
# of /metrics every 15 s. The demo process holds the plant simulator and the MQTT broker too,
# so the figures are an upper bound for the agent alone. Loopback only; about 2.5 minutes.
#
# Usage: scripts/demo-footprint.sh [WINDOW_SECONDS]   (default 45; honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
window=${1:-45}
echo "footprint: building edge-agent in release..." >&2
cargo build --release -p edge-agent --bin edge-agent
target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
bin="$target_dir/release/edge-agent"
work=$(mktemp -d)
trap 'kill "$demo" 2>/dev/null || true; kill "$events" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin" demo --listen 127.0.0.1:0 --data-dir "$work/demo" --seconds $((window * 2 + 60)) > "$work/out" 2>&1 &
demo=$!
for _ in $(seq 100); do grep -q "status page" "$work/out" && break; sleep 0.1; done
url=$(grep "status page" "$work/out" | awk '{print $3}')
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$demo/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$demo/status"; }

# One window: CPU % of a core and RSS (mean and max of one sample a second).
measure() {
  local label=$1 t0 t1 sum=0 max=0 n=0 r
  t0=$(ticks)
  for _ in $(seq "$window"); do
    sleep 1
    r=$(rss_kib); sum=$((sum + r)); n=$((n + 1)); ((r > max)) && max=$r
  done
  t1=$(ticks)
  awk -v l="$label" -v d=$((t1 - t0)) -v hz="$hz" -v w="$window" -v s="$sum" -v n="$n" -v m="$max" \
    'BEGIN { printf "| %s | %.1f %% | %.1f MiB | %.1f MiB |\n", l, 100 * d / hz / w, s / n / 1024, m / 1024 }'
}

echo "footprint: warming up 20 s (the plant, the broker and the agent start)" >&2
sleep 20
echo "| binary | size |"
echo "|---|---|"
echo "| \`edge-agent\` (release, default features: demo included) | $(du -k "$bin" | cut -f1) KiB |"
echo
echo "| demo process ($window s window) | CPU (of one core) | RSS mean | RSS max |"
echo "|---|---|---|---|"
measure "status page closed"
curl -sN "${url}api/events" > /dev/null &
events=$!
(
  i=0
  while kill -0 "$demo" 2>/dev/null; do
    curl -s "${url}api/trend?sensor=motor1.de.velocity" > /dev/null || true
    ((i % 5 == 0)) && { curl -s "${url}metrics" > /dev/null || true; }
    i=$((i + 1)); sleep 3
  done
) &
measure "status page open (events, trend every 3 s, /metrics every 15 s)"
