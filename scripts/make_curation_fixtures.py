#!/usr/bin/env python3
"""Golden fixtures for DinoCuration from facebookresearch/ssl-data-curation's own code.

Usage:
    python3 -m pip install numpy torch          # PyPI wheels; no GPU needed
    python3 scripts/make_curation_fixtures.py PATH_TO_SSL_DATA_CURATION_CHECKOUT

Writes Tests/DinoCurationTests/Fixtures/hierarchical_kmeans.json.

The reference code is imported from the checkout given (never copied into this repository).
It draws its randomness from numpy (`check_random_state(None)` → the global RandomState,
`np.random.choice`); this script hands it a recorder that draws from a seeded RandomState and
logs every draw in order: `randint n → value`, `uniform count → values`,
`choice n k → positions`. The Swift tests replay that log through `CurationRandomSource`, so
both sides start from the same k-means++ seeds and make the same random choices; everything
else (distances, Lloyd iterations, resampling, cluster flattening, the cut search, the
closest-first order) must then agree.

Cases (all on one Float32 data set of 300 points in 4-D: six Gaussian blobs of 150, 80, 40,
15, 10 and 5 points):
  kmeans        `kmeans_gpu.kmeans(X, 8, n_iters=50, num_init=2, dist="l2", high_precision=float64)`
  hierarchical  `hierarchical_kmeans_gpu.hierarchical_kmeans_with_resampling(X, [12, 4], 2,
                 sample_sizes=[4, 2], n_resamples=3)`; then every level's clusters sorted by
                 `kmeans_gpu.sort_cluster_by_distance` (what the launcher saves as
                 sorted_clusters.npy)
  sampling_c / sampling_r / sampling_m2
                `hierarchical_sampling.hierarchical_sampling` on those clusters: target 60
                with strategy "c", target 60 with "r", target 500 with multiplier 2 and "c".
The stand-ins for sklearn's `check_random_state` and tqdm (scripts/ssl_data_curation.py) only
serve imports the code makes; every draw goes through the recorder below.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from ssl_data_curation import load

if len(sys.argv) != 2:
    sys.exit(__doc__)
checkout = Path(sys.argv[1]).resolve()

reference = load(checkout)
kmg, hkmg, hs, HierarchicalCluster = reference.kmg, reference.hkmg, reference.hs, reference.HierarchicalCluster


class Recorder:
    """A numpy RandomState that logs every draw."""

    def __init__(self, seed):
        self.state = np.random.RandomState(seed)
        self.events = []

    def randint(self, n):
        v = int(self.state.randint(n))
        self.events.append({"kind": "randint", "n": int(n), "values": [v]})
        return v

    def uniform(self, size):
        v = self.state.uniform(size=size)
        self.events.append({"kind": "uniform", "n": int(size), "values": [float(x) for x in v]})
        return v

    def choice(self, a, size, replace=True):
        assert not replace, "the reference only draws without replacement here"
        a = np.asarray(a)
        positions = self.state.choice(len(a), size, replace=False)
        self.events.append({"kind": "choice", "n": int(len(a)), "values": [int(p) for p in positions]})
        return a[positions]


recorder = Recorder(0)
kmg.check_random_state = lambda s: recorder     # random_state=None → our recorder
np.random.choice = recorder.choice              # hierarchical_sampling's global draws


def take_events():
    events, recorder.events = recorder.events, []
    return events


def floats(t):
    return [[float(v) for v in row] for row in np.asarray(t, dtype=np.float32)]


# The data: six blobs, imbalanced.
rng = np.random.RandomState(1234)
sizes = [150, 80, 40, 15, 10, 5]
centres = rng.normal(size=(6, 4)) * 3
data = np.concatenate([c + rng.normal(size=(s, 4)) * 0.6 for c, s in zip(centres, sizes)]).astype(np.float32)
X = torch.tensor(data)

out = {"data": floats(data)}

# One k-means.
centroids, clusters, assignment, pot = kmg.kmeans(
    X, n_clusters=8, n_iters=50, num_init=2, dist="l2", high_precision=torch.float64, random_state=None)
out["kmeans"] = {
    "clusters": 8, "iterations": 50, "initializations": 2,
    "events": take_events(),
    "centroids": floats(centroids),
    "assignment": [int(a) for a in assignment],
    "potential": float(pot),
}

# Hierarchical k-means with resampling.
levels = hkmg.hierarchical_kmeans_with_resampling(
    X, n_clusters=[12, 4], n_levels=2, sample_sizes=[4, 2], n_resamples=3, verbose=False)
hier_events = take_events()
sorted_levels = []
level_data = X
for level in levels:
    sorted_clusters = kmg.sort_cluster_by_distance(level_data, level["centroids"], level["clusters"], device="cpu")
    sorted_levels.append({"clusters": sorted_clusters})
    level_data = level["centroids"]
out["hierarchical"] = {
    "clusters": [12, 4], "sample_sizes": [4, 2], "resampling_steps": [3, 3],
    "events": hier_events,
    "levels": [{
        "centroids": floats(level["centroids"]),
        "assignment": [int(a) for a in level["assignment"]],
        "sorted_clusters": [[int(i) for i in c] for c in s["clusters"]],
    } for level, s in zip(levels, sorted_levels)],
}

hc = HierarchicalCluster.from_dict(sorted_levels)
for name, target, multiplier, strategy in [("sampling_c", 60, 1, "c"), ("sampling_r", 60, 1, "r"),
                                           ("sampling_m2", 500, 2, "c")]:
    samples = hs.hierarchical_sampling(hc, target_size=target, multiplier=multiplier, sampling_strategy=strategy)
    out[name] = {"target": target, "multiplier": multiplier, "strategy": strategy,
                 "events": take_events(), "samples": [int(i) for i in samples]}

path = Path(__file__).resolve().parent.parent / "Tests/DinoCurationTests/Fixtures/hierarchical_kmeans.json"
path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
print(f"wrote {path} ({path.stat().st_size} bytes)")
