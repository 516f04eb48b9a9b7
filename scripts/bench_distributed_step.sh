#!/usr/bin/env bash
# Data-parallel step times of issue 15 (docs/benchmarks-distributed.md): `vit_small` DINO
# steps at 224 px with the reference's 65 536-prototype head (about 168 MiB of gradients, 8
# buckets), under `mpirun` with and without the gradient all-reduces overlapping backward,
# 2 ranks × 1 thread against 1 rank × 2 threads at the same global batch, and the one-rank
# step that the cost model (scripts/distributed_cost_model.py) takes as its compute.
#
#   scripts/bench_distributed_step.sh OUT [STEPS] [PER_RANK_BATCH]
#   DINO=.build/release/dino scripts/bench_distributed_step.sh /tmp/ddp 8 8
#
# Each arm trains STEPS steps (default 8) of `dino train --method dino --model dino_vits16`
# on glyphs-dev/train (the pixels do not matter for timing) with crops 2 × 224 px + 2 × 96 px,
# and reads `step_seconds` and `comm_wait_seconds` (rank 0) from its metrics.jsonl; the
# first 2 steps (allocations, warm-up) are dropped and the median of the rest reported in
# OUT/summary.jsonl, one line per arm.
#
# Arms (PER_RANK_BATCH b, default 8):
#   r1t1     1 rank × 1 thread, batch b             (one node's compute)
#   r2t1     2 ranks × 1 thread, batch 2b, overlap
#   r2t1-no  the same, --no-gradient-overlap
#   r1t2     1 rank × 2 threads, batch 2b
#   r3t1     3 ranks × 1 thread, batch 3b, overlap  (oversubscribed on a 2-core machine)
#   r3t1-no  the same, --no-gradient-overlap
#
# Environment: DINO (binary), DATA (image folder), MODEL, GLOBAL and LOCAL (crop sizes) to
# try the script on something small (MODEL=vit_nano_patch4 GLOBAL=32 LOCAL=16).
#
# Budget: on the project's 2-core AMD EPYC about 25 minutes with the defaults (each step
# about 40 GFLOP per image). Run it alone: another process on the cores changes every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench_distributed_step.sh OUT [STEPS] [PER_RANK_BATCH]}
STEPS=${2:-8}
B=${3:-8}
DINO=$(realpath "${DINO:-.build/release/dino}")
DATA=${DATA:-../shared/datasets/glyphs-dev/train}
MPI=(mpirun --oversubscribe --allow-run-as-root --bind-to none --mca mpi_yield_when_idle 1
     --mca btl vader,self --mca btl_vader_single_copy_mechanism none)
MODEL=${MODEL:-dino_vits16}
GLOBAL=${GLOBAL:-224}
LOCAL=${LOCAL:-96}
ARGS=(--method dino --model "$MODEL" --data "$DATA" --epochs 1 --max-steps "$STEPS" --log-every-steps 1 --quiet --seed 0
      head.prototypes=65536 crops.global_size="$GLOBAL" crops.local_size="$LOCAL" crops.local_count=2)
mkdir -p "$OUT"
: > "$OUT/summary.jsonl"

arm() {  # arm NAME RANKS THREADS BATCH [extra args…]
    local name=$1 ranks=$2 threads=$3 batch=$4; shift 4
    local run="$OUT/$name"
    rm -rf "$run"
    echo "== $name: $ranks rank(s) × $threads thread(s), global batch $batch $*"
    local start=$SECONDS
    if [ "$ranks" = 1 ]; then
        "$DINO" train "${ARGS[@]}" --out "$run" --batch-size "$batch" --threads "$threads" "$@"
    else
        "${MPI[@]}" -np "$ranks" "$DINO" train "${ARGS[@]}" --out "$run" --batch-size "$batch" --threads "$threads" "$@"
    fi
    python3 - "$run" "$name" "$ranks" "$threads" "$batch" "$((SECONDS - start))" >> "$OUT/summary.jsonl" <<'PY'
import json, statistics, sys
run, name, ranks, threads, batch, wall = sys.argv[1:]
rows = [json.loads(l) for l in open(run + "/metrics.jsonl") if l.strip()]
rows = [r for r in rows if r["step"] >= 2]
step = statistics.median(r["step_seconds"] for r in rows)
wait = statistics.median(r.get("comm_wait_seconds", 0.0) for r in rows)
print(json.dumps({"arm": name, "ranks": int(ranks), "threads": int(threads), "global_batch": int(batch),
                  "steps_timed": len(rows), "step_seconds": round(step, 4), "comm_wait_seconds": round(wait, 4),
                  "wait_share": round(wait / step, 4), "images_per_second": round(int(batch) / step, 3),
                  "wall_seconds": int(wall)}))
PY
    tail -1 "$OUT/summary.jsonl"
}

arm r1t1 1 1 "$B"
arm r2t1 2 1 $((2 * B))
arm r2t1-no 2 1 $((2 * B)) --no-gradient-overlap
arm r1t2 1 2 $((2 * B))
arm r3t1 3 1 $((3 * B))
arm r3t1-no 3 1 $((3 * B)) --no-gradient-overlap
echo "summary: $OUT/summary.jsonl"
