#!/usr/bin/env python3
"""Golden values for DINOv3's ADE20K linear segmentation recipe (dinov3/eval/segmentation), from the
reference modules, and a tiny ADE20K-layout data fixture.

Writes under Tests/DinoEvalTests/Fixtures:
  segmentation_dinov3.json
    - lrs: `WarmupOneCycleLR` with config-ade20k-linear-training.yaml's kwargs (warmup_ratio 1e-6,
      final_div_factor inf, pct_start 0, cos, use_beta1 False, update_momentum False) scaled to 40
      iterations with 6 of warm-up, driven as train.py drives it (`scheduler.step()` only after
      global steps > 0): the learning rate each of the 40 optimiser steps uses;
    - reduce_zero_label: metrics.py `preprocess_nonzero_labels` of 0…5 and 255;
    - loss: loss.py `MultiSegmentationLoss(celoss_weight=1)` (mmseg CrossEntropyLoss, mean over every
      pixel, ignored ones counted as 0) on logits (2, 4, 3, 5) and labels with 255s;
    - iou: metrics.py `calculate_intersect_and_union(..., reduce_zero_label=True)` of two prediction /
      label pairs and `calculate_segmentation_metrics` (mIoU, aAcc, acc: nanmean over classes);
    - slide: inference.py `slide_inference` on a 1 × 2 × 40 × 57 input with crop 32 and stride 21,
      with a model that returns its crop and records where it was taken: the windows and the
      averaged output.
  ade20k/  images/{training,validation}/ADE_*.jpg and annotations/{training,validation}/ADE_*.png:
    8 + 4 scenes of ../shared/datasets/scenes-dev at 48 px (JPEG), masks with the scenes' class + 1
    and the top 4 rows 0 (= "other", the label reduce_zero_label ignores; after it, background is 0
    and letter k is k + 1 as in scenes-dev), ADE20K's own file layout.

Usage:
  python3 scripts/make_segmentation_fixtures.py --dinov3 SRC [--scenes ../shared/datasets/scenes-dev]
where SRC is a checkout of facebookresearch/dinov3 (needs torch, numpy, pandas, pillow from PyPI).
The reference files are loaded as modules from SRC; nothing of theirs is committed.
"""

import argparse
import importlib.util
import json
import math
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "DinoEvalTests", "Fixtures")


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flat(t):
    return [float(f"{x:.10g}") for x in torch.as_tensor(t).detach().reshape(-1).tolist()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dinov3", required=True)
    ap.add_argument("--scenes")
    args = ap.parse_args()
    sys.path.insert(0, args.dinov3)
    seg = os.path.join(args.dinov3, "dinov3/eval/segmentation")
    schedulers = load("schedulers", f"{seg}/schedulers.py")
    losses = load("losses", f"{seg}/loss.py")
    metrics = load("metrics", f"{seg}/metrics.py")
    inference = load("inference", f"{seg}/inference.py")
    out = {}

    # Learning rates, as train.py steps the scheduler.
    total, warmup, lr = 40, 6, 1e-3
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([{"params": [p], "lr": lr, "betas": (0.9, 0.999), "weight_decay": 1e-3}])
    sched = schedulers.WarmupOneCycleLR(opt, total_steps=total, warmup_iters=warmup, warmup_ratio=1e-6,
                                        final_div_factor=math.inf, pct_start=0, anneal_strategy="cos",
                                        use_beta1=False, update_momentum=False)
    lrs = []
    for global_step in range(total):
        lrs.append(opt.param_groups[0]["lr"])       # the rate optimizer.step() uses
        opt.step()
        if global_step > 0:
            sched.step()
    out["lrs"] = {"total": total, "warmup": warmup, "max_lr": lr, "warmup_ratio": 1e-6, "values": lrs}

    labels = torch.tensor([0, 1, 2, 3, 4, 5, 255])
    out["reduce_zero_label"] = {"in": labels.tolist(), "out": metrics.preprocess_nonzero_labels(labels).tolist()}

    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 4, 3, 5, generator=g, dtype=torch.float64)
    gt = torch.randint(0, 4, (2, 3, 5), generator=g)
    gt[0, 0, :3] = 255
    gt[1, 2, 4] = 255
    loss = losses.MultiSegmentationLoss(diceloss_weight=0.0, celoss_weight=1.0)(logits, gt)
    out["loss"] = {"logits": flat(logits), "labels": gt.reshape(-1).tolist(), "shape": list(logits.shape), "value": float(loss)}

    pairs = []
    for _ in range(2):
        pred = torch.randint(0, 4, (6, 7), generator=g)
        label = torch.randint(0, 5, (6, 7), generator=g)
        label[0, :2] = 255
        pairs.append((pred, label))
    results = [metrics.calculate_intersect_and_union(pr, la, num_classes=4, reduce_zero_label=True) for pr, la in pairs]
    m = metrics.calculate_segmentation_metrics(results, metrics=["mIoU", "dice", "fscore"])
    out["iou"] = {"classes": 4, "predictions": [pr.reshape(-1).tolist() for pr, _ in pairs],
                  "labels": [la.reshape(-1).tolist() for _, la in pairs], "shape": [6, 7],
                  "areas": [flat(r) for r in results],
                  "miou": float(m["mIoU"]), "aacc": float(m["aAcc"]), "acc": float(m["acc"])}

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.windows = []

        def predict(self, crop, rescale_to):
            self.windows.append([int(crop[0, 0, 0, 0]), int(crop[0, 0, -1, 0]) + 1,
                                 int(crop[0, 1, 0, 0]), int(crop[0, 1, 0, -1]) + 1])
            assert tuple(crop.shape[2:]) == tuple(rescale_to)
            return crop * 1.0

    h, w = 40, 57
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    x = torch.stack([ys, xs])[None]
    rec = Recorder()
    averaged = inference.slide_inference(x, rec, n_output_channels=2, crop_size=(32, 32), stride=(21, 21))
    out["slide"] = {"height": h, "width": w, "crop": 32, "stride": 21, "windows": rec.windows,
                    "max_error": float((averaged - x).abs().max())}

    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "segmentation_dinov3.json"), "w") as f:
        json.dump(out, f)
    print("wrote segmentation_dinov3.json:", len(rec.windows), "windows")

    if args.scenes:
        from PIL import Image
        base = os.path.join(OUT, "ade20k")
        for split, source, count in (("training", "train", 8), ("validation", "val", 4)):
            os.makedirs(os.path.join(base, "images", split), exist_ok=True)
            os.makedirs(os.path.join(base, "annotations", split), exist_ok=True)
            files = []
            for root, _, names in os.walk(os.path.join(args.scenes, source)):
                files += [os.path.join(root, n) for n in names if n.endswith(".png")]
            files.sort()
            for k, path in enumerate(files[:count]):
                rel = os.path.relpath(path, os.path.join(args.scenes, source))
                mask = np.array(Image.open(os.path.join(args.scenes, "masks", source, rel)))
                if mask.ndim == 3:
                    mask = mask[..., 0]
                name = f"ADE_{'train' if split == 'training' else 'val'}_{k + 1:08d}"
                Image.open(path).convert("RGB").resize((48, 48), Image.BILINEAR).save(
                    os.path.join(base, "images", split, name + ".jpg"), quality=95)
                shifted = (mask.astype(np.int32) + 1).astype(np.uint8)   # background 1, letter k → k + 2
                shifted[:4, :] = 0                                        # an unlabelled ("other") band
                Image.fromarray(shifted).resize((48, 48), Image.NEAREST).save(os.path.join(base, "annotations", split, name + ".png"))
        print("wrote", base)


if __name__ == "__main__":
    main()
