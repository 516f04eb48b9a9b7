#!/usr/bin/env bash
# Op benchmark of swift-dino beside PyTorch: runs `dino bench ops --json` (release build), then
# scripts/bench_ops_torch.py twice — with the environment as it is, and with OPENBLAS_CORETYPE
# and OPENBLAS_L2_SIZE unset for that command alone — and prints the joined ratio table.
# Run it on an idle machine: medians resist noise, not a build running beside the benchmark.
#
# Usage: scripts/bench_ops.sh [--threads 1,2] [--repeats 10] [--warmup 2] [--filter TEXT]
# Environment: DINO (default .build/release/dino), PYTHON (default python3), OUT (a folder to
# keep the JSON lines in; default a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."

dino=${DINO:-.build/release/dino}
python=${PYTHON:-python3}
[[ -x $dino ]] || { echo "bench_ops.sh: $dino not found; run: swift build -c release" >&2; exit 1; }
"$python" -c 'import torch' 2>/dev/null \
    || { echo "bench_ops.sh: torch missing; run: $python -m pip install torch" >&2; exit 1; }
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}"
echo "swift-dino ..." >&2
"$dino" bench ops --json "$@" > "$out/swift.jsonl"
echo "torch ..." >&2
"$python" scripts/bench_ops_torch.py "$@" > "$out/torch.jsonl"
echo "torch, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset ..." >&2
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" scripts/bench_ops_torch.py "$@" > "$out/torch_unset.jsonl"
echo
"$python" scripts/bench_ops_join.py "$out/swift.jsonl" "$out/torch.jsonl" "$out/torch_unset.jsonl"
echo "JSON lines kept in $out" >&2
