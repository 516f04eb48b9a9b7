#!/usr/bin/env bash
# `make demo`: DINO pretraining of vit_nano_patch4 on the bundled glyphs-mini set (416 training
# images of 26 letters, 156 validation images of unseen typefaces) for a few minutes, with the
# weighted k-NN accuracy of the frozen teacher before and after.
#
# DINO with its automatic settings for a set this size — among them DINOv2's KoLeo regulariser
# (weight 0.1, named here), which is what lets DINO learn a small set in a short run
# (docs/benchmarks-dino.md, "KoLeo"), and DINOv2's learning rate (docs/benchmarks-robustness.md);
# KOLEO=0 runs the same without KoLeo.
#
# Usage: scripts/demo.sh [MINUTES]   (default 4; DINO=path/to/dino, RUN=run directory, KOLEO=weight)
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=${DINO:-.build/release/dino}
RUN=${RUN:-runs/demo}
MINUTES=${1:-${MINUTES:-4}}
DATA=data/glyphs-mini
KOLEO=${KOLEO:-0.1}
# Epochs sized to the time budget on an idle 2-core machine (about 8 s an epoch); the budget
# stops the run cleanly, with a checkpoint, when the machine is slower.
EPOCHS=${EPOCHS:-$(python3 -c "print(max(2, int($MINUTES * 60 / 8)))" 2>/dev/null || echo 30)}

rm -rf "$RUN"
echo "== DINO demo: vit_nano_patch4 on $DATA, $EPOCHS epochs, at most $MINUTES minutes, KoLeo weight $KOLEO"
# Step 0: the initial weights, saved as a checkpoint, give the "before" figure.
"$DINO" train --model vit_nano_patch4 --data "$DATA/train" --out "$RUN" --epochs "$EPOCHS" \
    --batch-size 32 --max-steps 0 --quiet koleo_loss_weight="$KOLEO" > /dev/null 2>&1
echo "== k-NN of the randomly initialised teacher (before):"
"$DINO" eval knn --train "$DATA/train" --val "$DATA/val" --run "$RUN" --k 20,10 2>/dev/null | tail -3
"$DINO" train --data "$DATA/train" --out "$RUN" --resume --max-minutes "$MINUTES"
echo "== k-NN of the trained teacher (after):"
"$DINO" eval knn --train "$DATA/train" --val "$DATA/val" --run "$RUN" --k 20,10 2>/dev/null | tail -3
echo "== metrics: $RUN/metrics.jsonl, TensorBoard: tensorboard --logdir $RUN/tensorboard"
