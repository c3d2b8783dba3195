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

# Warm start of tofnet-sds: the second shipped tofnet (commit d55ac58), itself fine-tuned on these frames from the
# first (commit c55028b, 3,200 frames of the previous rooms) with d55ac58's recipe. nlspn-small-sds starts from
# scratch (step 3).
mkdir -p "$W/init"
[ -f "$W/init/tofnet-sds-v2.pt" ] || git show "d55ac58:completion/pretrained/tofnet-sds.pt" > "$W/init/tofnet-sds-v2.pt"

# 2. float32 tofnet (CPU: bfloat16 forward; see the recipe)
$BIN/completion train --config completion/pretrained/recipes/tofnet-sds.toml --data "$W/data" \
  --out "$W/tofnet-sds" --init-from "$W/init/tofnet-sds-v2.pt" $(resume "$W/tofnet-sds")

# 3. NLSPN-small (its own recipe, from scratch with init_fill) on the v4 rooms in $W4 (default work/ship4: 6,000
#    frames of recipes/data-sds-v4.toml, seed 104); SHIP_NLSPN=0 keeps the shipped one
W4="${SHIP4_DIR:-work/ship4}"
if [ "${SHIP_NLSPN:-1}" != 0 ]; then
  if [ ! -f "$W4/data/manifest.json" ]; then
    $BIN/tofsim generate --preset sds --config completion/pretrained/recipes/data-sds-v4.toml --frames 6000 \
      --frames-per-scene 4 --seed 104 --workers 2 --out "$W4/data"
    cat > "$W4/data.json" <<JSON
{"command": "tofsim generate --preset sds --config completion/pretrained/recipes/data-sds-v4.toml --frames 6000 --frames-per-scene 4 --seed 104 --out DATA",
 "preset": "sds", "config": "completion/pretrained/recipes/data-sds-v4.toml", "seed": 104, "frames": 6000,
 "frames_per_scene": 4, "splits": "by room, train/val/test 0.8/0.1/0.1", "scene_code": "tofsim at commit $(git rev-parse --short HEAD)"}
JSON
  fi
  $BIN/completion train --config completion/pretrained/recipes/nlspn-small-sds.toml --data "$W4/data" \
    --out "$W4/nlspn-small-sds" $(resume "$W4/nlspn-small-sds")
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
