#!/usr/bin/env bash
# Quality check of `precision: bf16` (issue 16): k-NN after a 10-epoch glyphs-dev run within
# 1 point of Float32's, over 3 seeds. For the lead to run on an otherwise idle machine.
#
#   scripts/bench_bf16_knn.sh [METHOD] [EPOCHS] [OUT]
#       METHOD dinov2 (default; it learns glyphs-dev in 10 epochs, docs/benchmarks-dinov2.md)
#       trains vit_nano_patch4 (2×32 + 6×16 px crops, batch 64) with seeds 0, 1, 2 in each
#       precision, then weighted k-NN (k 20) on val, both evaluations in Float32 (the backbone
#       is evaluated as trained weights; `dino eval knn --precision bf16` is a separate choice).
#       Writes OUT/results.jsonl ({"precision", "seed", "train_seconds", "top1", "top5"}) and
#       prints the mean top-1 per precision and their difference.
#
# Budget: 6 runs of 10 epochs. dinov2 on vit_nano_patch4 trains at ~45 img/s with 2 threads
# (docs/benchmarks-dinov2.md) → glyphs-dev's 3900 training images take ~85 s an epoch, ~15 min a
# run, ~1 h 30 min for the Float32 runs; the bf16 runs are slower while products are emulated
# (rounding copies of every product's operands and results: expect +20–40 %), ~2 h in all, plus
# 6 k-NN evaluations (~1 min each). Run it alone: the comparison of times is meaningless on a
# loaded machine, and the k-NN comparison is what matters.
#
# Environment: DINO (binary, default .build/release/dino), DATA (default
# ../shared/datasets/glyphs-dev), THREADS (default: all cores), PRECISIONS (default
# "float32 bf16") and SEEDS (default "0 1 2"): the runs to make. Each result is appended to
# OUT/results.jsonl and the summary reads the newest row of each precision and seed, so the two
# precisions can run as two 1-thread processes side by side (PRECISIONS=float32 and
# PRECISIONS=bf16, same OUT) on a machine shared with other work, and a run cut off is redone
# alone (SEEDS=2). `scripts/bench_bf16_knn.sh summary [OUT]` prints the summary only.
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=${DINO:-.build/release/dino}
DATA=${DATA:-../shared/datasets/glyphs-dev}
THREADS=${THREADS:-$(nproc)}
PRECISIONS=${PRECISIONS:-float32 bf16}
SEEDS=${SEEDS:-0 1 2}
if [ "${1:-}" = summary ]; then
    out=${2:-runs/bf16-knn} PRECISIONS=""
else
    method=${1:-dinov2} epochs=${2:-10} out=${3:-runs/bf16-knn}
fi
mkdir -p "$out"
for precision in $PRECISIONS; do
    for seed in $SEEDS; do
        run="$out/$method-$precision-seed$seed"
        rm -rf "$run"
        start=$(date +%s)
        "$DINO" train --method "$method" --model vit_nano_patch4 --data "$DATA/train" --out "$run" --epochs "$epochs" \
            --batch-size 64 --threads "$THREADS" --seed "$seed" --quiet "precision=$precision" > /dev/null
        secs=$(( $(date +%s) - start ))
        knn=$("$DINO" eval knn --train "$DATA/train" --val "$DATA/val" --run "$run" --k 20 --json --threads "$THREADS" 2>/dev/null)
        python3 -c "import json,sys; k=json.loads(sys.argv[4]); print(json.dumps({'precision': sys.argv[1], 'seed': int(sys.argv[2]), 'train_seconds': int(sys.argv[3]), 'top1': k['top1'], 'top5': k['top5']}))" \
            "$precision" "$seed" "$secs" "$knn" | tee -a "$out/results.jsonl"
    done
done
python3 - "$out/results.jsonl" <<'PY'
import json, statistics, sys
newest = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    newest[r["precision"], r["seed"]] = r
rows = list(newest.values())
for r in sorted(rows, key=lambda r: (r["precision"], r["seed"])):
    print(f"{r['precision']:8s} seed {r['seed']}: top-1 {r['top1']:.2f}, top-5 {r['top5']:.2f}, {r['train_seconds']} s")
if {r["precision"] for r in rows} != {"float32", "bf16"}:
    sys.exit("both precisions are not in yet")
seeds = {p: sorted(r["seed"] for r in rows if r["precision"] == p) for p in ("float32", "bf16")}
if seeds["float32"] != seeds["bf16"]:
    print(f"warning: the precisions have different seeds ({seeds}); the means are not comparable")
mean = {p: statistics.mean(r["top1"] for r in rows if r["precision"] == p) for p in ("float32", "bf16")}
secs = {p: statistics.mean(r["train_seconds"] for r in rows if r["precision"] == p) for p in ("float32", "bf16")}
print(f"top-1 mean over seeds: float32 {mean['float32']:.2f}, bf16 {mean['bf16']:.2f}, "
      f"difference {mean['bf16'] - mean['float32']:+.2f} points (target: within 1)")
print(f"train seconds mean: float32 {secs['float32']:.0f}, bf16 {secs['bf16']:.0f}")
PY
