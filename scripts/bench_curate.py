#!/usr/bin/env python3
"""Preliminary timings of `dino curate` on random embeddings (docs/benchmarks-curate.md).

Usage: python3 scripts/bench_curate.py [N] [D] [STEPS]
  N      rows (default 100000), D width (default 384)
  STEPS  comma-separated subset of dedup,cluster (default both)

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
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
dino = os.path.join(root, ".build/release/dino")

tmp = tempfile.mkdtemp(prefix="bench-curate-")
x = np.random.RandomState(0).standard_normal((n, d)).astype(np.float32)
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
    print("\n".join("    " + l for l in out.stdout.strip().splitlines()[-8:]))
print(f"(files in {tmp})")
