#!/usr/bin/env python3
"""The 5-rings toy of ssl-data-curation's README, run with the reference code, for comparison
with Tests/DinoCurationTests/RingsToyTests.swift and docs/benchmarks-curate.md.

Usage: python3 scripts/curation_rings_reference.py PATH_TO_SSL_DATA_CURATION_CHECKOUT [SCALE] [SEEDS]

SCALE divides ring sizes, cluster counts and the target (1 = the README's settings); sample
sizes stay [15, 2]. Prints, per numpy seed, the ring shares of the sampled points, their
normalised entropy and the smallest share, and the same for uniform random sampling.
"""
import sys
import types
from pathlib import Path

import numpy as np
import torch

checkout = Path(sys.argv[1]).resolve()
scale = int(sys.argv[2]) if len(sys.argv) > 2 else 1
seeds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
for name, attrs in [("sklearn", {}), ("sklearn.utils", {"check_random_state": lambda s: np.random.mtrand._rand if s is None else s}),
                    ("tqdm", {"tqdm": lambda it, **kw: it})]:
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules.setdefault(name, m)
if not hasattr(np, "Inf"):
    np.Inf = np.inf
sys.path.insert(0, str(checkout))
from src import hierarchical_kmeans_gpu as hkmg  # noqa: E402
from src import hierarchical_sampling as hs  # noqa: E402
from src.clusters import HierarchicalCluster  # noqa: E402


def make_ring(n, rmin, rmax):
    r = np.random.rand(n) * (rmax - rmin) + rmin
    alpha = np.random.rand(n) * 2 * np.pi
    return np.vstack([r * np.cos(alpha), r * np.sin(alpha)]).T


def entropy(p):
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(5))


sizes = [20000 // scale, 200 // scale, 1000 // scale, 500 // scale, 8000 // scale]
centres = [(-2.2, 1.0), (0.0, 1.0), (2.2, 1.0), (-1.2, 0.2), (1.2, 0.2)]
for seed in range(seeds):
    np.random.seed(seed)
    data = np.concatenate([make_ring(n, 0.7, 1.0) + np.array(c) for n, c in zip(sizes, centres)])
    ring = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)])
    clusters = hkmg.hierarchical_kmeans_with_resampling(
        data=torch.tensor(data, dtype=torch.float32), n_clusters=[1000 // scale, 300 // scale], n_levels=2,
        sample_sizes=[15, 2], verbose=False)
    cl = HierarchicalCluster.from_dict(clusters)
    idx = hs.hierarchical_sampling(cl, target_size=1000 // scale).astype(int)
    p = np.bincount(ring[idx], minlength=5) / len(idx)
    q = np.bincount(ring[np.random.choice(len(ring), 1000 // scale, replace=False)], minlength=5) / (1000 // scale)
    print(f"seed {seed}: shares {np.round(p, 3).tolist()} entropy {entropy(p):.3f} smallest {p.min():.3f} | "
          f"random: entropy {entropy(q):.3f} smallest {q.min():.3f}", flush=True)
