#!/usr/bin/env bash
# Quality benchmark of issue 6 on glyphs-dev (docs/benchmarks-dinov2.md): vit_nano_patch4 with
# 2 global crops of 32 px + 6 local crops of 16 px, batch 64, 1024 prototypes.
#
#   scripts/bench_dinov2_glyphs.sh train METHOD RUN [EPOCHS] [key=value …]
#       trains METHOD (dino, dinov2 or distill) into RUN one epoch at a time (resuming the run,
#       which also exercises --resume), with weighted k-NN on val after every epoch
#       (RUN/knn-per-epoch.jsonl: {"epoch", "train_seconds", "knn": {"top1", "top5", "k"}}).
#       For distill, pass --teacher-run DIR among the extra arguments; MAX_MINUTES stops the
#       run at a wall-clock budget (the distill-versus-alone comparison at equal time).
#   scripts/bench_dinov2_glyphs.sh speed METHOD STEPS [key=value …]
#       training images/s of METHOD on vit_nano_patch4 (batch 64): the difference of a 2-step
#       and a (STEPS + 2)-step run removes start-up; one JSON line.
#   scripts/bench_dinov2_glyphs.sh evaluate RUN
#       k-NN and linear segmentation (glyphs-dev/masks) of a finished run: RUN/knn.json and
#       RUN/segmentation.json.
#
# Environment: DINO (binary, default .build/release/dino), DATA (default
# ../shared/datasets/glyphs-dev), THREADS (default: all cores).
# The LightlyTrain peer: scripts/bench_lightly_train.py --method dinov2 (see its docstring).
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=${DINO:-.build/release/dino}
DATA=${DATA:-../shared/datasets/glyphs-dev}
THREADS=${THREADS:-$(nproc)}
mode=${1:-}

knn() {  # knn RUN → {"k":20,"top1":…,"top5":…}
    "$DINO" eval knn --train "$DATA/train" --val "$DATA/val" --run "$1" --k 20 --json --threads "$THREADS" 2>/dev/null
}
newest_state() {  # newest_state RUN KEY → the value of KEY in the newest train state
    python3 -c "import json,os,sys; d=sys.argv[1]+'/checkpoints'; f=sorted(x for x in os.listdir(d) if x.endswith('.json'))[-1]; print(json.load(open(os.path.join(d,f)))[sys.argv[2]])" "$1" "$2"
}

case "$mode" in
train)
    method=$2 run=$3 epochs=${4:-10}; shift 4 || shift $#
    rm -rf "$run"
    "$DINO" train --method "$method" --model vit_nano_patch4 --data "$DATA/train" --out "$run" --epochs "$epochs" \
        --batch-size 64 --threads "$THREADS" --max-steps 0 --quiet "$@" > /dev/null
    echo "{\"epoch\": 0, \"train_seconds\": 0, \"knn\": $(knn "$run")}" | tee "$run/knn-per-epoch.jsonl"
    steps=$(newest_state "$run" batchesPerEpoch)
    for e in $(seq 1 "$epochs"); do
        budget=()
        if [ -n "${MAX_MINUTES:-}" ]; then   # --max-minutes counts one session: pass what is left
            left=$(python3 -c "print(max(0.0, $MAX_MINUTES - $(newest_state "$run" elapsedSeconds) / 60))")
            [ "$left" = "0.0" ] && break
            budget=(--max-minutes "$left")
        fi
        "$DINO" train --method "$method" --data "$DATA/train" --out "$run" --resume --threads "$THREADS" --max-steps $((e * steps)) \
            "${budget[@]}" --quiet > /dev/null
        secs=$(newest_state "$run" elapsedSeconds)
        echo "{\"epoch\": $e, \"step\": $(newest_state "$run" step), \"train_seconds\": $secs, \"knn\": $(knn "$run")}" \
            | tee -a "$run/knn-per-epoch.jsonl"
        [ "$(newest_state "$run" step)" -lt $((e * steps)) ] && break   # the time budget ran out
    done
    ;;
speed)
    method=$2 steps=$3; shift 3
    for n in 2 $((steps + 2)); do
        rm -rf /tmp/bench-dinov2-speed
        start=$(date +%s.%N)
        "$DINO" train --method "$method" --model vit_nano_patch4 --data "$DATA/train" --out /tmp/bench-dinov2-speed \
            --epochs 10 --batch-size 64 --threads "$THREADS" --max-steps "$n" --quiet "$@" > /dev/null
        echo "$n $(python3 -c "import time; print(time.time() - $start)")"
    done | python3 -c "
import sys, json
(n1, t1), (n2, t2) = [(int(a), float(b)) for a, b in (l.split() for l in sys.stdin)]
print(json.dumps({'side': 'swift', 'method': '$method', 'model': 'vit_nano_patch4', 'steps': n2 - n1,
                  'seconds': round(t2 - t1, 2), 'images_per_second': round((n2 - n1) * 64 / (t2 - t1), 2), 'threads': $THREADS}))"
    ;;
evaluate)
    run=$2
    knn "$run" | tee "$run/knn.json"
    "$DINO" eval segmentation --run "$run" --train "$DATA/train" --val "$DATA/val" --masks "$DATA/masks" \
        --json --threads "$THREADS" 2>/dev/null | tee "$run/segmentation.json"
    ;;
*)
    sed -n 2,20p "$0" >&2; exit 2
    ;;
esac
