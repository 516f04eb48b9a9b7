#!/usr/bin/env python3
"""Deduplication against planted near-copies (issue 14's first measurement), preliminary.

Usage: python3 -m pip install numpy pillow
       python3 scripts/bench_curate_dedup.py [MODEL|RUN] [DESCRIPTOR] [ORIGINALS]

Builds two pools (numpy seeds 0 and 1) from glyphs-dev train: every original (the first
ORIGINALS, default all 3900) plus 0–5 near-copies of it (each copy: a random crop of 80–95 %
of the side resized back, a JPEG re-encoding at quality 30–90, a brightness/contrast jitter of
±30 %, a rotation of ±8°, each applied with probability 1/2, at least one), and 1–2 copies of
each of the first 400 glyphs-dev val images (the relative-deduplication targets). Embeds each
pool with `dino curate dedup` (release build; MODEL default vit_nano_patch4 with random
weights, DESCRIPTOR default copy-detection, 32 px), then re-runs deduplication on the cached
embeddings at several thresholds and scores the groups against the planted ones:
  pairwise F1   over pairs of pool images put in one group
  originals lost  Σ over predicted groups of (planted groups merged − 1) / originals
  val copies removed  by --against glyphs-dev/val (threshold 0.45)
The threshold with the best F1 on pool 0 is then scored on pool 1.
"""
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict

import numpy as np
from PIL import Image
from near_copies import near_copy

model = sys.argv[1] if len(sys.argv) > 1 else "vit_nano_patch4"
descriptor = sys.argv[2] if len(sys.argv) > 2 else "copy-detection"
originals_wanted = int(sys.argv[3]) if len(sys.argv) > 3 else 3900
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
dino = os.path.join(root, ".build/release/dino")
data = os.path.join(root, "../shared/datasets/glyphs-dev")
# MODEL may be a `dino train` run folder: its trained backbone embeds the pools.
trained = os.path.isdir(model)


def images(split):
    out = []
    for c in sorted(os.listdir(f"{data}/{split}")):
        out += [f"{data}/{split}/{c}/{f}" for f in sorted(os.listdir(f"{data}/{split}/{c}"))]
    return out


def build_pool(seed, tmp):
    rs = np.random.RandomState(seed)
    os.makedirs(f"{tmp}/pool", exist_ok=True)
    paths, group = [], []
    for i, src in enumerate(images("train")[:originals_wanted]):
        img = Image.open(src).convert("RGB")
        p = f"{tmp}/pool/o{i:05d}.png"
        img.save(p)
        paths.append(p)
        group.append(i)
        for c in range(rs.randint(0, 6)):
            p = f"{tmp}/pool/o{i:05d}_c{c}.png"
            near_copy(img, rs).save(p)
            paths.append(p)
            group.append(i)
    val_copies = []
    for j, src in enumerate(images("val")[:400]):
        img = Image.open(src).convert("RGB")
        for c in range(1 + rs.randint(0, 2)):
            p = f"{tmp}/pool/v{j:05d}_c{c}.png"
            near_copy(img, rs).save(p)
            paths.append(p)
            group.append(-1 - j)
            val_copies.append(p)
    with open(f"{tmp}/pool.txt", "w") as f:
        f.write("\n".join(paths) + "\n")
    return dict(zip(paths, group)), val_copies


def score(groups_file, truth, originals):
    predicted = json.load(open(groups_file))
    comp = {}
    for g, members in enumerate(predicted):
        for p in members:
            comp[p] = g
    pred_pairs = sum(len(m) * (len(m) - 1) // 2 for m in predicted)
    by_truth = Counter(truth[p] for p in truth if truth[p] >= 0)
    true_pairs = sum(n * (n - 1) // 2 for n in by_truth.values())
    cells = Counter((comp[p], truth[p]) for p in truth if p in comp and truth[p] >= 0)
    hits = sum(n * (n - 1) // 2 for n in cells.values())
    precision = hits / pred_pairs if pred_pairs else 1.0
    recall = hits / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    merged = defaultdict(set)
    for (g, t) in cells:
        merged[g].add(t)
    lost = sum(len(ts) - 1 for ts in merged.values()) / originals
    return f1, precision, recall, lost


def run(args):
    out = subprocess.run([dino, "curate", "dedup"] + args, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(out.stderr[-2000:])
    return out.stdout


thresholds = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97]
best = None
for seed in (0, 1):
    tmp = tempfile.mkdtemp(prefix=f"dedup-pool{seed}-")
    truth, val_copies = build_pool(seed, tmp)
    originals = len([g for g in set(truth.values()) if g >= 0])
    source = ["--run", model] if trained else ["--model", model, "--random-init"]
    embed_args = ["--pool", f"{tmp}/pool.txt"] + source + ["--descriptor", descriptor, "--image-size", "32", "--index", "exact"]
    run(embed_args + ["--out", f"{tmp}/embed"])
    emb = f"{tmp}/embed/pool_embeddings.safetensors"
    print(f"pool {seed}: {len(truth)} images, {originals} originals, {len(val_copies)} copies of val images "
          f"({model}, {'trained' if trained else 'random'} weights, {descriptor})", flush=True)
    for t in (thresholds if seed == 0 else [best[1]]):
        run(["--embeddings", emb, "--threshold", str(t), "--index", "exact", "--out", f"{tmp}/t{t}"])
        f1, p, r, lost = score(f"{tmp}/t{t}/duplicate_groups.json", truth, originals)
        print(f"  threshold {t:.2f}: pairwise F1 {f1:.3f} (precision {p:.3f}, recall {r:.3f}), originals lost {lost * 100:.2f} %",
              flush=True)
        if seed == 0 and (best is None or f1 > best[0]):
            best = (f1, t)
    # Relative deduplication against glyphs-dev val (embedded with the pool's whitening).
    run(embed_args + ["--against", f"{data}/val", "--out", f"{tmp}/relative"])
    kept = set(open(f"{tmp}/relative/kept.txt").read().split())
    removed = sum(1 for p in val_copies if p not in kept)
    print(f"  --against val (0.45): {removed}/{len(val_copies)} planted val copies removed "
          f"({removed / len(val_copies) * 100:.1f} %); pool images kept {len(kept)}", flush=True)
