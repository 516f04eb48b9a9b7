#!/usr/bin/env python3
"""Preliminary timings of `dino curate` on random embeddings (docs/benchmarks-curate.md).

Usage: python3 scripts/bench_curate.py [N] [D] [STEPS] [DATA]
  N      rows (default 100000), D width (default 384)
  DATA   random (default: i.i.d. Gaussian rows, no neighbour structure — the worst case for an
         approximate index) or clustered (N/100 Gaussian centres, 100 rows each at noise 0.5,
         so every row has ~99 meaningful neighbours)
  STEPS  comma-separated subset of dedup (exact), dedup-hnsw, dedup-ivf, recall-hnsw, recall-ivf,
         cluster (default: dedup,cluster)

Writes N random Gaussian rows (numpy seed 0), L2-normalised, as a `dino embed`-style safetensors file in a temp
folder, runs the release build's `dino curate dedup` and `dino curate cluster` on it, and
prints wall time and peak resident memory of each (getrusage of the child). Build first:
`swift build -c release --product dino`. Only numpy is needed.
"""
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
d = int(sys.argv[2]) if len(sys.argv) > 2 else 384
steps = sys.argv[3].split(",") if len(sys.argv) > 3 else ["dedup", "cluster"]
data = sys.argv[4] if len(sys.argv) > 4 else "random"
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
dino = os.path.join(root, ".build/release/dino")

tmp = tempfile.mkdtemp(prefix="bench-curate-")
rs = np.random.RandomState(0)
if data == "clustered":
    centres = rs.standard_normal((max(1, n // 100), d))
    x = (centres[np.arange(n) % len(centres)] + 0.5 * rs.standard_normal((n, d))).astype(np.float32)
else:
    x = rs.standard_normal((n, d)).astype(np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)     # unit rows, as `dino embed` writes them
paths = [f"img/{i:07d}.png" for i in range(n)]
header = {"embeddings": {"dtype": "F32", "shape": [n, d], "data_offsets": [0, x.nbytes]},
          "__metadata__": {"paths": json.dumps(paths)}}
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
emb = os.path.join(tmp, "embeddings.safetensors")
with open(emb, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + x.tobytes())
del x

commands = {
    "dedup": [dino, "curate", "dedup", "--embeddings", emb, "--out", os.path.join(tmp, "dedup")],
    "cluster": [dino, "curate", "cluster", "--embeddings", emb, "--out", os.path.join(tmp, "cluster")],
}
for kind in ["hnsw", "ivf"]:
    commands[f"dedup-{kind}"] = [dino, "curate", "dedup", "--embeddings", emb, "--index", kind, "--out", os.path.join(tmp, kind)]
    commands[f"recall-{kind}"] = [dino, "curate", "recall", "--embeddings", emb, "--index", kind]
commands["dedup"] += ["--index", "exact"]
for step in steps:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.time()
    out = subprocess.run(commands[step], capture_output=True, text=True)
    wall = time.time() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if out.returncode != 0:
        sys.exit(f"{step} failed:\n{out.stderr[-2000:]}")
    print(f"{step}: N {n} D {d}: {wall:.1f} s wall, peak RSS {peak / 1024:.0f} MiB"
          f"{'' if peak > before else ' (not above an earlier step)'}")
    print("\n".join("    " + l for l in out.stdout.strip().splitlines()[-8:]), flush=True)
print(f"(files in {tmp})")
