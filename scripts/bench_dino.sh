#!/usr/bin/env bash
# The DINO benchmark of docs/benchmarks-dino.md, swift-dino side and PyTorch peer.
#
#   scripts/bench_dino.sh quality [EPOCHS]   vit_nano_patch4 on glyphs-dev: k-NN after every epoch
#                                            and training wall-clock, both implementations
#   scripts/bench_dino.sh speed [STEPS]      training images/s of vit_tiny_patch4 (2×32 + 6×16 px
#                                            crops, batch 64), both implementations: swift-dino at
#                                            each of PRECISIONS ("fp32"; "fp32 bf16"), the peer in
#                                            each of PEERS ("eager"; "eager compile autocast":
#                                            torch.compile / CPU autocast bf16), REPEATS rounds
#                                            (default 1), medians and ratios: OUT/speed.jsonl;
#                                            budget (2 idle Zen 4 cores, measured 2026-12-07):
#                                            about 6.5 min a round with all five arms (compile
#                                            ~2.7 of them), 20 min for REPEATS=3
#   scripts/bench_dino.sh profile [WARMUP] [STEPS]
#                                            the speed run's step profiled on both sides (defaults
#                                            3 and 5): `dino train --profile` beside torch.profiler,
#                                            joined by phase and by kind of op (bench_profile_join.py);
#                                            MODEL=small: ViT-S/16 at 224/96 px, batch BATCH (32)
#   scripts/bench_dino.sh stretch [MINUTES] [EVERY]
#                                            vit_tiny_patch4 for MINUTES (default 30) of training
#                                            time on DATA (the stretch set: DATA=…/glyphs-dev-wild),
#                                            k-NN after every EVERY minutes (default 5), both sides;
#                                            EPOCHS (default 3) sets the schedules' length;
#                                            METHOD=dinov2 trains that method on the swift side
#
# Environment: DINO (binary), PYTHON (with torch; the peer needs no torchvision), DATA (glyphs-dev),
# OUT (result folder, default runs/bench-dino), THREADS (default: all cores), SIDES ("swift peer"),
# SEED (default 0), EXTRA (key=value overrides for `dino train`, e.g. "optim.lr=0.002"),
# PEER_EXTRA (flags for the peer, e.g. "--lr 0.002"), STOP_EPOCH (swift side: stop after that epoch).
# Run it on an otherwise idle machine: the two sides run one after the other.
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=${DINO:-.build/release/dino}
PYTHON=${PYTHON:-python3}
DATA=${DATA:-../shared/datasets/glyphs-dev}
OUT=${OUT:-runs/bench-dino}
THREADS=${THREADS:-$(nproc)}
SIDES=${SIDES:-"swift peer"}
SEED=${SEED:-0}
EXTRA=${EXTRA:-}
PEER_EXTRA=${PEER_EXTRA:-}
mkdir -p "$OUT"
mode=${1:-quality}

state() {  # state RUN KEY → KEY of the newest train state
    python3 -c "import json,os,sys; d=sys.argv[1]+'/checkpoints'; f=sorted(x for x in os.listdir(d) if x.endswith('.json'))[-1]; print(json.load(open(os.path.join(d,f)))[sys.argv[2]])" "$1" "$2"
}
knn() {  # knn RUN → {"k":20,"top1":…,"top5":…}
    "$DINO" eval knn --train "$DATA/train" --val "$DATA/val" --run "$1" --k 20 --json --threads "$THREADS" 2>/dev/null
}

if [ "$mode" = quality ]; then
    EPOCHS=${2:-10}
    if [[ " $SIDES " == *" swift "* ]]; then
        run="$OUT/swift-nano"
        rm -rf "$run"; : > "$OUT/swift-quality.jsonl"
        "$DINO" train --model vit_nano_patch4 --data "$DATA/train" --out "$run" --epochs "$EPOCHS" \
            --batch-size 64 --seed "$SEED" --threads "$THREADS" --max-steps 0 --quiet $EXTRA > /dev/null
        echo "{\"epoch\": 0, \"train_seconds\": 0, \"knn\": $(knn "$run")}" | tee -a "$OUT/swift-quality.jsonl"
        steps=$(state "$run" batchesPerEpoch)
        for e in $(seq 1 "${STOP_EPOCH:-$EPOCHS}"); do  # STOP_EPOCH: screen the first epochs of the schedule
            "$DINO" train --data "$DATA/train" --out "$run" --resume --threads "$THREADS" --max-steps $((e * steps)) --quiet > /dev/null
            secs=$(python3 -c "print(round($(state "$run" elapsedSeconds), 2))")
            echo "{\"epoch\": $e, \"train_seconds\": $secs, \"knn\": $(knn "$run")}" | tee -a "$OUT/swift-quality.jsonl"
        done
    fi
    if [[ " $SIDES " == *" peer "* ]]; then
        : > "$OUT/peer-quality.jsonl"
        "$PYTHON" scripts/bench_dino_peer.py --train "$DATA/train" --val "$DATA/val" --model nano --epochs "$EPOCHS" \
            --batch-size 64 --seed "$SEED" --threads "$THREADS" --workers 1 --json "$OUT/peer-quality.jsonl" $PEER_EXTRA
    fi
elif [ "$mode" = speed ]; then
    # Arms: swift-dino at each of PRECISIONS (fp32, bf16: `precision=bf16`), the peer in each of
    # PEERS (eager; compile: torch.compile with inductor; autocast: CPU autocast bfloat16), one
    # after the other, REPEATS rounds (arms interleaved within a round); medians and ratios.
    STEPS=${2:-12} REPEATS=${REPEATS:-1} PRECISIONS=${PRECISIONS:-fp32} PEERS=${PEERS:-eager}
    : > "$OUT/speed.jsonl"
    swift_speed() {  # swift_speed PRECISION → one JSON line
        local n start end extra=()
        [ "$1" = fp32 ] || extra=(precision="$1")
        # Two runs of different length; the difference removes start-up and the first steps.
        for n in 2 $((STEPS + 2)); do
            rm -rf "$OUT/swift-speed"
            start=$(date +%s.%N)
            "$DINO" train --model vit_tiny_patch4 --data "$DATA/train" --out "$OUT/swift-speed" --epochs 1 \
                --batch-size 64 --threads "$THREADS" --max-steps "$n" --quiet "${extra[@]}" $EXTRA > /dev/null
            end=$(date +%s.%N)
            echo "$n $(python3 -c "print($end - $start)")"
        done | python3 -c "
import sys, json
(n1, t1), (n2, t2) = [(int(a), float(b)) for a, b in (l.split() for l in sys.stdin)]
print(json.dumps({'side': 'swift', 'arm': 'swift-$1', 'model': 'vit_tiny_patch4', 'steps': n2 - n1, 'seconds': round(t2 - t1, 2),
                  'images_per_second': round((n2 - n1) * 64 / (t2 - t1), 2), 'threads': $THREADS}))"
    }
    peer_speed() {  # peer_speed eager|compile|autocast → one JSON line (steady state after the warm-up)
        local flags=() warmup=2
        case "$1" in
            compile) flags=(--compile); warmup=4 ;;   # inductor compiles each crop size in the first steps
            autocast) flags=(--autocast bf16) ;;
        esac
        "$PYTHON" scripts/bench_dino_peer.py --train "$DATA/train" --val "$DATA/val" --model tiny --epochs 1 \
            --batch-size 64 --threads "$THREADS" --max-steps $((STEPS + warmup)) --warmup-steps "$warmup" --no-knn \
            "${flags[@]}" $PEER_EXTRA | tail -1 | python3 -c "
import sys, json
d = json.loads(sys.stdin.read()); d['side'] = 'peer'; d['arm'] = 'peer-$1'
d['images_per_second'] = d['steady_images_per_second']; print(json.dumps(d))"
    }
    for r in $(seq 1 "$REPEATS"); do
        if [[ " $SIDES " == *" swift "* ]]; then
            for p in $PRECISIONS; do swift_speed "$p" | tee -a "$OUT/speed.jsonl"; done
        fi
        if [[ " $SIDES " == *" peer "* ]]; then
            for m in $PEERS; do peer_speed "$m" | tee -a "$OUT/speed.jsonl"; done
        fi
    done
    python3 - "$OUT/speed.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
arms = {}
for r in rows:
    arms.setdefault(r["arm"], []).append(r["images_per_second"])
med = {a: statistics.median(v) for a, v in arms.items()}
peers = {a: m for a, m in med.items() if a.startswith("peer-")}
print(f"| arm | images/s, median | rounds | " + " | ".join(f"ours / {p}" for p in peers) + " |")
print("|---|---:|---|" + "---:|" * len(peers))
for a, m in med.items():
    ratios = " | ".join(f"{m / pm:.2f}×" if a.startswith("swift-") else "" for pm in peers.values())
    print(f"| {a} | {m:.2f} | {', '.join(f'{x:.2f}' for x in arms[a])} | {ratios} |")
EOF
elif [ "$mode" = profile ]; then
    # MODEL=small: ViT-S/16 (dino_vits16) with 224- and 96-px crops, batch BATCH (default 32).
    WARMUP=${2:-3} STEPS=${3:-5} MODEL=${MODEL:-tiny}
    if [ "$MODEL" = small ]; then
        swift_model=(--model dino_vits16 --batch-size "${BATCH:-32}" crops.global_size=224 crops.local_size=96 crops.local_count=6)
        peer_model=(--model small --batch-size "${BATCH:-32}" --global-size 224 --local-size 96)
    else
        swift_model=(--model vit_tiny_patch4 --batch-size "${BATCH:-64}")
        peer_model=(--model tiny --batch-size "${BATCH:-64}")
    fi
    rm -rf "$OUT/swift-profile"
    "$DINO" train "${swift_model[@]}" --data "$DATA/train" --out "$OUT/swift-profile" --epochs 1 \
        --threads "$THREADS" --max-steps $((WARMUP + STEPS)) --quiet --profile "$WARMUP,$STEPS" $EXTRA > "$OUT/swift-profile.txt"
    "$PYTHON" scripts/bench_dino_peer.py --train "$DATA/train" --val "$DATA/val" "${peer_model[@]}" --epochs 1 \
        --threads "$THREADS" --max-steps $((WARMUP + STEPS)) --no-knn --profile "$WARMUP,$STEPS" \
        --profile-json "$OUT/peer-profile.json" $PEER_EXTRA > "$OUT/peer-profile.txt"
    "$PYTHON" scripts/bench_profile_join.py "$OUT/swift-profile/profile.json" "$OUT/peer-profile.json" | tee "$OUT/profile-join.txt"
elif [ "$mode" = stretch ]; then
    MINUTES=${2:-30} EVERY=${3:-5} EPOCHS=${EPOCHS:-3} METHOD=${METHOD:-dino}
    if [[ " $SIDES " == *" swift "* ]]; then
        run="$OUT/swift-stretch${METHOD#dino}"   # swift-stretch, or swift-stretchv2 for METHOD=dinov2
        rm -rf "$run"; : > "$run.jsonl"
        "$DINO" train --method "$METHOD" --model vit_tiny_patch4 --data "$DATA/train" --out "$run" --epochs "$EPOCHS" \
            --batch-size 64 --seed "$SEED" --threads "$THREADS" --max-steps 0 --quiet $EXTRA > /dev/null
        echo "{\"minutes\": 0, \"step\": 0, \"train_seconds\": 0, \"knn\": $(knn "$run")}" | tee -a "$run.jsonl"
        total=$(( EPOCHS * $(state "$run" batchesPerEpoch) ))
        for i in $(seq 1 $(( (MINUTES + EVERY - 1) / EVERY ))); do
            # --max-minutes counts one session: each resumes for what is left of the next mark
            left=$(python3 -c "print(max(0.0, min($i * $EVERY, $MINUTES) - $(state "$run" elapsedSeconds) / 60))")
            [ "$left" = "0.0" ] || "$DINO" train --method "$METHOD" --data "$DATA/train" --out "$run" --resume --threads "$THREADS" \
                --max-minutes "$left" --quiet > /dev/null
            echo "{\"minutes\": $(( i * EVERY < MINUTES ? i * EVERY : MINUTES )), \"step\": $(state "$run" step), \"train_seconds\": $(state "$run" elapsedSeconds), \"knn\": $(knn "$run")}" \
                | tee -a "$run.jsonl"
            [ "$(state "$run" step)" -ge "$total" ] && break
        done
    fi
    if [[ " $SIDES " == *" peer "* ]]; then
        : > "$OUT/peer-stretch.jsonl"
        "$PYTHON" scripts/bench_dino_peer.py --train "$DATA/train" --val "$DATA/val" --model tiny --epochs "$EPOCHS" \
            --batch-size 64 --seed "$SEED" --threads "$THREADS" --workers 1 --max-minutes "$MINUTES" \
            --eval-every-minutes "$EVERY" --json "$OUT/peer-stretch.jsonl" $PEER_EXTRA
    fi
else
    echo "usage: $0 quality [EPOCHS] | speed [STEPS] | stretch [MINUTES] [EVERY]" >&2; exit 2
fi
