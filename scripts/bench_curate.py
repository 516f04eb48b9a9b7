#!/usr/bin/env python3
"""Preliminary timings of `dino curate` on random embeddings (docs/benchmarks-curate.md).

Usage: python3 scripts/bench_curate.py [N] [D] [STEPS] [DATA]
  N      rows (default 100000), D width (default 384)
  DATA   random (default: i.i.d. Gaussian rows, no neighbour structure — the worst case for an
         approximate index) or clustered (N/100 Gaussian centres, 100 rows each at noise 0.5,
         so every row has ~99 meaningful neighbours)
  STEPS  comma-separated subset of dedup (exact), dedup-hnsw, dedup-ivf, recall-hnsw, recall-ivf,
         cluster, cluster-sample (`dino curate cluster` then `sample`), and the Python peers on
         the same file: ref-dedup-ivf (faiss-cpu IVF-Flat + scipy connected components, the
         same lists, probes, k and threshold as dedup-ivf) and ref-cluster-sample
         (ssl-data-curation's hierarchical k-means and sampling, the same settings as
         cluster-sample) (default: dedup,cluster)

Writes N random Gaussian rows (numpy seed 0), L2-normalised, as a `dino embed`-style safetensors file in a temp
folder, runs the release build's `dino curate dedup` and `dino curate cluster` on it, and
prints wall time and peak resident memory of each (getrusage of the child). Build first:
`swift build -c release --product dino`. Only numpy is needed for our steps; the ref- steps
run scripts/curate_reference.py with PYTHON (default: this interpreter), which needs faiss-cpu,
scipy and torch, and SSL_DATA_CURATION (a checkout of facebookresearch/ssl-data-curation).

Settings of cluster-sample and ref-cluster-sample (environment): CLUSTERS (1000,100,20),
SAMPLE_SIZES (10,5,2), RESAMPLES (10 per level, the reference's), TARGET (N/10). The
reference runs 50 Lloyd iterations per k-means; so does `dino` (it stops early only when an
assignment repeats, which changes nothing after).
"""
import json
import multiprocessing
import os
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


def write_embeddings(path):
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
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + x.tobytes())


tmp = tempfile.mkdtemp(prefix="bench-curate-")
emb = os.path.join(tmp, "embeddings.safetensors")
# Written by a child process: a child's peak RSS as the kernel reports it (wait4) starts from
# this process's own peak, so this process must never hold the rows.
writer = multiprocessing.get_context("fork").Process(target=write_embeddings, args=(emb,))
writer.start()
writer.join()
if writer.exitcode != 0:
    sys.exit("writing the embeddings failed")

commands = {
    "dedup": [dino, "curate", "dedup", "--embeddings", emb, "--out", os.path.join(tmp, "dedup")],
    "cluster": [dino, "curate", "cluster", "--embeddings", emb, "--out", os.path.join(tmp, "cluster")],
}
for kind in ["hnsw", "ivf"]:
    commands[f"dedup-{kind}"] = [dino, "curate", "dedup", "--embeddings", emb, "--index", kind, "--out", os.path.join(tmp, kind)]
    commands[f"recall-{kind}"] = [dino, "curate", "recall", "--embeddings", emb, "--index", kind]
commands["dedup"] += ["--index", "exact"]
lists, probes = max(1, int(4 * n ** 0.5)), 16      # `dino curate dedup --index ivf`'s defaults
python = os.environ.get("PYTHON", sys.executable)
reference = os.path.join(root, "scripts/curate_reference.py")
commands["ref-dedup-ivf"] = [python, reference, "dedup", emb, str(lists), str(probes), "64", "0.6"]
clusters = os.environ.get("CLUSTERS", "1000,100,20")
sample_sizes = os.environ.get("SAMPLE_SIZES", "10,5,2")
resamples = int(os.environ.get("RESAMPLES", "10"))
target = int(os.environ.get("TARGET", str(n // 10)))
levels = len(clusters.split(","))
commands["cluster-sample"] = [
    "sh", "-c", '"$0" curate cluster --embeddings "$1" --clusters "$2" --sample-sizes "$3" --resampling-steps "$4" --out "$5" '
    '&& "$0" curate sample --clusters "$5/clusters.json" --target "$6" --out "$5/sample"',
    dino, emb, clusters, sample_sizes, ",".join([str(resamples)] * levels), os.path.join(tmp, "cluster-sample"), str(target)]
commands["ref-cluster-sample"] = [python, reference, "cluster", emb, os.environ.get("SSL_DATA_CURATION", ""),
                                  clusters, sample_sizes, str(resamples), str(target)]
for step in steps:
    log = os.path.join(tmp, f"{step}.log")
    t0 = time.time()
    with open(log, "w") as f:
        child = subprocess.Popen(commands[step], stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)     # this child's own peak, not the largest so far
    wall = time.time() - t0
    text = open(log).read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{step} failed:\n{text[-2000:]}")
    print(f"{step}: N {n} D {d}: {wall:.1f} s wall, peak RSS {usage.ru_maxrss / 1024:.0f} MiB")
    lines = [l.split("\r")[-1] for l in text.strip().splitlines()]
    print("\n".join("    " + l for l in lines[-8:]), flush=True)
print(f"(files in {tmp})")
