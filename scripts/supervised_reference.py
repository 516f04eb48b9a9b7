#!/usr/bin/env python3
"""Can the protocol's model learn a set at all, with labels? A supervised PyTorch reference for
docs/benchmarks-robustness.md: a timm `VisionTransformer` of `vit_nano_patch4`'s shape (32 px,
4-px patches, 128 wide, 6 blocks, 4 heads, class token) or a small CNN with batch norm (three
stages of two 3 × 3 convolutions + BN + ReLU and a 2 × 2 max pool, 32 → 64 → 128 channels,
global average pool, linear head) trained from random initialisation on an image-folder set
with cross-entropy, AdamW (weight decay 0.05), batch 64, one epoch of linear warm-up then a
cosine to 0 per step, no augmentation; the training loss and top-1 and the val top-1 after every
epoch. Images as RGB at 32 px (PIL's default filter), ImageNet's mean and std.

It is the check behind "wild is beyond the protocol's model": if the reference implementation's
ViT of the same size cannot fit wild's training set with labels in the protocol's budget, no
self-supervised default of ours can be expected to, and a CNN that does learn it says the
letter is there to be learned.

Usage: python3 scripts/supervised_reference.py vit|cnn DATA_DIR [--epochs 10] [--lr 1e-3]
       [--threads 1] [--seed 0] [--layerscale G] [--mae [--head-std S]]      (needs torch, timm, numpy, Pillow; DATA_DIR has train/ and val/)

Budget: 1 thread on the 2-core host, about 20 s an epoch for the CNN and 60–100 s for the ViT
on glyphs-dev-wild (7800 training images).
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tv_shim  # noqa: E402,F401  (torchvision next to a torch it was not built for; timm imports it)
import timm  # noqa: E402
from bench_dino_peer import image_folder  # noqa: E402  (the peers' ImageFolder reader)


def load(root, split):
    """The split as one normalised (N, 3, 32, 32) tensor (a channels-last view: the layout the
    figures of docs/ were measured with, which decides the convolutions' summation order), its
    labels and the class count."""
    items, classes = image_folder(os.path.join(root, split))
    x = torch.tensor(np.stack([np.asarray(Image.open(path).convert("RGB").resize((32, 32)), dtype=np.float32) / 255
                               for path, _ in items])).permute(0, 3, 1, 2)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std, torch.tensor([label for _, label in items]), len(classes)


def model_for(arch, classes, layerscale=None):
    if arch == "vit":
        return timm.models.vision_transformer.VisionTransformer(
            img_size=32, patch_size=4, embed_dim=128, depth=6, num_heads=4, num_classes=classes,
            init_values=layerscale)

    def stage(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(),
                             nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))
    return nn.Sequential(stage(3, 32), stage(32, 64), stage(64, 128),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, classes))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("arch", choices=["vit", "cnn"])
    p.add_argument("data")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mae", action="store_true",
                   help="MAE's fine-tuning details: head weight ~ trunc-normal(2e-5), no weight decay on "
                        "biases, norms, LayerScale, tokens and position embedding, cosine to min lr 1e-6")
    p.add_argument("--head-std", type=float, default=None,
                   help="with --mae: the head's initial std instead of MAE's 2e-5 (0.02: timm's)")
    p.add_argument("--layerscale", type=float, default=None,
                   help="the ViT's LayerScale initial gamma (timm init_values; default none, as timm's ViT)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr, classes = load(a.data, "train")
    xva, yva, _ = load(a.data, "val")
    model = model_for(a.arch, classes, a.layerscale)
    if a.mae:
        if a.arch == "vit":
            nn.init.trunc_normal_(model.head.weight, std=a.head_std if a.head_std is not None else 2e-5)
            nn.init.zeros_(model.head.bias)
        decay, rest = [], []
        for n, p in model.named_parameters():
            (decay if p.ndim > 1 and n not in ("cls_token", "pos_embed") else rest).append(p)
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}], lr=a.lr)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.05)
    floor = 1e-6 / a.lr if a.mae else 0.0
    batch = 64
    per_epoch = len(xtr) // batch
    steps, warm = a.epochs * per_epoch, per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm))))
    print(f"{a.arch} on {a.data}: {len(xtr)} train / {len(xva)} val images, {classes} classes, "
          f"chance {100 / classes:.2f} %, ln {classes} = {math.log(classes):.3f}", flush=True)
    start = time.time()
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(xtr))
        total, seen, correct = 0.0, 0, 0
        for i in range(per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            x, y = xtr[idx], ytr[idx]
            out = model(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * batch
            seen += batch
            correct += (out.argmax(1) == y).sum().item()
        model.eval()
        with torch.no_grad():
            right = sum((model(xva[j:j + 256]).argmax(1) == yva[j:j + 256]).sum().item() for j in range(0, len(xva), 256))
        print(f"{a.arch} epoch {epoch + 1}: train loss {total / seen:.3f} train top-1 {100 * correct / seen:.1f} "
              f"val top-1 {100 * right / len(xva):.2f} ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
