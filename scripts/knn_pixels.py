#!/usr/bin/env python3
"""The raw-pixel k-NN baseline of an image-folder set: every image as its 32 × 32 gray pixels
(resized with PIL's default filter), centred and L2-normalised per image, classified by the same
weighted vote as `dino eval knn` (k 20, weights exp(cos / 0.07)) against the training split.

It answers what the k-NN figures of docs/benchmarks-robustness.md are to be read against: the
features a backbone learns should keep at least what the pixels already tell the k-NN.

Usage: python3 scripts/knn_pixels.py TRAIN_DIR VAL_DIR [--size 32] [--k 20]   (needs numpy, Pillow)
"""
import argparse
import os

import numpy as np
from PIL import Image


def load(root, size):
    xs, ys = [], []
    for c in sorted(os.listdir(root)):
        d = os.path.join(root, c)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f.lower().endswith((".png", ".jpg", ".jpeg")):
                im = Image.open(os.path.join(d, f)).convert("L").resize((size, size))
                xs.append(np.asarray(im, dtype=np.float32).ravel())
                ys.append(c)
    x = np.array(xs)
    x -= x.mean(1, keepdims=True)
    return x / np.maximum(1e-8, np.linalg.norm(x, axis=1, keepdims=True)), ys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("val")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--temperature", type=float, default=0.07)
    a = ap.parse_args()
    xt, yt = load(a.train, a.size)
    xv, yv = load(a.val, a.size)
    classes = sorted(set(yt))
    index = {c: i for i, c in enumerate(classes)}
    lt = np.array([index[c] for c in yt])
    lv = np.array([index.get(c, -1) for c in yv])
    s = xv @ xt.T
    nn = np.argsort(-s, axis=1)[:, : a.k]
    w = np.exp(np.take_along_axis(s, nn, 1) / a.temperature)
    votes = np.zeros((len(xv), len(classes)))
    for j in range(a.k):
        np.add.at(votes, (np.arange(len(xv)), lt[nn[:, j]]), w[:, j])
    top1 = (votes.argmax(1) == lv).mean() * 100
    top5 = np.mean([l in row for l, row in zip(lv, np.argsort(-votes, axis=1)[:, :5])]) * 100
    print(f'{{"train": {len(xt)}, "val": {len(xv)}, "top1": {top1:.2f}, "top5": {top5:.2f}}}')


if __name__ == "__main__":
    main()
