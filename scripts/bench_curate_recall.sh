#!/usr/bin/env bash
# Issue 14's recall check on real embeddings: 100 000 images — every image of the shared data
# sets (glyphs-dev, glyphs-dev-wild, digits, scenes-dev, videos-dev frames: 22 813) and random
# crops of the 15 photos (10–60 % of the shorter side, anywhere, 32 px) to fill up — embedded
# with a trained backbone, then `dino curate recall` (k 64, 2000 sampled queries searched over
# all rows) for each approximate index against exact search.
#
#   scripts/bench_curate_recall.sh WEIGHTS [MODEL]
#
# WEIGHTS: a backbone (.safetensors, e.g. `dino export --run RUN`); MODEL its preset if the file
# does not store it (default vit_nano_patch4). Image size 32. Environment: DINO (binary, default
# .build/release/dino), PYTHON (with numpy and pillow), OUT (default runs/curate-recall), N
# (100000), DATASETS (../shared/datasets).
# Budget (2 cores, idle): crops about 1 minute, embedding about 2 minutes, each recall under a
# minute.
set -euo pipefail
cd "$(dirname "$0")/.."
WEIGHTS=${1:?usage: scripts/bench_curate_recall.sh WEIGHTS [MODEL]}
MODEL=${2:-vit_nano_patch4}
DINO=${DINO:-.build/release/dino}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-runs/curate-recall}
N=${N:-100000}
DATASETS=${DATASETS:-../shared/datasets}
mkdir -p "$OUT/crops"

if [ ! -s "$OUT/pool.txt" ]; then
    "$PYTHON" - "$DATASETS" "$OUT" "$N" <<'PY'
import os, random, sys
from PIL import Image
datasets, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
real = []
for root, _, files in os.walk(datasets):
    if any(part in root.split(os.sep) for part in ("masks", "depth", "Annotations")):
        continue
    for f in files:
        if f.lower().endswith((".png", ".jpg", ".jpeg")) and "photos" not in root.split(os.sep):
            real.append(os.path.abspath(os.path.join(root, f)))
real.sort()
photos = sorted(os.path.join(datasets, "photos", f) for f in os.listdir(os.path.join(datasets, "photos")))
images = [Image.open(p).convert("RGB") for p in photos]
rng = random.Random(0)
crops = []
for i in range(max(0, n - len(real))):
    im = images[i % len(images)]
    w, h = im.size
    side = int(min(w, h) * rng.uniform(0.10, 0.60))
    x, y = rng.randrange(w - side + 1), rng.randrange(h - side + 1)
    path = os.path.abspath(os.path.join(out, "crops", f"{i:06d}.png"))
    im.crop((x, y, x + side, y + side)).resize((32, 32), Image.BICUBIC).save(path)
    crops.append(path)
with open(os.path.join(out, "pool.txt"), "w") as f:
    f.write("\n".join(real + crops) + "\n")
print(f"{len(real)} images of the data sets, {len(crops)} photo crops")
PY
fi
if [ ! -s "$OUT/embeddings.safetensors" ]; then
    "$DINO" embed --model "$MODEL" --weights "$WEIGHTS" --data "$OUT/pool.txt" --image-size 32 --batch-size 256 \
        --out "$OUT/embeddings.safetensors"
fi
for index in ivf faiss-ivf hnsw; do
    echo "== $index"
    "$DINO" curate recall --embeddings "$OUT/embeddings.safetensors" --index "$index" --k 64
done
