#!/usr/bin/env python3
"""The reference side of `dino bench probes` (issue 13): the probes' heads, losses and metrics as
the reference modules compute them, in PyTorch on the CPU, timed on the same cached features.

Two jobs:

  --write FILE   writes the cached-features file both sides read (safetensors, the layout of
                 Sources/DinoEval/ProbeBenchmark.swift): random features with a fixed seed and
                 valid labels, depths and masks, in the shapes of our dev sets through
                 vit_nano_patch4 (D = 128): scenes-dev 3000 train / 1000 val at 32 px (8×8
                 patches), 27 classes, labels and depths 64×64; videos-dev 30 clips × 16 frames of
                 64 px (16×16 patches); glyphs-dev 3900 / 1612 images, 26 classes, class tokens of
                 the last 4 blocks. The work does not depend on the values, so random features time
                 the same work as real ones.
  --features FILE  times each probe: one untimed run, then the median of --repeats, and prints a
                 table or (--json) one JSON object with the same fields as `dino bench probes --json`.

What is run (re-implemented here from the reference sources, none of their code is committed;
SyncBatchNorm → BatchNorm2d, .cuda() → CPU, one process):

  segmentation  dinov2/eval/segmentation/models/decode_heads/linear_head.py BNHead ("linear"
                config): BatchNorm2d → conv_seg 1×1 (mmseg normal_init std 0.01), the logits
                resized bilinearly (align_corners=False) to the label size, mmseg 0.x
                cross-entropy (ignore_index 255, mean over all pixels), AdamW lr 1e-3 wd 1e-4,
                poly lr (power 1, min 0) per iteration, batch 16; then argmax predictions on val
                (batch 64) and mIoU from mmseg's intersect_and_union (torch.histc per image) and
                total_area_to_metrics (nanmean of the class IoUs).
  depth         dinov2/eval/depth/models/decode_heads/linear_head.py BNHead as `lin.1`: per image
                [patch tokens ‖ class token] channels, resized ×4 bilinearly, conv_depth 1×1 to
                256 bins, decode_head.py depth_pred ("UD" linspace bins, "linear" normalisation
                relu + 0.1, einsum), resized to the depth map; dinov2/eval/depth/models/losses/
                sigloss.py SigLoss (valid gt > 0 and ≤ max_depth, warm_up for 100 iterations);
                AdamW lr 3e-4 betas (0.9, 0.99) wd 1e-4, clip_grad_norm_ 35, dinov3
                WarmupOneCycleLR (warm-up over a third of the steps), batch 16 — the optimisation
                `dino eval depth` uses (dinov3/eval/depth); then per val image the
                dinov3/eval/depth/eval.py valid mask (min_depth, max_depth), clamp, and
                dinov3/eval/depth/metrics.py calculate_depth_metrics, nanmean over images.
  video         facebookresearch/dino eval_video_segmentation.py on cached per-frame features:
                read_seg's PIL-nearest first mask at the patch grid + to_one_hot, a queue of 7,
                label_propagation (exp(cos / 0.1), restrict_neighborhood window r = 6 on the 16×16
                grid — DINO's 12 scaled as `dino eval video` does — top 5), ×patch bilinear
                upsampling, norm_mask, argmax, PIL-nearest to the frame size; scored with
                davis2017-evaluation (db_eval_iou, db_eval_boundary / f_measure with cv2.dilate
                and skimage's disk, db_statistics) over frames 1…T−2 per object.
  linear        dinov2/eval/linear.py: create_linear_input, LinearClassifier (N(0, 0.01²) weight,
                zero bias), AllClassifiers over n_last_blocks ∈ {1, 4} × avgpool ∈ {False, True} ×
                13 rates (× batch/256; names with 5 decimals, the duplicate replaced as in
                nn.ModuleDict: 48 classifiers), SGD momentum 0.9, CosineAnnealingLR over all
                iterations, the sum of the cross-entropies, batch 128 on the training images less
                10 % held out; top-1/top-5 of every classifier on the held-out and val features.
                The cached mean patch token enters as a 1-token patch sequence, whose mean is itself.

Not run here: mmseg's training accuracy (`acc_seg`, computed by BaseDecodeHead.losses; our probe
does not compute it), data loading, augmentation and the backbone. Requires torch, numpy,
safetensors, pillow, opencv-python and scikit-image.

Usage:
  python3 scripts/bench_probes_reference.py --write /tmp/probes.safetensors [--seed 0]
  python3 scripts/bench_probes_reference.py --features /tmp/probes.safetensors --threads 2 \\
      [--repeats 3] [--segmentation-epochs 1] [--depth-epochs 1] [--linear-epochs 10] [--json]
"""
import argparse
import collections
import json
import math
import statistics
import time

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from skimage.morphology import disk

FORMAT = "dino-probe-bench-features/1"
PROBES = ["segmentation", "depth", "video", "linear"]


# ---------------------------------------------------------------------------------------------
# The features file.

def boxes(g, n, height, width, classes, count):
    """(n, height, width) uint8 label maps: background 0 and `count` random rectangles of classes 1…"""
    out = torch.zeros(n, height, width, dtype=torch.uint8)
    for i in range(n):
        for _ in range(count):
            h, w = (int(v) for v in torch.randint(height // 8, height // 2, (2,), generator=g))
            y, x = int(torch.randint(0, height - h, (1,), generator=g)), int(torch.randint(0, width - w, (1,), generator=g))
            out[i, y:y + h, x:x + w] = int(torch.randint(1, classes, (1,), generator=g))
    return out


def write_features(path, seed, scenes=(3000, 1000), clips=30, frames=16, glyphs=(3900, 1612)):
    g = torch.Generator().manual_seed(seed)
    d, grid, label = 128, 8, 64            # vit_nano_patch4 width; 32 px / patch 4; scenes-dev labels 64×64
    t = {}
    for split, n in zip(["train", "val"], scenes):
        t[f"scenes.{split}.features"] = torch.randn(n, grid, grid, d, generator=g)
        t[f"scenes.{split}.class_token"] = torch.randn(n, d, generator=g)
        labels = boxes(g, n, label, label, 27, 3)
        labels[:, :, :2] = 255             # a strip of ignored pixels, as mmseg's 255
        t[f"scenes.{split}.labels"] = labels
        depth = 0.5 + 14.5 * torch.rand(n, 1, label // 8, label // 8, generator=g)
        depth = F.interpolate(depth, size=(label, label), mode="bilinear", align_corners=False)[:, 0]
        depth[torch.rand(n, label, label, generator=g) < 0.05] = 0     # unknown depth
        t[f"scenes.{split}.depth"] = depth.contiguous()
    vgrid, vsize = 16, 64                  # 64-px frames through patch 4
    t["videos.features"] = torch.randn(clips, frames, vgrid, vgrid, d, generator=g)
    masks = torch.zeros(clips, frames, vsize, vsize, dtype=torch.uint8)
    for s in range(clips):                 # 1–3 objects moving a pixel per frame
        for o in range(1, int(torch.randint(1, 4, (1,), generator=g)) + 1):
            h, w = (int(v) for v in torch.randint(10, 24, (2,), generator=g))
            y, x = int(torch.randint(0, vsize - h - frames, (1,), generator=g)), int(torch.randint(0, vsize - w - frames, (1,), generator=g))
            for f in range(frames):
                masks[s, f, y + f:y + f + h, x + f:x + f + w] = o
    t["videos.masks"] = masks
    for split, n in zip(["train", "val"], glyphs):
        t[f"glyphs.{split}.class_tokens"] = torch.randn(n, 4, d, generator=g)
        t[f"glyphs.{split}.patch_mean"] = torch.randn(n, d, generator=g)
        t[f"glyphs.{split}.labels"] = torch.randint(0, 26, (n,), generator=g).to(torch.uint8)
    save_file({k: v.contiguous() for k, v in t.items()}, path,
              metadata={"format": FORMAT, "scenes_classes": "27", "glyphs_classes": "26", "max_depth": "16",
                        "seed": str(seed), "source": "random (scripts/bench_probes_reference.py --write)"})


def load_features(path):
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT:
        raise SystemExit(f"{path}: metadata 'format' is {meta.get('format')!r}, expected {FORMAT!r}")
    return load_file(path), meta


# ---------------------------------------------------------------------------------------------
# Segmentation: DINOv2's linear BNHead under mmseg.

def seg_resize(x, size):
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def run_segmentation(data, meta, epochs):
    ftr = data["scenes.train.features"].permute(0, 3, 1, 2).contiguous()   # (N, D, h, w) as mmseg gets it
    fva = data["scenes.val.features"].permute(0, 3, 1, 2).contiguous()
    ltr, lva = data["scenes.train.labels"].long(), data["scenes.val.labels"].long()
    classes, ignore = int(meta["scenes_classes"]), 255
    n, dim = ftr.shape[0], ftr.shape[1]
    size = tuple(ltr.shape[1:])
    g = torch.Generator().manual_seed(0)
    bn = nn.BatchNorm2d(dim)
    conv_seg = nn.Conv2d(dim, classes, kernel_size=1)
    nn.init.normal_(conv_seg.weight, 0, 0.01)
    nn.init.zeros_(conv_seg.bias)
    params = list(bn.parameters()) + list(conv_seg.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4)
    batch = 16
    steps = (n + batch - 1) // batch
    total = steps * epochs
    it = 0
    bn.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        for s in range(steps):
            idx = order[s * batch:(s + 1) * batch]
            for group in opt.param_groups:           # mmseg PolyLrUpdaterHook: (1 − iter/max)^1
                group["lr"] = 1e-3 * (1 - it / total)
            it += 1
            logits = seg_resize(conv_seg(bn(ftr[idx])), size)                  # (B, C, H, W)
            loss = F.cross_entropy(logits, ltr[idx], reduction="none", ignore_index=ignore).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    # Val: predictions, then mmseg's intersect_and_union per image and total_area_to_metrics.
    bn.eval()
    inter = torch.zeros(classes, dtype=torch.float64)
    union = torch.zeros(classes, dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, fva.shape[0], 64):
            pred = seg_resize(conv_seg(bn(fva[start:start + 64])), size).argmax(1)
            for p, l in zip(pred, lva[start:start + 64]):
                mask = l != ignore
                p, l = p[mask], l[mask]
                i = p[p == l]
                a_i = torch.histc(i.float(), bins=classes, min=0, max=classes - 1)
                a_p = torch.histc(p.float(), bins=classes, min=0, max=classes - 1)
                a_l = torch.histc(l.float(), bins=classes, min=0, max=classes - 1)
                inter += a_i
                union += a_p + a_l - a_i
    miou = float(np.nanmean((inter / union).numpy())) * 100
    return miou, f"{total} steps × {batch} of {tuple(ftr.shape)} → {classes} classes at {size[0]}×{size[1]}; mIoU on {fva.shape[0]}"


# ---------------------------------------------------------------------------------------------
# Depth: DINOv2 lin.1 BNHead, SigLoss, DINOv3's metrics.

class SigLossRef:
    """dinov2/eval/depth/models/losses/sigloss.py (valid_mask, max_depth, warm_up)."""

    def __init__(self, max_depth, warm_up=True, warm_iter=100, loss_weight=1.0):
        self.max_depth, self.warm_up, self.warm_iter, self.loss_weight = max_depth, warm_up, warm_iter, loss_weight
        self.eps, self.counter = 0.001, 0

    def __call__(self, pred, target):
        valid = torch.logical_and(target > 0, target <= self.max_depth)
        pred, target = pred[valid], target[valid]
        if self.warm_up and self.counter < self.warm_iter:
            g = torch.log(pred + self.eps) - torch.log(target + self.eps)
            self.counter += 1
            return self.loss_weight * torch.sqrt(0.15 * torch.pow(torch.mean(g), 2))
        g = torch.log(pred + self.eps) - torch.log(target + self.eps)
        return self.loss_weight * torch.sqrt(torch.var(g) + 0.15 * torch.pow(torch.mean(g), 2))


def one_cycle_lr(step, total, warm, max_lr, div=25.0, final_div=1000.0):
    """dinov3/eval/depth/schedulers.py WarmupOneCycleLR (cosine, as `dino eval depth` uses it)."""
    if step < warm:
        return max_lr / final_div + max_lr * (1 + math.cos(math.pi * step / total)) / 2 * step / warm
    low = max_lr / div / final_div
    return low + (max_lr - low) / 2 * (math.cos(math.pi * (step + 1) / total) + 1)


def depth_metrics(gt, pred, valid):
    """dinov3/eval/depth/metrics.py calculate_depth_metrics."""
    valid = torch.logical_and(valid, gt > 0)
    gt, pred = gt[valid], pred[valid]
    thresh = torch.maximum(gt / pred, pred / gt)
    err = gt - pred
    el = torch.log(gt) - torch.log(pred)
    silog = torch.sqrt(torch.mean(el ** 2) - torch.mean(el) ** 2) * 100
    if torch.isnan(silog):
        silog = torch.tensor(0)
    return [(thresh < 1.25).float().mean(), (thresh < 1.25 ** 2).float().mean(), (thresh < 1.25 ** 3).float().mean(),
            torch.mean(torch.abs(err) / gt), torch.sqrt((err ** 2).mean()), (torch.abs(torch.log10(gt) - torch.log10(pred))).mean(),
            torch.sqrt((el ** 2).mean()), silog, torch.mean(err ** 2 / gt), torch.mean(torch.abs(err))]


def run_depth(data, meta, epochs):
    ptr = data["scenes.train.features"].permute(0, 3, 1, 2).contiguous()   # (N, D, h, w)
    pva = data["scenes.val.features"].permute(0, 3, 1, 2).contiguous()
    ctr, cva = data["scenes.train.class_token"], data["scenes.val.class_token"]
    dtr, dva = data["scenes.train.depth"][:, None], data["scenes.val.depth"][:, None]   # (N, 1, H, W)
    min_depth, max_depth, n_bins, upsample = 0.001, float(meta["max_depth"]), 256, 4
    n, dim = ptr.shape[0], ptr.shape[1]
    size = tuple(dtr.shape[2:])
    g = torch.Generator().manual_seed(0)
    conv_depth = nn.Conv2d(2 * dim, n_bins, kernel_size=1)
    nn.init.normal_(conv_depth.weight, 0, 0.01)
    nn.init.zeros_(conv_depth.bias)

    def forward(patch, cls):
        x = torch.cat((patch, cls[:, :, None, None].expand_as(patch)), 1)             # _forward_feature
        x = F.interpolate(x, size=[s * upsample for s in x.shape[2:]], mode="bilinear", align_corners=False)
        logit = conv_depth(x)                                                           # depth_pred
        bins = torch.linspace(min_depth, max_depth, n_bins)
        logit = torch.relu(logit) + 0.1
        logit = logit / logit.sum(dim=1, keepdim=True)
        return torch.einsum("ikmn,k->imn", [logit, bins]).unsqueeze(dim=1)             # (B, 1, 4h, 4w)

    def at_label_size(pred):
        return F.interpolate(pred, size=size, mode="bilinear", align_corners=False)

    opt = torch.optim.AdamW(conv_depth.parameters(), lr=3e-4, betas=(0.9, 0.99), weight_decay=1e-4)
    sigloss = SigLossRef(max_depth)
    batch = 16
    steps = (n + batch - 1) // batch
    total = steps * epochs
    warm = int(total / 3)
    it = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        for s in range(steps):
            idx = order[s * batch:(s + 1) * batch]
            for group in opt.param_groups:
                group["lr"] = one_cycle_lr(it, total, warm, 3e-4)
            it += 1
            loss = sigloss(at_label_size(forward(ptr[idx], ctr[idx])), dtr[idx])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(conv_depth.parameters(), 35)
            opt.step()
    rows = []
    with torch.no_grad():
        for start in range(0, pva.shape[0], 64):
            preds = at_label_size(forward(pva[start:start + 64], cva[start:start + 64]))
            for p, gt in zip(preds, dva[start:start + 64]):                              # eval.py: one image at a time
                valid = torch.logical_and(gt > min_depth, gt < max_depth)
                rows.append(torch.stack([torch.as_tensor(v, dtype=torch.float32)
                                         for v in depth_metrics(gt, p.clamp(min=min_depth, max=max_depth), valid)]))
    rmse = float(torch.stack(rows).nanmean(0)[4])
    return rmse, f"lin.1: {total} steps × {batch}, {n_bins} bins at ×{upsample} → {size[0]}×{size[1]}; metrics on {pva.shape[0]}"


# ---------------------------------------------------------------------------------------------
# Video: DINO's label propagation, davis2017-evaluation's J&F.

WINDOW_SECONDS = [0.0]   # time spent building the window masks (DINO builds one per clip, in Python loops)


def restrict_neighborhood(h, w, r):
    mask = torch.zeros(h, w, h, w)
    for i in range(h):
        for j in range(w):
            for p in range(2 * r + 1):
                for q in range(2 * r + 1):
                    if i - r + p < 0 or i - r + p >= h:
                        continue
                    if j - r + q < 0 or j - r + q >= w:
                        continue
                    mask[i, j, i - r + p, j - r + q] = 1
    return mask.reshape(h * w, h * w)


def norm_mask(mask):
    c = mask.shape[0]
    for k in range(c):
        m = mask[k, :, :]
        if m.max() > 0:
            m = m - m.min()
            m = m / m.max()
            mask[k, :, :] = m
    return mask


def label_propagation(feat_tar, h, w, list_frame_feats, list_segs, r, topk, mask_neighborhood):
    return_feat_tar = feat_tar.T
    ncontext = len(list_frame_feats)
    feat_sources = torch.stack(list_frame_feats)                     # (m, D, hw)
    feat_tar = F.normalize(feat_tar, dim=1, p=2)
    feat_sources = F.normalize(feat_sources, dim=1, p=2)
    feat_tar = feat_tar.unsqueeze(0).repeat(ncontext, 1, 1)
    aff = torch.exp(torch.bmm(feat_tar, feat_sources) / 0.1)        # (m, hw query, hw key)
    if r > 0:
        if mask_neighborhood is None:
            start = time.perf_counter()
            mask_neighborhood = restrict_neighborhood(h, w, r).unsqueeze(0).repeat(ncontext, 1, 1)
            WINDOW_SECONDS[0] += time.perf_counter() - start
        aff *= mask_neighborhood
    aff = aff.transpose(2, 1).reshape(-1, h * w)
    tk_val, _ = torch.topk(aff, dim=0, k=topk)
    tk_val_min, _ = torch.min(tk_val, dim=0)
    aff[aff < tk_val_min] = 0
    aff = aff / torch.sum(aff, keepdim=True, axis=0)
    segs = torch.cat(list_segs)
    m, c, hh, ww = segs.shape
    segs = segs.reshape(m, c, -1).transpose(2, 1).reshape(-1, c).T
    seg_tar = torch.mm(segs, aff).reshape(1, c, hh, ww)
    return seg_tar, return_feat_tar, mask_neighborhood


def to_one_hot(y, n_dims=None):
    if n_dims is None:
        n_dims = int(y.max() + 1)
    _, h, w = y.size()
    y = y.type(torch.LongTensor).view(-1, 1)
    one = torch.zeros(y.size()[0], n_dims).scatter_(1, y, 1)
    return one.view(h, w, n_dims).permute(2, 0, 1).unsqueeze(0)


def propagate_clip(feats, first_mask, grid, patch, size, n_last=7, topk=5, r=6):
    """eval_video_tracking_davis on cached features: the label maps of frames 1…"""
    h, w = grid
    small = np.array(Image.fromarray(first_mask).resize((w, h), 0))                  # read_seg
    first_seg = to_one_hot(torch.from_numpy(small.copy())[None])
    que = collections.deque()
    frame1_feat = feats[0].T
    mask_neighborhood = None
    out = []
    for cnt in range(1, feats.shape[0]):
        used_feats = [frame1_feat] + [p[0] for p in que]
        used_segs = [first_seg] + [p[1] for p in que]
        avg, feat_tar, mask_neighborhood = label_propagation(feats[cnt], h, w, used_feats, used_segs, r, topk, mask_neighborhood)
        if len(que) == n_last:
            que.popleft()
        que.append([feat_tar, avg.clone()])
        avg = F.interpolate(avg, scale_factor=patch, mode="bilinear", align_corners=False, recompute_scale_factor=False)[0]
        avg = norm_mask(avg)
        _, seg = torch.max(avg, dim=0)
        seg = seg.squeeze().cpu().numpy().astype(np.uint8)
        out.append(np.array(Image.fromarray(seg).resize((size[1], size[0]), 0)))
    return out


def db_eval_iou(annotation, segmentation):
    annotation, segmentation = annotation.astype(bool), segmentation.astype(bool)
    inters = np.sum(segmentation & annotation, axis=(-2, -1))
    union = np.sum(segmentation | annotation, axis=(-2, -1))
    j = inters / np.where(union == 0, 1, union)
    j[np.isclose(union, 0)] = 1
    return j


def seg2bmap(seg):
    seg = seg.astype(bool)
    e, s, se = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def f_measure(fg_mask, gt_mask, bound_th=0.008):
    bound_pix = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(fg_mask.shape))
    fg_b, gt_b = seg2bmap(fg_mask), seg2bmap(gt_mask)
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), disk(bound_pix).astype(np.uint8))
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), disk(bound_pix).astype(np.uint8))
    gt_match, fg_match = gt_b * fg_dil, fg_b * gt_dil
    n_fg, n_gt = np.sum(fg_b), np.sum(gt_b)
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision, recall = np.sum(fg_match) / float(n_fg), np.sum(gt_match) / float(n_gt)
    return 0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def db_statistics(values):
    with np.errstate(all="ignore"):
        m = np.nanmean(values)
        o = np.nanmean(values > 0.5)
    ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.uint8)
    bins = [values[ids[i]:ids[i + 1] + 1] for i in range(4)]
    with np.errstate(all="ignore"):
        d = np.nanmean(bins[0]) - np.nanmean(bins[3])
    return m, o, d


def run_video(data, meta, _epochs):
    feats = data["videos.features"]                                   # (S, T, h, w, D)
    masks = data["videos.masks"].numpy()                              # (S, T, H, W)
    clips, frames, h, w, dim = feats.shape
    size = masks.shape[2:]
    patch = size[0] // h
    WINDOW_SECONDS[0] = 0.0
    j_all, f_all = [], []
    for s in range(clips):
        pred = [masks[s, 0]] + propagate_clip(feats[s].reshape(frames, h * w, dim), masks[s, 0], (h, w), patch, size)
        gt = masks[s].copy()
        gt[gt == 255] = 0
        n_obj = int(gt[0].max())
        ids = np.arange(1, n_obj + 1)[:, None, None, None]
        gt_masks = (gt[None] == ids)[:, 1:-1]                         # DAVIS get_all_masks, frames 1…T−2
        res_masks = (np.stack(pred)[None] == ids)[:, 1:-1]
        for o in range(n_obj):
            j = db_eval_iou(gt_masks[o], res_masks[o])
            f = np.array([f_measure(res_masks[o, t], gt_masks[o, t]) for t in range(gt_masks.shape[1])])
            j_all.append(db_statistics(j)[0])
            f_all.append(db_statistics(f)[0])
    jf = (np.mean(j_all) + np.mean(f_all)) / 2 * 100
    return jf, (f"{clips} clips × {frames} frames, {h}×{w} grid, {len(j_all)} objects; "
                f"{WINDOW_SECONDS[0]:.2f} s of it building restrict_neighborhood's masks")


# ---------------------------------------------------------------------------------------------
# Linear: DINOv2's grid of linear classifiers.

def create_linear_input(x_tokens_list, use_n_blocks, use_avgpool):
    intermediate_output = x_tokens_list[-use_n_blocks:]
    output = torch.cat([class_token for _, class_token in intermediate_output], dim=-1)
    if use_avgpool:
        output = torch.cat((output, torch.mean(intermediate_output[-1][0], dim=1)), dim=-1)
        output = output.reshape(output.shape[0], -1)
    return output.float()


class LinearClassifier(nn.Module):
    def __init__(self, out_dim, use_n_blocks, use_avgpool, num_classes):
        super().__init__()
        self.use_n_blocks, self.use_avgpool = use_n_blocks, use_avgpool
        self.linear = nn.Linear(out_dim, num_classes)
        self.linear.weight.data.normal_(mean=0.0, std=0.01)
        self.linear.bias.data.zero_()

    def forward(self, x_tokens_list):
        return self.linear(create_linear_input(x_tokens_list, self.use_n_blocks, self.use_avgpool))


class AllClassifiers(nn.Module):
    def __init__(self, classifiers_dict):
        super().__init__()
        self.classifiers_dict = nn.ModuleDict()
        self.classifiers_dict.update(classifiers_dict)

    def forward(self, inputs):
        return {k: v.forward(inputs) for k, v in self.classifiers_dict.items()}


def run_linear(data, meta, epochs):
    cls_tr, pm_tr, y_tr = data["glyphs.train.class_tokens"], data["glyphs.train.patch_mean"], data["glyphs.train.labels"].long()
    cls_va, pm_va, y_va = data["glyphs.val.class_tokens"], data["glyphs.val.patch_mean"], data["glyphs.val.labels"].long()
    classes = int(meta["glyphs_classes"])
    n, blocks, dim = cls_tr.shape
    g = torch.Generator().manual_seed(0)
    held = max(1, round(n * 0.1))
    order = torch.randperm(n, generator=g)
    fit, hold = order[held:], order[:held]

    def tokens(idx, cls, pm):                   # ModelWithIntermediateLayers output: (patch tokens, class token) per block
        return [(pm[idx][:, None, :], cls[idx][:, b]) for b in range(blocks)]

    batch = 128
    lrs = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1]
    classifiers, groups = {}, {}
    for nb in [1, 4]:
        for avgpool in [False, True]:
            for _lr in lrs:
                lr = _lr * batch / 256
                out_dim = nb * dim + (dim if avgpool else 0)
                name = f"classifier_{nb}_blocks_avgpool_{avgpool}_lr_{lr:.5f}".replace(".", "_")
                clf = LinearClassifier(out_dim, nb, avgpool, classes)
                classifiers[name] = clf
                groups[name] = {"params": clf.parameters(), "lr": lr}
    linear_classifiers = AllClassifiers(classifiers)
    opt = torch.optim.SGD(list(groups.values()), momentum=0.9, weight_decay=0)
    per_epoch = (fit.shape[0] + batch - 1) // batch
    max_iter = per_epoch * epochs
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max_iter, eta_min=0)
    for _ in range(epochs):
        shuffled = fit[torch.randperm(fit.shape[0], generator=g)]
        for s in range(per_epoch):
            idx = shuffled[s * batch:(s + 1) * batch]
            outputs = linear_classifiers(tokens(idx, cls_tr, pm_tr))
            losses = {f"loss_{k}": nn.CrossEntropyLoss()(v, y_tr[idx]) for k, v in outputs.items()}
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            scheduler.step()
    best = (-1.0, None)
    with torch.no_grad():
        scores = {}
        for split, idx_all, cls, pm, y in [("held", hold, cls_tr, pm_tr, y_tr), ("val", torch.arange(cls_va.shape[0]), cls_va, pm_va, y_va)]:
            hits = collections.defaultdict(lambda: [0, 0])
            for start in range(0, idx_all.shape[0], batch):
                idx = idx_all[start:start + batch]
                for k, logits in linear_classifiers(tokens(idx, cls, pm)).items():
                    top5 = logits.topk(5, dim=1).indices
                    hits[k][0] += int((top5[:, 0] == y[idx]).sum())
                    hits[k][1] += int((top5 == y[idx][:, None]).any(1).sum())
            scores[split] = {k: (100 * a / idx_all.shape[0], 100 * b / idx_all.shape[0]) for k, (a, b) in hits.items()}
        for k in classifiers:
            if scores["held"][k][0] > best[0]:
                best = (scores["held"][k][0], k)
    return scores["val"][best[1]][0], (f"{len(classifiers)} classifiers, {max_iter} iterations × {batch} of {fit.shape[0]}; "
                                       f"scored on {hold.shape[0]} + {cls_va.shape[0]}")


# ---------------------------------------------------------------------------------------------

RUNNERS = {"segmentation": (run_segmentation, "mIoU %", "segmentation_epochs"), "depth": (run_depth, "RMSE m", "depth_epochs"),
           "video": (run_video, "J&F %", None), "linear": (run_linear, "top-1 %", "linear_epochs")}


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", metavar="FILE", help="write the cached-features file and exit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", default="3000,1000,30,3900,1612",
                    help="for --write: scenes train,val, video clips, glyphs train,val")
    ap.add_argument("--features", metavar="FILE")
    ap.add_argument("--probes", default=",".join(PROBES))
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--segmentation-epochs", type=int, default=1)
    ap.add_argument("--depth-epochs", type=int, default=1)
    ap.add_argument("--linear-epochs", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.write:
        a, b, c, d, e = (int(v) for v in args.sizes.split(","))
        write_features(args.write, args.seed, scenes=(a, b), clips=c, glyphs=(d, e))
        return
    if not args.features:
        ap.error("give --write FILE or --features FILE")
    probes = [p.strip() for p in args.probes.split(",")]
    for p in probes:
        if p not in RUNNERS:
            ap.error(f"--probes: unknown probe {p!r}; probes: {', '.join(PROBES)}")
    torch.set_num_threads(args.threads)
    data, meta = load_features(args.features)
    results = []
    if not args.json:
        print(f"CPU: {cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
              f"median of {args.repeats} after 1 untimed run")
        print("probe           median s  runs s                     score          work")
    for p in probes:
        fn, score_name, epochs_key = RUNNERS[p]
        epochs = getattr(args, epochs_key) if epochs_key else None
        times = []
        for i in range(args.repeats + 1):
            start = time.perf_counter()
            score, work = fn(data, meta, epochs)
            if i > 0:
                times.append(time.perf_counter() - start)
        med = statistics.median(times)
        results.append({"probe": p, "median_s": round(med, 4), "times_s": [round(t, 4) for t in times],
                        "score_name": score_name, "score": round(float(score), 4) if math.isfinite(score) else None, "work": work})
        if not args.json:
            runs = " ".join(f"{t:.2f}" for t in times)
            print(f"{p:<14}  {med:8.3f}  {runs:<25}  {score:7.2f} {score_name:<7}  {work}", flush=True)
    if args.json:
        print(json.dumps({"framework": "pytorch-reference", "cpu": cpu_model(), "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "repeats": args.repeats,
                          "segmentation_epochs": args.segmentation_epochs, "depth_epochs": args.depth_epochs,
                          "linear_epochs": args.linear_epochs, "results": results}))


if __name__ == "__main__":
    main()
