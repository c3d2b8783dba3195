#!/usr/bin/env bash
# The recorded recipe of the shipped pretrained models (model cards: completion/pretrained/*.json,
# docs/model-cards.md). Every step resumes from its checkpoint or is skipped when its output is complete,
# so after a restart run the same command again. Usage: bash scripts/train_shipped.sh [WORK_DIR]
set -euo pipefail
W="${1:-work/ship}"
BIN=.venv/bin
FRAMES="${SHIP_FRAMES:-8000}"
QAT_SAMPLES="${SHIP_QAT_SAMPLES:-480}"
mkdir -p "$W"

# 1. Training data: default `sds` rooms at 640 x 480, 4 frames per room, split by room 80/10/10. The test sets of
#    the cards use other seeds (scripts/evaluate_shipped.py), so no scored room was ever trained on.
if [ ! -f "$W/data/manifest.json" ]; then
  $BIN/tofsim generate --preset sds --frames "$FRAMES" --frames-per-scene 4 --seed 100 --out "$W/data"
  cat > "$W/data.json" <<JSON
{"command": "tofsim generate --preset sds --frames $FRAMES --frames-per-scene 4 --seed 100 --out DATA",
 "preset": "sds", "seed": 100, "frames": $FRAMES, "frames_per_scene": 4, "splits": "by room, train/val/test 0.8/0.1/0.1",
 "scene_code": "tofsim at commit $(git rev-parse --short HEAD)"}
JSON
fi

resume() { [ -f "$1/last.pt" ] && echo --resume || true; }

# Warm starts. tofnet-sds: the second shipped tofnet (commit d55ac58), itself fine-tuned on these frames from the
# first (commit c55028b, 3,200 frames of the previous rooms) with d55ac58's recipe. nlspn-small-sds: the first
# shipped one (commit c55028b); the shipped nlspn is d55ac58's run of its recipe from it.
mkdir -p "$W/init"
[ -f "$W/init/tofnet-sds-v2.pt" ] || git show "d55ac58:completion/pretrained/tofnet-sds.pt" > "$W/init/tofnet-sds-v2.pt"
[ -f "$W/init/nlspn-small-sds-v1.pt" ] || git show "c55028b:completion/pretrained/nlspn-small-sds.pt" \
  > "$W/init/nlspn-small-sds-v1.pt"

# 2. float32 tofnet (CPU: bfloat16 forward; see the recipe)
$BIN/completion train --config completion/pretrained/recipes/tofnet-sds.toml --data "$W/data" \
  --out "$W/tofnet-sds" --init-from "$W/init/tofnet-sds-v2.pt" $(resume "$W/tofnet-sds")

# 3. NLSPN-small on the same data (its own recipe, a comparable budget); SHIP_NLSPN=0 keeps the shipped one
if [ "${SHIP_NLSPN:-1}" != 0 ]; then
  $BIN/completion train --config completion/pretrained/recipes/nlspn-small-sds.toml --data "$W/data" \
    --out "$W/nlspn-small-sds" --init-from "$W/init/nlspn-small-sds-v1.pt" $(resume "$W/nlspn-small-sds")
fi

# 4. Quantized versions of the float model: calibration + one QAT epoch on a subset of the training rooms
for bits in w8a8 w4a8 w4a4 wstar; do
  if [ ! -f "$W/tofnet-sds-$bits/memory.json" ]; then
    rm -rf "$W/tofnet-sds-$bits"
    $BIN/completion quantize --from "$W/tofnet-sds" --bits $bits --out "$W/tofnet-sds-$bits" --epochs 1 \
      --max-train-samples "$QAT_SAMPLES" --max-val-samples 16
  fi
done
echo "trained: $W (ship with scripts/ship_all.sh $W, then score with scripts/evaluate_shipped.py)"
