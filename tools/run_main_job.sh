#!/usr/bin/env bash
# The main job (README): on a fresh machine, install what is missing,
# generate the synthetic dataset, train the full AIMS on CPU, write pictures
# of a few validation images at all three levels, and evaluate, ending with
# the FederatedMetric table.
#
#   bash tools/run_main_job.sh [CONFIG] [WORK_DIR]
#
# CONFIG defaults to configs/aims/aims_r18_synthetic.py (the full model);
# configs/aims/aims_r18_synthetic_baseline.py is the Sec. 3.1 baseline.
# An interrupted run continues from its last checkpoint when started again.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG="${1:-configs/aims/aims_r18_synthetic.py}"
NAME="$(basename "$CONFIG" .py)"
WORK_DIR="${2:-work_dirs/$NAME}"
DATA=data/aims_synthetic
VENV="${MMAIMS_VENV:-$REPO/.venv}"
PY="$VENV/bin/python"
cd "$REPO"
start=$(date +%s)
stamp() { echo "[main job] $(( $(date +%s) - start )) s: $*"; }

bash tools/install.sh

if [ -f "$DATA/annotations/train.json" ] && [ -f "$DATA/annotations/val.json" ]; then
  stamp "synthetic dataset already in $DATA"
else
  stamp "generating the synthetic dataset in $DATA"
  "$PY" tools/misc/make_synthetic_dataset.py "$DATA" --num-images 1000 \
    --seed 0 --no-progress
fi

stamp "training $CONFIG in $WORK_DIR"
RESUME=()
[ -f "$WORK_DIR/last_checkpoint" ] && RESUME=(--resume)
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "${RESUME[@]}"
CKPT="$(cat "$WORK_DIR/last_checkpoint")"

stamp "drawing 4 validation images with $CKPT"
"$PY" demo/image_demo.py "$DATA"/images/val/00000{1,2,3,4}.png "$CONFIG" \
  --weights "$CKPT" --out-dir "$WORK_DIR/vis" --device cpu

mkdir -p "$WORK_DIR/test"
stamp "evaluating $CKPT on the validation split"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" \
  --out "$WORK_DIR/test/predictions.json" 2>&1 | tee "$WORK_DIR/test/test.log"
stamp "done: pictures in $WORK_DIR/vis, predictions and metrics in $WORK_DIR/test"
