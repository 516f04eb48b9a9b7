#!/usr/bin/env bash
# Quality benchmark of issue 6 on glyphs-dev: DINO vs DINOv2 (and distillation) with
# vit_nano_patch4, 2 global crops of 32 px + 6 local crops of 16 px, batch 64, 1024 prototypes;
# k-NN top-1 (k = 20) and linear segmentation mIoU on val after training. Results go to
# docs/benchmarks-dinov2.md by hand.
#
# Usage: scripts/bench_dinov2_glyphs.sh [EPOCHS] [OUT]   (defaults: 10, /tmp/bench-dinov2)
set -euo pipefail
EPOCHS=${1:-10}
OUT=${2:-/tmp/bench-dinov2}
DATA=${DATA:-../shared/datasets/glyphs-dev}
DINO=${DINO:-.build/release/dino}
swift build -c release --product dino
mkdir -p "$OUT"
run() {   # method, run dir, extra args…
  local method=$1 dir=$2; shift 2
  local start=$(date +%s)
  "$DINO" train --method "$method" --model vit_nano_patch4 --data "$DATA/train" --out "$dir" --epochs "$EPOCHS" --quiet "$@"
  echo "$method: $(( $(date +%s) - start )) s" | tee -a "$OUT/times.txt"
}
evaluate() {  # run dir
  "$DINO" eval knn --run "$1" --train "$DATA/train" --val "$DATA/val" --json | tee "$1/knn.json"
  "$DINO" eval segmentation --run "$1" --train "$DATA/train" --val "$DATA/val" --masks "$DATA/masks" --json | tee "$1/segmentation.json"
}
run dino "$OUT/dino"
run dinov2 "$OUT/dinov2" student.drop_path_rate=0.1
run distill "$OUT/distill" --teacher-run "$OUT/dinov2"
for r in dino dinov2 distill; do evaluate "$OUT/$r"; done
"$DINO" eval knn --model vit_nano_patch4 --train "$DATA/train" --val "$DATA/val" --json | tee "$OUT/random-knn.json"
