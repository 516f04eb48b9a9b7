#!/usr/bin/env bash
# The probes' heads beside the reference modules (issue 13), in one run: `dino bench probes` and
# scripts/bench_probes_reference.py (PyTorch, CPU) on the same cached-features file, the same step
# counts, batch sizes and thread count; per probe the median wall time of each side and the ratio
# ours / reference (below 1: ours is faster). docs/benchmarks-eval.md, "Probe heads beside the
# reference modules".
#
# Wall-clock budget: at most 10 minutes on 2 idle cores with the defaults, about 5 estimated (each
# side: per probe one untimed run and 3 timed runs, ours ~20 s and the reference ~55 s per round of
# the four probes in single-thread smoke runs; writing the features file once, ~5 s). Run it on an
# idle machine: medians resist noise, not a build or a benchmark running beside this one (a busy
# machine makes PyTorch's 2-thread runs 10–15× slower than its 1-thread runs).
#
# Usage: scripts/bench_probes.sh [--threads 2] [--repeats 3] [--segmentation-epochs 1]
#            [--depth-epochs 1] [--linear-epochs 10] [--probes segmentation,depth,video,linear]
#        (every option goes to both sides unchanged)
# Environment: DINO (default .build/release/dino), PYTHON (default python3), FEATURES (the
# features file; default: written to OUT by bench_probes_reference.py --write, seed 0), OUT (a
# folder for the file and the JSON; default a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."

dino=${DINO:-.build/release/dino}
python=${PYTHON:-python3}
[[ -x $dino ]] || { echo "bench_probes.sh: $dino not found; run: swift build -c release" >&2; exit 1; }
"$python" -c 'import torch, safetensors, cv2, skimage, PIL' 2>/dev/null \
    || { echo "bench_probes.sh: needs torch, safetensors, opencv-python, scikit-image, pillow for $python" >&2; exit 1; }
args=("$@")
[[ " ${args[*]-} " == *" --threads "* ]] || args+=(--threads 2)
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
features=${FEATURES:-$out/probes.safetensors}
if [[ ! -f $features ]]; then
    echo "writing $features (random features, seed 0) ..." >&2
    "$python" scripts/bench_probes_reference.py --write "$features"
fi

flags=$(sed -n 's/^flags\s*: //p' /proc/cpuinfo | head -1)
isa=$(for f in sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16; do
          if [[ " $flags " == *" $f "* ]]; then printf '%s ' "$f"; fi; done)
echo "machine: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "ISA: ${isa:-baseline x86-64}"
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OMP_NUM_THREADS=${OMP_NUM_THREADS-<unset>}"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "features: $features"
echo "swift-dino ..." >&2
"$dino" bench probes --features "$features" --json "${args[@]}" > "$out/swift.json"
echo "reference (PyTorch) ..." >&2
"$python" scripts/bench_probes_reference.py --features "$features" --json "${args[@]}" > "$out/reference.json"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$python" - "$out/swift.json" "$out/reference.json" <<'EOF'
import json, sys
ours, ref = (json.load(open(p)) for p in sys.argv[1:3])
print(f"threads {ours['threads']} (reference {ref['threads']}, torch {ref['torch']}); median of {ours['repeats']} runs after 1 untimed; "
      f"epochs: segmentation {ours['segmentation_epochs']}, depth {ours['depth_epochs']}, linear {ours['linear_epochs']}")
print(f"{'probe':<14} {'ours s':>8} {'reference s':>12} {'ours/ref':>9}   {'score (ours | reference)':<28} work (ours)")
by_probe = {r["probe"]: r for r in ref["results"]}
for r in ours["results"]:
    q = by_probe.get(r["probe"])
    if q is None:
        continue
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"
    scores = f"{fmt(r['score'])} | {fmt(q['score'])} {r['score_name']}"
    print(f"{r['probe']:<14} {r['median_s']:8.3f} {q['median_s']:12.3f} {r['median_s'] / q['median_s']:9.3f}   {scores:<28} {r['work']}")
for q in ref["results"]:
    print(f"reference {q['probe']}: {q['work']}")
print("scores come from random features and differ by the initialisation: they show the work was done, nothing more")
EOF
echo "JSON kept in $out" >&2
