#!/usr/bin/env python3
"""The Python peers of `dino curate` on one embeddings file, for scripts/bench_curate.py.

Usage:
  python3 scripts/curate_reference.py dedup EMB LISTS PROBES K THRESHOLD
      faiss-cpu (PyPI) IndexIVFFlat by inner product (LISTS lists, PROBES probed), every row
      searched for its K + 1 nearest rows, edges with similarity > THRESHOLD (self excluded),
      scipy's connected components, the lowest row of each component kept — the deduplication
      `dino curate dedup --index ivf` does.
  python3 scripts/curate_reference.py cluster EMB SSL_DATA_CURATION C1,C2,… S1,S2,… RESAMPLES TARGET
      facebookresearch/ssl-data-curation's own code, imported from the checkout given (never
      copied here): `hierarchical_kmeans_with_resampling` (k-means++ starts, 50 iterations,
      Float64 accumulation, RESAMPLES resampling steps per level, sample sizes S), the clusters
      sorted by distance (`sort_cluster_by_distance`), then `hierarchical_sampling` of TARGET
      rows (strategy r) — what `dino curate cluster` and `dino curate sample` do.

Prints one JSON line: the step's result (components and rows kept, or clusters and rows drawn)
and its wall time. Threads: faiss and torch use every core, as `dino` does by default.
Needs numpy, scipy, faiss-cpu and torch (CPU); the embeddings file is `dino embed`'s
safetensors (an "embeddings" (N, D) Float32 tensor).
"""
import json
import struct
import sys
import time

import numpy as np


def read_embeddings(path):
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        entry = header["embeddings"]
        assert entry["dtype"] == "F32", entry
        start, end = entry["data_offsets"]
        f.seek(8 + size + start)
        x = np.fromfile(f, dtype=np.float32, count=(end - start) // 4)
    return x.reshape(entry["shape"])


def dedup(emb, lists, probes, k, threshold):
    import faiss
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    x = read_embeddings(emb)
    n, d = x.shape
    t0 = time.time()
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, lists, faiss.METRIC_INNER_PRODUCT)
    index.train(x)
    index.add(x)
    index.nprobe = probes
    sims, labels = index.search(x, k + 1)
    rows = np.repeat(np.arange(n), k + 1)
    keep = (labels.ravel() >= 0) & (labels.ravel() != rows) & (sims.ravel() > threshold)
    graph = coo_matrix((np.ones(keep.sum(), dtype=np.int8), (rows[keep], labels.ravel()[keep])), shape=(n, n))
    components, assignment = connected_components(graph, directed=False)
    _, first = np.unique(assignment, return_index=True)
    wall = time.time() - t0
    print(json.dumps({"step": "faiss-ivf dedup", "rows": n, "edges": int(keep.sum()),
                      "components": int(components), "kept": int(len(first)), "wall_s": round(wall, 2)}))


def cluster(emb, checkout, clusters, sample_sizes, resamples, target):
    import torch
    from ssl_data_curation import load
    reference = load(checkout)
    hkmg, hs, kmg, HierarchicalCluster = reference.hkmg, reference.hs, reference.kmg, reference.HierarchicalCluster

    np.random.seed(0)
    x = torch.from_numpy(read_embeddings(emb))
    t0 = time.time()
    levels = hkmg.hierarchical_kmeans_with_resampling(
        x, n_clusters=clusters, n_levels=len(clusters), sample_sizes=sample_sizes,
        n_resamples=resamples, verbose=False)
    sorted_levels, data = [], x
    for level in levels:
        sorted_levels.append({"clusters": kmg.sort_cluster_by_distance(data, level["centroids"], level["clusters"], device="cpu")})
        data = level["centroids"]
    t1 = time.time()
    samples = hs.hierarchical_sampling(HierarchicalCluster.from_dict(sorted_levels), target_size=target, sampling_strategy="r")
    t2 = time.time()
    print(json.dumps({"step": "ssl-data-curation cluster + sample", "rows": int(x.shape[0]), "clusters": clusters,
                      "sample_sizes": sample_sizes, "resamples": resamples, "drawn": int(len(samples)),
                      "cluster_s": round(t1 - t0, 2), "sample_s": round(t2 - t1, 2), "wall_s": round(t2 - t0, 2)}))


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "dedup":
        dedup(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    elif what == "cluster":
        ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
        cluster(sys.argv[2], sys.argv[3], ints(sys.argv[4]), ints(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))
    else:
        sys.exit(__doc__)
