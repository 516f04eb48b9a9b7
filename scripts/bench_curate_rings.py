#!/usr/bin/env python3
"""The 5-rings toy of ssl-data-curation's README through `dino curate cluster` and `sample`
(release build), at full size by default, for docs/benchmarks-curate.md.

Usage: python3 scripts/bench_curate_rings.py [SCALE] [SEEDS]

Rings of 20000, 200, 1000, 500 and 8000 points (÷ SCALE), numpy seed s for the data and
`--random-seed s` for ours; 2 levels of [1000, 300] clusters (÷ SCALE), sample sizes [15, 2],
10 resampling steps, 1000 samples (÷ SCALE), strategy r. Prints the ring shares, their
normalised entropy and the smallest share. The reference's numbers come from
scripts/curation_rings_reference.py.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1
seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
dino = os.path.join(root, ".build/release/dino")
sizes = [20000 // scale, 200 // scale, 1000 // scale, 500 // scale, 8000 // scale]
centres = [(-2.2, 1.0), (0.0, 1.0), (2.2, 1.0), (-1.2, 0.2), (1.2, 0.2)]


def make_ring(n, rmin, rmax):
    r = np.random.rand(n) * (rmax - rmin) + rmin
    alpha = np.random.rand(n) * 2 * np.pi
    return np.vstack([r * np.cos(alpha), r * np.sin(alpha)]).T


for seed in range(seeds):
    np.random.seed(seed)
    x = np.concatenate([make_ring(n, 0.7, 1.0) + np.array(c) for n, c in zip(sizes, centres)]).astype(np.float32)
    paths = [f"/ring{r}/{i}.png" for r, n in enumerate(sizes) for i in range(n)]
    tmp = tempfile.mkdtemp(prefix="rings-")
    h = json.dumps({"embeddings": {"dtype": "F32", "shape": list(x.shape), "data_offsets": [0, x.nbytes]},
                    "__metadata__": {"paths": json.dumps(paths)}}).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    emb = os.path.join(tmp, "rings.safetensors")
    with open(emb, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + x.tobytes())
    t0 = time.time()
    subprocess.run([dino, "curate", "cluster", "--embeddings", emb, "--clusters", f"{1000 // scale},{300 // scale}",
                    "--sample-sizes", "15,2", "--random-seed", str(seed), "--out", os.path.join(tmp, "c")],
                   check=True, capture_output=True)
    subprocess.run([dino, "curate", "sample", "--clusters", os.path.join(tmp, "c/clusters.json"), "--target",
                    str(1000 // scale), "--random-seed", str(seed), "--out", os.path.join(tmp, "s")],
                   check=True, capture_output=True)
    wall = time.time() - t0
    kept = open(os.path.join(tmp, "s/kept.txt")).read().split()
    p = np.bincount([int(k.split("/")[1][4:]) for k in kept], minlength=5) / len(kept)
    nz = p[p > 0]
    entropy = float(-(nz * np.log(nz)).sum() / np.log(5))
    print(f"seed {seed}: shares {np.round(p, 3).tolist()} entropy {entropy:.3f} smallest {p.min():.3f} ({wall:.1f} s)", flush=True)
