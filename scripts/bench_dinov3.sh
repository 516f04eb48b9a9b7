#!/usr/bin/env bash
# DINOv3 benchmarks of issue 12 (docs/dinov3.md), for the lead to run: dense quality of
# `dinov3` against `dinov2` at equal epochs, and what Gram anchoring does over a long run.
#
# Data: ../shared/datasets/scenes-dev at 32 px (the 64-px scenes are downscaled by the crops:
# crops.global_size=32, local 16 px, 6 local crops), dense probes on scenes-dev/val
# (linear segmentation mIoU with scenes-dev/masks, linear depth RMSE with scenes-dev/depth)
# and weighted k-NN (k=20) on glyphs-dev. Model: vit_nano_patch4 for dinov2 and
# dinov3_vit_nano_patch4 (the same sizes in DINOv3's layout) for dinov3; batch 64.
#
#   scripts/bench_dinov3.sh train METHOD RUN EPOCHS [EVAL_EVERY] [key=value …]
#       trains METHOD into RUN one epoch at a time (resuming) and evaluates every EVAL_EVERY
#       epochs (default 2): RUN/eval-per-epoch.jsonl, one line {"epoch", "step",
#       "train_seconds", "segmentation": {…}, "depth": {…}, "knn": {…}} per evaluation.
#       Extra arguments go to `dino train` (e.g. --from RUN0 gram.use_loss=true).
#   scripts/bench_dinov3.sh compare OUT [EPOCHS] [SEEDS]
#       dinov2 against dinov3, EPOCHS (default 20) each, seeds 0..SEEDS-1 (default 1; run 3
#       where the arms differ by less than 3 points): OUT/{dinov2,dinov3}-seed*/.
#   scripts/bench_dinov3.sh gram OUT [BASE_EPOCHS] [EPOCHS]
#       Gram anchoring: a dinov3 run of BASE_EPOCHS (default 10) in OUT/base, then two
#       continuations from it (`--from`, same fresh optimiser and schedules) of EPOCHS
#       (default 30) each: OUT/plain (no Gram) and OUT/gram (gram.use_loss=true: the Gram
#       teacher is OUT/base's teacher — the snapshot rule, fixed before the run — refreshed
#       from the EMA teacher every 10 epochs, at most 2 times, img_level true, weight 0 → 2
#       over the first epoch as the anchoring config ramps it). Dense metrics every 2 epochs;
#       then OUT/gram.png (mIoU and depth RMSE against epoch, both arms) and OUT/gram.md.
#
# Budget (2 cores, about 45 images/s for dinov2 on vit_nano_patch4 at 32 px, batch 64;
# dinov3 a little slower, the Gram arm one extra teacher forward per step): scenes-dev/train
# has 3000 images = 46 steps per epoch ≈ 70 s. `compare` with 20 epochs: ≈ 25 min per arm and
# seed plus ≈ 1 min per evaluation (10 per arm) ≈ 35 min per arm. `gram` with 10 + 30 epochs:
# base ≈ 15 min, each arm ≈ 40 min with its 15 evaluations. Every arm fits 45 minutes.
#
# Environment: DINO (binary, default .build/release/dino), SCENES (default
# ../shared/datasets/scenes-dev), GLYPHS (default ../shared/datasets/glyphs-dev), THREADS
# (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=${DINO:-.build/release/dino}
SCENES=${SCENES:-../shared/datasets/scenes-dev}
GLYPHS=${GLYPHS:-../shared/datasets/glyphs-dev}
THREADS=${THREADS:-$(nproc)}
mode=${1:-}

newest_state() {  # newest_state RUN KEY → the value of KEY in the newest train state
    python3 -c "import json,os,sys; d=sys.argv[1]+'/checkpoints'; f=sorted(x for x in os.listdir(d) if x.endswith('.json'))[-1]; print(json.load(open(os.path.join(d,f)))[sys.argv[2]])" "$1" "$2"
}
evaluate() {  # evaluate RUN → {"segmentation": …, "depth": …, "knn": …}
    local seg depth knn
    seg=$("$DINO" eval segmentation --run "$1" --train "$SCENES/train" --val "$SCENES/val" --masks "$SCENES/masks" \
        --json --threads "$THREADS" 2>/dev/null)
    depth=$("$DINO" eval depth --run "$1" --train "$SCENES/train" --val "$SCENES/val" --depth "$SCENES/depth" \
        --json --threads "$THREADS" 2>/dev/null)
    knn=$("$DINO" eval knn --train "$GLYPHS/train" --val "$GLYPHS/val" --run "$1" --k 20 --json --threads "$THREADS" 2>/dev/null)
    echo "{\"segmentation\": $seg, \"depth\": $depth, \"knn\": $knn}"
}
model_of() { [ "$1" = dinov3 ] && echo dinov3_vit_nano_patch4 || echo vit_nano_patch4; }

train() {  # train METHOD RUN EPOCHS EVAL_EVERY [args…]
    local method=$1 run=$2 epochs=$3 every=$4; shift 4
    rm -rf "$run"
    "$DINO" train --method "$method" --model "$(model_of "$method")" --data "$SCENES/train" --out "$run" --epochs "$epochs" \
        --batch-size 64 --threads "$THREADS" --max-steps 0 --quiet crops.global_size=32 crops.local_size=16 crops.local_count=6 \
        "$@" > /dev/null
    local steps; steps=$(newest_state "$run" batchesPerEpoch)
    : > "$run/eval-per-epoch.jsonl"
    for e in $(seq 1 "$epochs"); do
        "$DINO" train --data "$SCENES/train" --out "$run" --resume --threads "$THREADS" --max-steps $((e * steps)) --quiet > /dev/null
        if [ $((e % every)) -eq 0 ] || [ "$e" -eq "$epochs" ]; then
            echo "{\"epoch\": $e, \"step\": $(newest_state "$run" step), \"train_seconds\": $(newest_state "$run" elapsedSeconds), $(evaluate "$run" | cut -c2-)" \
                | tee -a "$run/eval-per-epoch.jsonl"
        fi
    done
}

case "$mode" in
train)
    method=$2 run=$3 epochs=$4 every=${5:-2}; shift 5 || shift $#
    train "$method" "$run" "$epochs" "$every" "$@"
    ;;
compare)
    out=$2 epochs=${3:-20} seeds=${4:-1}
    mkdir -p "$out"
    for seed in $(seq 0 $((seeds - 1))); do
        for method in dinov2 dinov3; do
            train "$method" "$out/$method-seed$seed" "$epochs" 2 --seed "$seed"
        done
    done
    ;;
gram)
    out=$2 base=${3:-10} epochs=${4:-30}
    mkdir -p "$out"
    train dinov3 "$out/base" "$base" "$base"
    train dinov3 "$out/plain" "$epochs" 2 --from "$out/base"
    train dinov3 "$out/gram" "$epochs" 2 --from "$out/base" gram.use_loss=true gram.img_level=true gram.max_updates=2 \
        gram.update_frequency=$((10 * $(newest_state "$out/base" batchesPerEpoch))) \
        'gram.loss_weight_schedule={"start": 0, "peak": 0, "end": 2, "warmup_epochs": 0, "cosine_epochs": 1}'
    python3 - "$out" <<'EOF'
import json, sys
out = sys.argv[1]
arms = {}
for arm in ("plain", "gram"):
    arms[arm] = [json.loads(l) for l in open(f"{out}/{arm}/eval-per-epoch.jsonl")]
miou = lambda r: r["segmentation"]["miou"]
rmse = lambda r: r["depth"]["metrics"]["rmse"]
knn = lambda r: r["knn"].get("top1")
with open(f"{out}/gram.md", "w") as f:
    f.write("| epoch | mIoU plain | mIoU gram | RMSE plain | RMSE gram | k-NN plain | k-NN gram |\n|---|---|---|---|---|---|---|\n")
    for a, b in zip(arms["plain"], arms["gram"]):
        f.write(f"| {a['epoch']} | {miou(a)} | {miou(b)} | {rmse(a)} | {rmse(b)} | {knn(a)} | {knn(b)} |\n")
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for arm, rows in arms.items():
        axes[0].plot([r["epoch"] for r in rows], [miou(r) for r in rows], marker="o", label=arm)
        axes[1].plot([r["epoch"] for r in rows], [rmse(r) for r in rows], marker="o", label=arm)
    axes[0].set_title("scenes-dev val segmentation mIoU (%)"); axes[1].set_title("scenes-dev val depth RMSE (m)")
    for a in axes: a.set_xlabel("epoch after the base run"); a.legend()
    fig.tight_layout(); fig.savefig(f"{out}/gram.png", dpi=100)
except ImportError:
    # No matplotlib: a plain raster (two panels, mIoU left and RMSE right; plain black, gram
    # red; axes span each metric's range), written with zlib.
    import struct, zlib
    W, H, P = 640, 300, 30
    px = [[(255, 255, 255)] * W for _ in range(H)]
    def line(x0, y0, x1, y1, c):
        n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in range(n + 1):
            x, y = round(x0 + (x1 - x0) * i / n), round(y0 + (y1 - y0) * i / n)
            for dx in (0, 1):
                if 0 <= x + dx < W and 0 <= y < H: px[y][x + dx] = c
    for panel, metric in enumerate((miou, rmse)):
        left = panel * W // 2 + P
        right, top, bottom = left + W // 2 - 2 * P, P, H - P
        line(left, bottom, right, bottom, (0, 0, 0)); line(left, top, left, bottom, (0, 0, 0))
        values = [metric(r) for rows in arms.values() for r in rows]
        epochs = [r["epoch"] for rows in arms.values() for r in rows]
        lo, hi = min(values), max(values) or 1
        e0, e1 = min(epochs), max(epochs)
        sx = lambda e: left + (right - left) * (e - e0) / max(e1 - e0, 1)
        sy = lambda v: bottom - (bottom - top) * (v - lo) / max(hi - lo, 1e-9)
        for arm, colour in (("plain", (0, 0, 0)), ("gram", (220, 30, 30))):
            pts = [(sx(r["epoch"]), sy(metric(r))) for r in arms[arm]]
            for (a, b), (c, d) in zip(pts, pts[1:]): line(int(a), int(b), int(c), int(d), colour)
    raw = b"".join(b"\0" + bytes(v for p in row for v in p) for row in px)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(f"{out}/gram.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    print("gram.png: mIoU (left) and depth RMSE (right) per epoch; plain black, gram red (no matplotlib: no labels)")
print(open(f"{out}/gram.md").read())
EOF
    ;;
*)
    sed -n 2,36p "$0" >&2; exit 2
    ;;
esac
