#!/usr/bin/env bash
# The NAB-style SKAB figures of docs/detection.md in one command: `edge-agent replay` with the default rules
# on `Accelerometer1RMS` and `Temperature`, scored by the shared scorer
# (../shared/tools/nab-score), next to control detectors that never read a value (a fixed
# time after the start; one random row per file, three seeds). Takes about a minute after
# the release build. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
scorer=${NAB_SCORE_DIR:-../shared/tools/nab-score}/score-skab.sh
[ -x "$scorer" ] || [ -f "$scorer" ] || { echo "skab-nab: no scorer at $scorer (set NAB_SCORE_DIR)" >&2; exit 2; }
echo "skab-nab: building edge-agent in release..." >&2
cargo build --release -p edge-agent --bin edge-agent
target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
agent="$target_dir/release/edge-agent"
controls="$PWD/scripts/nab_controls.py"
score() {
  printf '\n== %s\n' "$1"
  bash "$scorer" "$2" 2>/dev/null
}
score "edge-agent replay, default rules" "$agent replay --input {input}"
score "control: one alert 10 minutes after the start, values unread" "python3 $controls fixed 600 {input}"
for seed in 1 2 3; do
  score "control: one alert on a random row per file (seed $seed), values unread" "python3 $controls random $seed {input}"
done
