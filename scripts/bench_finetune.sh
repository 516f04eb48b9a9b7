#!/usr/bin/env bash
# Fine-tuning benchmark of issue 13 on glyphs-dev (docs/finetune.md, "Benchmark"): low-shot
# fine-tuning (1 % and 10 % of the labels, class-balanced) of a pretrained run's backbone
# against the same recipe from random initialisation, beside the linear probe on the same
# labelled images.
#
#   scripts/bench_finetune.sh OUT [RUN]
#       RUN: a `dino train` run of vit_nano_patch4 (default: OUT/pretrain, trained here with
#       dino for PRETRAIN_MINUTES, default 40). For each fraction in FRACTIONS (default "0.01 0.1"):
#         OUT/ft-pre-F     dino finetune --run RUN        --label-fraction F
#         OUT/ft-rand-F    dino finetune --init random    --label-fraction F (same recipe)
#         OUT/linear-F     dino eval linear --run RUN on the same labelled images (the
#                          pretrained arm's train_subset.txt as an ImageFolder of links)
#       then OUT/results.jsonl (one JSON line per arm) and a table on stdout.
#
# Budget (2 cores, release build): every arm is capped at ARM_MINUTES (default 45) by
# --max-minutes (a capped arm stops with a checkpoint, is resumed by the next invocation and is
# reported as "capped"); the default recipe is 600 steps per fine-tuning arm (1 %: 2 images
# per class, batch 16, 200 epochs × 3 steps; 10 %: 15 per class, batch 64, 100 epochs × 6 steps),
# measured at 2.6 CPU-s per step of 64 in a debug build (release is faster), so each
# fine-tuning arm is well under the cap; the linear arm takes a minute. In all: pretraining
# (≤ PRETRAIN_MINUTES) + 4 fine-tuning arms + 2 linear arms, at most about 4 hours and
# typically well under one.
#
# The recipe: `dino finetune`'s default `recipe: auto`, i.e. the low-shot recipe (LP-FT head,
# crop and flip only) at 1 % and 10 % of glyphs-dev; RECIPE="recipe=mae" runs MAE's.
#
# Flips: glyphs are not mirror-symmetric (a mirrored letter is another letter or none), so the
# fine-tuning arms run with hflip=0 (HFLIP, a property of the data, not of the recipe; set
# HFLIP=0.5 for natural images).
#
# Environment: DINO (binary, default .build/release/dino), DATA (default
# ../shared/datasets/glyphs-dev), VAL (the split scored, default DATA/val; to compare recipes,
# a tuning split of train from scripts/make_tune_split.py, never the val split reported), THREADS (default: all cores), FRACTIONS, ARM_MINUTES,
# PRETRAIN_MINUTES, RECIPE (extra key=value overrides for every fine-tuning arm, e.g.
# "blr=1e-3 crop_scale_min=0.35"), MODEL (default vit_nano_patch4), EPOCHS (overrides the
# epochs of every fine-tuning arm), BATCH (overrides the batch size), SEED (default 0: the
# fine-tuning seed, which also draws the labelled subset the linear arm then uses; one OUT per
# seed), RANDOM_ARM (default 1; 0 skips the random-init arm, e.g. for the extra seeds). A 2-minute smoke test
# of the script itself:
#   DINO=.build/debug/dino DATA=data/glyphs-mini MODEL=test_dino FRACTIONS=0.1 EPOCHS=2 BATCH=16 \
#   PRETRAIN_MINUTES=0.2 scripts/bench_finetune.sh /tmp/bench-ft-smoke
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=${DINO:-.build/release/dino}
DATA=${DATA:-../shared/datasets/glyphs-dev}
VAL=${VAL:-$DATA/val}
THREADS=${THREADS:-$(nproc)}
FRACTIONS=${FRACTIONS:-"0.01 0.1"}
ARM_MINUTES=${ARM_MINUTES:-45}
PRETRAIN_MINUTES=${PRETRAIN_MINUTES:-40}
RECIPE=${RECIPE:-}
HFLIP=${HFLIP:-0}
SEED=${SEED:-0}
RANDOM_ARM=${RANDOM_ARM:-1}
MODEL=${MODEL:-vit_nano_patch4}
EPOCHS=${EPOCHS:-}
out=${1:?usage: scripts/bench_finetune.sh OUT [RUN]}
run=${2:-$out/pretrain}
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"

if [ ! -d "$run/checkpoints" ]; then
    echo "pretraining dino $MODEL on $DATA/train for at most $PRETRAIN_MINUTES minutes into $run"
    "$DINO" train --method dino --model "$MODEL" --data "$DATA/train" --out "$run" --epochs 100 \
        --batch-size 64 --max-minutes "$PRETRAIN_MINUTES" --threads "$THREADS" --quiet
fi

finetune() {  # finetune NAME FRACTION BACKBONE-FLAGS… → one JSON line
    local name=$1 fraction=$2; shift 2
    local dir="$out/$name" batch=64 epochs=100
    if [ "$fraction" = "0.01" ]; then batch=16; epochs=200; fi
    epochs=${EPOCHS:-$epochs}
    batch=${BATCH:-$batch}
    local start=$SECONDS status=completed
    if [ -d "$dir/checkpoints" ]; then
        "$DINO" finetune --out "$dir" --resume --max-minutes "$ARM_MINUTES" --threads "$THREADS" --quiet --json > "$dir/stdout.json" || true
    else
        # shellcheck disable=SC2086
        "$DINO" finetune "$@" --train "$DATA/train" --val "$VAL" --out "$dir" --label-fraction "$fraction" --seed "$SEED" \
            --batch-size "$batch" --epochs "$epochs" --max-minutes "$ARM_MINUTES" --threads "$THREADS" --quiet --json "hflip=$HFLIP" $RECIPE \
            > "$dir.stdout.json"
        mv "$dir.stdout.json" "$dir/stdout.json"
    fi
    [ -f "$dir/eval.json" ] || status=capped
    python3 - "$dir" "$name" "$fraction" "$status" $((SECONDS - start)) >> "$results" <<'PY'
import json, sys, os
d, name, fraction, status, seconds = sys.argv[1:]
ev = json.load(open(os.path.join(d, "eval.json"))) if os.path.exists(os.path.join(d, "eval.json")) else {}
lp_path = os.path.join(d, "linear_probe.json")
lp = json.load(open(lp_path)) if os.path.exists(lp_path) else {}
print(json.dumps({"arm": name, "fraction": float(fraction), "status": status, "seconds": int(seconds),
                  "top1": ev.get("top1"), "top5": ev.get("top5"), "step0_top1": lp.get("val_top1")}))
PY
}

linear() {  # linear FRACTION: the probe on the pretrained arm's labelled images
    local fraction=$1
    local subset="$out/ft-pre-$fraction/train_subset.txt" dir="$out/linear-$fraction"
    rm -rf "$dir" && mkdir -p "$dir/train"
    while read -r path; do
        cls=$(basename "$(dirname "$path")")
        mkdir -p "$dir/train/$cls"
        ln -s "$(cd "$(dirname "$path")" && pwd)/$(basename "$path")" "$dir/train/$cls/"
    done < "$subset"
    local start=$SECONDS
    "$DINO" eval linear --run "$run" --train "$dir/train" --val "$VAL" --held-out 0.2 --threads "$THREADS" --json \
        > "$dir/linear.json"
    python3 - "$dir/linear.json" "$fraction" $((SECONDS - start)) >> "$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(json.dumps({"arm": "linear", "fraction": float(sys.argv[2]), "status": "completed", "seconds": int(sys.argv[3]),
                  "top1": r["top1"], "top5": r["top5"], "lr": r.get("lr")}))
PY
}

for f in $FRACTIONS; do
    finetune "ft-pre-$f" "$f" --run "$run"
    if [ "$RANDOM_ARM" = 1 ]; then finetune "ft-rand-$f" "$f" --init random --model "$MODEL"; fi
    linear "$f"
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| arm | labels | top-1 | top-5 | top-1 at step 0 (LP head) | minutes | status |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    fmt = lambda v: "—" if v is None else f"{v:.2f}"
    print(f"| {r['arm']} | {100 * r['fraction']:g} % | {fmt(r['top1'])} | {fmt(r['top5'])} | {fmt(r.get('step0_top1'))} | {r['seconds'] / 60:.1f} | {r['status']} |")
PY
