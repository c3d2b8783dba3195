#!/usr/bin/env bash
# The README's main job, end to end on built-in data. Called by `make demo` after set-up.
set -euo pipefail
out="${1:-demo-out}"
bin=.venv/bin
mkdir -p "$out"
if "$bin/leaderboard" reproduce --help >/dev/null 2>&1; then
  "$bin/leaderboard" reproduce --preset quick --out "$out"
else
  "$bin/tofsim" generate --preset sds --frames 24 --seed 0 --out "$out/dataset"
  "$bin/tofsim" preview "$out/dataset" --out "$out/preview.png"
  "$bin/tofsim" info "$out/dataset" | tee "$out/summary.txt"
fi
echo "demo outputs in $out/"
