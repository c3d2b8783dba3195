#!/usr/bin/env bash
# Package the runs of scripts/train_shipped.sh as the shipped pretrained models with their cards, then score them
# (scripts/evaluate_shipped.py writes the test metrics into the cards). Usage: bash scripts/ship_all.sh [WORK_DIR]
set -euo pipefail
W="${1:-work/ship}"
PY=.venv/bin/python
R=completion/pretrained/recipes
ship() {  # run name summary recipe parent command...
  local run=$1 name=$2 summary=$3 recipe=$4 parent=$5; shift 5
  [ -f "$W/$run/best.pt" ] || { echo "skip $name: $W/$run/best.pt not found"; return; }
  local cmds=(); for c in "$@"; do cmds+=(--command "$c"); done
  $PY scripts/ship_pretrained.py "$W/$run" "$name" --summary "$summary" --recipe "$recipe" \
    --data-json "$W/data.json" ${parent:+--parent "$parent"} "${cmds[@]}"
}
DATA="tofsim generate --preset sds --frames ${SHIP_FRAMES:-8000} --frames-per-scene 4 --seed 100 --out DATA"
INIT2="git show d55ac58:completion/pretrained/tofnet-sds.pt > INIT  # the second shipped tofnet-sds, the warm start"
TRAIN="completion train --config $R/tofnet-sds.toml --data DATA --out RUN --init-from INIT"
ship tofnet-sds tofnet-sds \
  "tofnet float32 (base width 16, linear + nearest fills, spot-status channels) trained on 640x480 sds rooms" \
  recipes/tofnet-sds.toml "" "$DATA" "$INIT2" "$TRAIN"
for bits in w8a8 w4a8 w4a4 wstar; do
  ship "tofnet-sds-$bits" "tofnet-sds-$bits" "tofnet-sds quantized ($bits): calibration + 1 QAT epoch" \
    recipes/tofnet-sds.toml tofnet-sds "$DATA" "$INIT2" "$TRAIN" \
    "completion quantize --from RUN --bits $bits --out QRUN --epochs 1 --max-train-samples 480 --max-val-samples 16"
done
[ "${SHIP_NLSPN:-1}" != 0 ] || { echo "nlspn-small-sds: kept as shipped (SHIP_NLSPN=0)"; exit 0; }
W="${SHIP4_DIR:-work/ship4}"  # nlspn-small-sds trains on the v4 rooms (scripts/train_shipped.sh, step 3)
DATA4="tofsim generate --preset sds --config $R/data-sds-v4.toml --frames 6000 --frames-per-scene 4 --seed 104 --out DATA"
ship nlspn-small-sds nlspn-small-sds \
  "nlspn-small (initial depth = linear fill + learned correction, init_fill) trained from scratch on sds rooms" \
  recipes/nlspn-small-sds.toml "" "$DATA4" \
  "completion train --config $R/nlspn-small-sds.toml --data DATA --out RUN"
