#!/usr/bin/env bash
# The README's main job, end to end on built-in data: the shipped trained models (float32, W8A8, W4A8, W4A4, W*,
# NLSPN-small; sha256 checked against their model cards) against nearest, linear and IP-Basic, on freshly generated
# 640 x 480 rooms and on the real 7-Scenes frames. Called by `make demo` after set-up. A re-run resumes (finished
# steps are skipped); `make clean` or another folder starts over. Training from scratch: --preset quick / standard.
set -euo pipefail
out="${1:-demo-out}"
.venv/bin/leaderboard reproduce --preset shipped --out "$out"
echo "demo outputs in $out/ (open $out/report/index.html; tables in $out/results.md)"
