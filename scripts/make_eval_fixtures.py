#!/usr/bin/env python3
"""Golden values for the dense evaluations of DinoEval (depth and video), from the reference code.

Runs the official modules themselves, read from source checkouts given on the command line
(nothing of theirs is committed here); writes small JSON fixtures under Tests/DinoEvalTests/Fixtures:

  depth.json   DINOv2's linear depth head (dinov2/hub/depth/decode_heads.py BNHead: lin.1 and lin.4,
               class token concatenated, bilinear x4, 1x1 conv, 256 "UD" bins, "linear" norm);
               DINOv3's LinearHead with batch norm + FeaturesToDepth (train-mode batch statistics,
               then eval mode with the updated running ones); SigLoss of dinov2 (valid mask, max
               depth, warm-up, weight) and of dinov3 on predictions whose ratio to the truth varies
               per pixel, with the gradient; dinov3's GradientLogLoss with a mask and its gradient;
               dinov3 calculate_depth_metrics inside eval.py's per-image handling (range, clamp,
               nanmean); dinov3's WarmupOneCycleLR learning rates.
  depth-nyu/   4 train and 2 val scenes of scenes-dev in the NYU-style layout
               (images/{train,val}/scene/*.png, depth/{train,val}/scene/*.png: 16-bit, mm), and
  depth_layout.json  what PIL reads from each depth PNG (sum, min, max, first row, in mm).

Usage:
  python3 scripts/make_eval_fixtures.py --dinov2 SRC --dinov3 SRC --dino SRC --davis SRC \\
      --scenes ../shared/datasets/scenes-dev
where each SRC is a checkout of facebookresearch/dinov2, facebookresearch/dinov3,
facebookresearch/dino and davisvideochallenge/davis2017-evaluation (needs torch, numpy, pillow,
opencv-python-headless, scikit-image, scipy from PyPI).

Where a reference module cannot run on one CPU process as written, the smallest change is made
to its source text before it is executed, and listed here:
  - dinov3 LinearHead: nn.SyncBatchNorm -> nn.BatchNorm2d (the same statistics on one process;
    SyncBatchNorm refuses CPU tensors).
  - registry decorators (@LOSSES.register_module) and relative imports are removed or replaced
    by the imported module's own text.
"""

import argparse
import ast
import json
import math
import os
import sys
import types

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "DinoEvalTests", "Fixtures")


def flat(t):
    """The values of a tensor, row-major, to 10 significant digits (the tests compare in float32)."""
    return [float(f"{x:.10g}") for x in torch.as_tensor(t).detach().reshape(-1).tolist()]


def load_module(name, path, replacements=(), namespace=None):
    """Executes the source at `path` as a module, after the listed text replacements."""
    text = open(path).read()
    for old, new in replacements:
        assert old in text, f"{path}: '{old}' not found"
        text = text.replace(old, new)
    module = types.ModuleType(name)
    if namespace:
        module.__dict__.update(namespace)
    exec(compile(text, path, "exec"), module.__dict__)
    return module


def extract(path, names, namespace):
    """Executes only the named top-level functions/classes of a file (their own text)."""
    text = open(path).read()
    tree = ast.parse(text)
    module = types.ModuleType("extract")
    module.__dict__.update(namespace)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            exec(compile(ast.Module([node], []), path, "exec"), module.__dict__)
    return module


def depth_fixture(dinov2, dinov3):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    out = {}

    # --- DINOv2 BNHead (hub), lin.1 and lin.4 -------------------------------------------------
    ops = load_module("ops", f"{dinov2}/dinov2/hub/depth/ops.py")
    heads = load_module("decode_heads", f"{dinov2}/dinov2/hub/depth/decode_heads.py",
                        [("from .ops import resize", "")], {"resize": ops.resize})
    n, d, h, w = 2, 3, 3, 2
    for layers in (1, 4):
        in_index = list(range(layers))
        head = heads.BNHead(classify=True, n_bins=256, bins_strategy="UD", norm_strategy="linear", upsample=4,
                            in_channels=[d] * layers, in_index=in_index, input_transform="resize_concat",
                            channels=d * layers * 2, align_corners=False, min_depth=0.001, max_depth=10.0,
                            loss_decode=())
        with torch.no_grad():
            head.conv_depth.weight.copy_(torch.randn(head.conv_depth.weight.shape, generator=g) * 0.5)
            head.conv_depth.bias.copy_(torch.randn(256, generator=g) * 0.5)
        patches = [torch.randn(n, d, h, w, generator=g) for _ in range(layers)]
        classes = [torch.randn(n, d, generator=g) for _ in range(layers)]
        y = head([(p, c) for p, c in zip(patches, classes)])
        out[f"dinov2_lin{layers}"] = {
            "shape": [n, h, w, d],
            "patch_tokens": [flat(p.permute(0, 2, 3, 1)) for p in patches],   # (N, h, w, D) per block
            "class_tokens": [flat(c) for c in classes],
            "weight": flat(head.conv_depth.weight.reshape(256, -1)),
            "bias": flat(head.conv_depth.bias),
            "depth_shape": list(y.shape),
            "depth": flat(y),
        }

    # --- DINOv3 LinearHead with batch norm + FeaturesToDepth ------------------------------------
    lin = load_module("linear_head", f"{dinov3}/dinov3/eval/depth/models/linear_head.py",
                      [("nn.SyncBatchNorm(self.channels)", "nn.BatchNorm2d(self.channels)")])
    ftd = extract(f"{dinov3}/dinov3/eval/depth/models/__init__.py", {"FeaturesToDepth"}, {"torch": torch})
    d3 = 4
    head = lin.LinearHead(in_channels=[d3], n_output_channels=256, use_batchnorm=True, use_cls_token=False)
    to_depth = ftd.FeaturesToDepth(min_depth=0.001, max_depth=10.0, bins_strategy="linear", norm_strategy="linear")
    with torch.no_grad():
        head.conv_depth.weight.copy_(torch.randn(head.conv_depth.weight.shape, generator=g) * 0.5)
        head.conv_depth.bias.copy_(torch.randn(256, generator=g) * 0.5)
        head.batchnorm_layer.weight.copy_(1 + 0.1 * torch.randn(d3, generator=g))
        head.batchnorm_layer.bias.copy_(0.1 * torch.randn(d3, generator=g))
    patch = torch.randn(n, d3, h, w, generator=g) * 2 + 1
    head.train()
    y_train = to_depth(head([(patch, torch.zeros(n, d3))]))
    head.eval()
    y_eval = to_depth(head([(patch, torch.zeros(n, d3))]))
    out["dinov3_bn"] = {
        "shape": [n, h, w, d3],
        "patch_tokens": [flat(patch.permute(0, 2, 3, 1))],
        "weight": flat(head.conv_depth.weight.reshape(256, -1)),
        "bias": flat(head.conv_depth.bias),
        "bn_weight": flat(head.batchnorm_layer.weight),
        "bn_bias": flat(head.batchnorm_layer.bias),
        "depth_shape": list(y_train.shape),
        "depth_train": flat(y_train),
        "depth_eval": flat(y_eval),
        "running_mean": flat(head.batchnorm_layer.running_mean),
        "running_var": flat(head.batchnorm_layer.running_var),
    }

    # --- SigLoss (dinov2 and dinov3) -------------------------------------------------------------
    sig2 = load_module("sigloss", f"{dinov2}/dinov2/eval/depth/models/losses/sigloss.py",
                       [("from ...models.builder import LOSSES", ""), ("@LOSSES.register_module()", "")])
    loss3 = load_module("loss3", f"{dinov3}/dinov3/eval/depth/loss.py")
    shape = (2, 1, 6, 5)
    truth = torch.rand(shape, generator=g) * 11 + 0.5
    truth[0, 0, 1, 2] = 0          # unknown
    truth[1, 0, 4, 0] = 0
    truth[1, 0, 2, 3] = 10.7       # beyond max_depth
    ratio = torch.exp(0.4 * torch.randn(shape, generator=g) + 0.1)   # varies per pixel
    pred = (truth.clamp(min=0.3) * ratio).requires_grad_(True)
    values2 = []
    loss = sig2.SigLoss(valid_mask=True, loss_weight=1.0, max_depth=10.0, warm_up=True, warm_iter=2)
    for _ in range(3):
        values2.append(float(loss(pred, truth)))
    full = sig2.SigLoss(valid_mask=True, loss_weight=10.0, max_depth=10.0, warm_up=False)(pred, truth)
    grad, = torch.autograd.grad(full, pred)
    valid = torch.logical_and(truth > 0, truth <= 10.0)
    values3 = []
    loss = loss3.SigLoss(warm_up=True, warm_iter=2)
    for _ in range(3):
        values3.append(float(loss(pred, truth, valid)))
    out["sigloss"] = {
        "shape": list(shape), "truth": flat(truth), "prediction": flat(pred),
        "dinov2_warm_up_2_weight_1_max_10": values2,
        "dinov3_warm_up_2_valid_le_10": values3,
        "dinov2_weight_10_max_10": float(full),
        "dinov2_weight_10_max_10_grad": flat(grad),
    }

    # --- GradientLogLoss (dinov3) ---------------------------------------------------------------
    gshape = (2, 1, 13, 11)
    gt = torch.rand(gshape, generator=g) * 9 + 1
    gp = (gt * torch.exp(0.3 * torch.randn(gshape, generator=g))).requires_grad_(True)
    mask = torch.rand(gshape, generator=g) > 0.15
    gl = loss3.GradientLogLoss()(gp, gt, mask)
    ggrad, = torch.autograd.grad(gl, gp)
    out["gradient_log_loss"] = {"shape": list(gshape), "truth": flat(gt), "prediction": flat(gp),
                                "mask": flat(mask.float()), "loss": float(gl), "grad": flat(ggrad)}

    # --- metrics, as dinov3/eval/depth/eval.py applies them per image ----------------------------
    metrics = load_module("metrics", f"{dinov3}/dinov3/eval/depth/metrics.py")
    dutils = extract(f"{dinov3}/dinov3/eval/depth/datasets/datasets_utils.py", {"make_valid_mask", "_EvalCropType"},
                     {"torch": torch, "Enum": __import__("enum").Enum})
    images = 3
    mh, mw = 5, 7
    gts = torch.rand(images, 1, mh, mw, generator=g) * 11 + 0.2
    gts[0, 0, 0, :3] = 0
    gts[2, 0, 4, 4] = 10.0      # at the range's end: ignored (>= max)
    preds = gts * torch.exp(0.35 * torch.randn(images, 1, mh, mw, generator=g))
    preds[1, 0, 2, 2] = 13.0    # clamped to 10
    preds[1, 0, 3, 3] = 0.0001  # clamped to 0.001
    eval_range = (0.001, 10.0)
    per_image = []
    for i in range(images):
        gt_map = gts[i:i + 1].clone()
        gt_map = torch.where(torch.logical_or(gt_map >= eval_range[1], gt_map <= eval_range[0]), 0.0, gt_map)
        valid_mask = dutils.make_valid_mask(gt_map, eval_crop=dutils._EvalCropType("FULL"), ignored_value=0.0)
        p = preds[i:i + 1].clamp(min=eval_range[0], max=eval_range[1])
        v = metrics.calculate_depth_metrics(gt_map, p, valid_mask)
        per_image.append([float(x) for x in v])
    mean = np.nanmean(np.array(per_image), axis=0)
    out["metrics"] = {"shape": [images, mh, mw], "truth": flat(gts), "prediction": flat(preds),
                      "names": list(metrics.DEPTH_METRICS_NAME), "per_image": per_image,
                      "mean": [float(x) for x in mean]}

    # --- WarmupOneCycleLR ------------------------------------------------------------------------
    sched = load_module("schedulers", f"{dinov3}/dinov3/eval/depth/schedulers.py")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=3e-4, betas=(0.9, 0.99))
    s = sched.WarmupOneCycleLR(opt, total_steps=20, warmup_iters=6, max_lr=3e-4, final_div_factor=1000.0,
                               base_momentum=0.85, max_momentum=0.95)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    out["warmup_one_cycle"] = {"total": 20, "warmup": 6, "max_lr": 3e-4, "lrs": lrs}
    return out


def depth_layout_fixture(scenes):
    """Copies 4 train and 2 val scenes of scenes-dev (images and 16-bit depth PNGs) into the NYU-style
    layout under Fixtures/depth-nyu, and records what PIL reads from each depth PNG."""
    import shutil
    from PIL import Image
    root = os.path.join(OUT, "depth-nyu")
    shutil.rmtree(root, ignore_errors=True)
    record = {}
    for split, names in (("train", ["train00000", "train00001", "train00002", "train00003"]), ("val", ["val00000", "val00001"])):
        for kind, src in (("images", f"{scenes}/{split}/scene"), ("depth", f"{scenes}/depth/{split}/scene")):
            dst = os.path.join(root, kind, split, "scene")
            os.makedirs(dst, exist_ok=True)
            for name in names:
                shutil.copyfile(f"{src}/{name}.png", f"{dst}/{name}.png")
        for name in names:
            mm = np.array(Image.open(f"{scenes}/depth/{split}/scene/{name}.png")).astype(np.int64)
            record[f"{split}/{name}"] = {"shape": list(mm.shape), "sum_mm": int(mm.sum()), "min_mm": int(mm.min()),
                                         "max_mm": int(mm.max()), "first_row_mm": [int(x) for x in mm[0]]}
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dinov2", required=True)
    parser.add_argument("--dinov3", required=True)
    parser.add_argument("--dino")
    parser.add_argument("--davis")
    parser.add_argument("--scenes", help="scenes-dev (for the depth-nyu layout fixture)")
    args = parser.parse_args()
    torch.set_default_dtype(torch.float64)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "depth.json"), "w") as f:
        json.dump(depth_fixture(args.dinov2, args.dinov3), f)
    print("wrote", os.path.join(OUT, "depth.json"))
    if args.scenes:
        with open(os.path.join(OUT, "depth_layout.json"), "w") as f:
            json.dump(depth_layout_fixture(args.scenes), f)
        print("wrote", os.path.join(OUT, "depth-nyu"), "and depth_layout.json")


if __name__ == "__main__":
    main()
