#!/usr/bin/env bash
# What stops DINO learning glyphs-dev-wild? (docs/benchmarks-robustness.md, "glyphs-dev-wild":
# colour, blur, local crops — one run per hypothesis, its overrides on the command line)
#
#   scripts/diag_wild_colour.sh NAME [OVERRIDE …]     e.g.  grey crops.grayscale_probability=1
#                                                           blur 'crops.blur_sigma=[0.014,0.29]'
#                                                           nolocal crops.local_count=0
#
# `dino` on glyphs-dev-wild, vit_nano_patch4, seed 0, the protocol's 10-epoch schedule stopped
# after 3 epochs (363 steps), then k-NN (k = 20) on wild and on a grey copy of it (made once).
# Appends "NAME colour|grey TOP1" to OUT/results.txt. About 10 minutes on one idle thread.
# Environment: DINO (default .build/release/dino), PYTHON (with pillow), OUT (runs/wild-diag),
# THREADS (1), DATASETS (../shared/datasets).
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=$(realpath "${DINO:-.build/release/dino}")
PYTHON=${PYTHON:-python3}
OUT=${OUT:-runs/wild-diag}
THREADS=${THREADS:-1}
W=$(realpath "${DATASETS:-../shared/datasets}/glyphs-dev-wild")
name=${1:?give a run name}; shift
mkdir -p "$OUT"
if [ ! -d "$OUT/grey/val" ]; then
    "$PYTHON" - "$W" "$OUT/grey" <<'PY'
import os, sys
from PIL import Image
src, dst = sys.argv[1:3]
for split in ("train", "val"):
    for c in sorted(os.listdir(f"{src}/{split}")):
        os.makedirs(f"{dst}/{split}/{c}", exist_ok=True)
        for f in os.listdir(f"{src}/{split}/{c}"):
            Image.open(f"{src}/{split}/{c}/{f}").convert("L").convert("RGB").save(f"{dst}/{split}/{c}/{f}")
PY
fi
"$DINO" train --method dino --model vit_nano_patch4 --data "$W/train" --out "$OUT/$name" --epochs 10 --max-steps 363 --seed 0 \
    --threads "$THREADS" --quiet "$@" > "$OUT/$name.log" 2>&1
for set in colour grey; do
    root=$W; [ $set = grey ] && root=$OUT/grey
    top1=$("$DINO" eval knn --train "$root/train" --val "$root/val" --run "$OUT/$name" --k 20 --json --threads "$THREADS" 2>/dev/null \
        | python3 -c "import json,sys; print(round(json.load(sys.stdin)['top1'], 2))")
    echo "$name $set $top1" | tee -a "$OUT/results.txt"
done
