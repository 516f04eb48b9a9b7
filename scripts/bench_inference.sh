#!/usr/bin/env bash
# Backbone inference beside PyTorch eager and ONNX Runtime (docs/benchmarks-models.md, issue 16):
# images/s of `dinov2_vits14` and `dinov3_vits16` forward passes at 224 px (random weights and
# images), `dino bench models` against scripts/bench_models_pytorch.py (the official modules in
# PyTorch eager, and the same modules exported to ONNX and run by ONNX Runtime's CPU provider),
# for every batch size in BATCHES and thread count in THREAD_COUNTS, REPEATS rounds with the
# three frameworks interleaved in each; each framework's figure is the median over rounds of
# its median batch time (--repeats 5 timed batches after 2 untimed).
#
#   scripts/bench_inference.sh OUT
#
# Environment: DINO (binary, default .build/release/dino), PYTHON (with torch 2.13 and
# `pip install onnxruntime==1.32.0 onnx==1.23.2 onnxscript==0.7.2`, the versions measured), DINOV2 and DINOV3 (checkouts of
# facebookresearch/dinov2 and dinov3), BATCHES (default "8 32"), THREAD_COUNTS (default "1 2"),
# REPEATS (default 3).
# Budget (2 cores, idle, Zen 4): a round of one batch size and thread count takes about 1 min at
# batch 8 and 4 min at batch 32 with 1 thread (half with 2), the ONNX export about 20 s a model
# the first time: about 25 minutes for the defaults. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=${DINO:-.build/release/dino}
PYTHON=${PYTHON:-python3}
DINOV2=${DINOV2:?set DINOV2 to a checkout of facebookresearch/dinov2}
DINOV3=${DINOV3:?set DINOV3 to a checkout of facebookresearch/dinov3}
BATCHES=${BATCHES:-8 32} THREAD_COUNTS=${THREAD_COUNTS:-1 2} REPEATS=${REPEATS:-3}
out=${1:?usage: $0 OUT}
mkdir -p "$out"
: > "$out/inference.jsonl"
for r in $(seq 1 "$REPEATS"); do
    for b in $BATCHES; do
        for t in $THREAD_COUNTS; do
            "$DINO" bench models --batch-size "$b" --threads "$t" --repeats 5 --warmup 2 2>/dev/null \
                | grep '^{' | tee -a "$out/inference.jsonl"
            "$PYTHON" scripts/bench_models_pytorch.py --dinov2 "$DINOV2" --dinov3 "$DINOV3" --batch-size "$b" --threads "$t" \
                --repeats 5 --warmup 2 --onnx "$out/onnx" 2>/dev/null | grep '^{' | tee -a "$out/inference.jsonl"
        done
    done
done
python3 - "$out/inference.jsonl" <<'PY' | tee "$out/inference.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    fw = r["framework"].split()[0]
    groups.setdefault((r["model"], r["batch_size"], r["threads"]), {}).setdefault(fw, []).append(r["images_per_s"])
print("| model | batch | threads | swift-dino | PyTorch eager | ONNX Runtime | ours / PyTorch | ours / ORT |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for (model, batch, threads), fws in sorted(groups.items()):
    med = {fw: statistics.median(v) for fw, v in fws.items()}
    ours, pt, ort = med.get("swift-dino"), med.get("pytorch"), med.get("onnxruntime")
    cell = lambda v: f"{v:.2f}" if v else "—"
    ratio = lambda a, b: f"**{a / b:.2f}×**" if a and b else "—"
    print(f"| {model} | {batch} | {threads} | {cell(ours)} | {cell(pt)} | {cell(ort)} | {ratio(ours, pt)} | {ratio(ours, ort)} |")
PY
