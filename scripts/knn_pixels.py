#!/usr/bin/env python3
"""The raw-pixel k-NN baseline of an image-folder set: every image as its 32 × 32 gray pixels
(resized with PIL's default filter), centred and L2-normalised per image, classified by the
weighted vote of the k-NN peers (`bench_dino_peer.knn`: k 20, weights exp(cos / 0.07), as
`dino eval knn`) against the training split.

It answers what the k-NN figures of docs/benchmarks-robustness.md are to be read against: the
features a backbone learns should keep at least what the pixels already tell the k-NN.

Usage: python3 scripts/knn_pixels.py TRAIN_DIR VAL_DIR [--size 32] [--k 20]   (needs torch, numpy, Pillow)
"""
import argparse
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_dino_peer import image_folder, knn  # noqa: E402  (the peers' folder reader and vote)


def pixels(items, size):
    x = np.stack([np.asarray(Image.open(p).convert("L").resize((size, size)), dtype=np.float32).ravel()
                  for p, _ in items])
    x -= x.mean(1, keepdims=True)
    return torch.from_numpy(x / np.maximum(1e-8, np.linalg.norm(x, axis=1, keepdims=True)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("val")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--temperature", type=float, default=0.07)
    a = ap.parse_args()
    train, classes = image_folder(a.train)
    val, val_classes = image_folder(a.val)
    # The val split may hold a subset of the classes: its labels by name, in the train's order.
    index = {c: i for i, c in enumerate(classes)}
    train_y = torch.tensor([y for _, y in train])
    val_y = torch.tensor([index[val_classes[y]] for _, y in val])
    top1, top5 = knn(pixels(train, a.size), train_y, pixels(val, a.size), val_y, k=a.k, t=a.temperature,
                     classes=len(classes))
    print(f'{{"train": {len(train)}, "val": {len(val)}, "top1": {top1:.2f}, "top5": {top5:.2f}}}')


if __name__ == "__main__":
    main()
