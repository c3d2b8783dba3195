#!/usr/bin/env bash
# The README's main job, end to end on built-in data: the `quick` study. Called by `make demo` after set-up.
# A re-run resumes (finished steps are skipped); `make clean` or another folder starts over.
set -euo pipefail
out="${1:-demo-out}"
.venv/bin/leaderboard reproduce --preset quick --out "$out"
echo "demo outputs in $out/ (open $out/report/index.html)"
