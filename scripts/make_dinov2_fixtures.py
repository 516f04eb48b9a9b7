#!/usr/bin/env python3
"""Golden values for the DINOv2 losses and masks, from the official code (DinoSSLTests,
DinoVisionTests).

The official files are not part of this repository. The script loads them at fixture time from
a checkout of facebookresearch/dinov2 (`--dinov2 PATH`, or a fresh `git clone` into a temporary
directory) and runs them unchanged:

  dinov2/loss/dino_clstoken_loss.py  DINOLoss: softmax_center_teacher, update_center /
                                     apply_center_update, sinkhorn_knopp_teacher, forward
  dinov2/loss/ibot_patch_loss.py     iBOTPatchLoss: the same centrings, forward_masked
  dinov2/loss/koleo_loss.py          KoLeoLoss
  dinov2/data/masking.py             MaskingGenerator
  dinov2/data/collate.py             collate_data_and_cast

`iBOTPatchLoss.sinkhorn_knopp_teacher` calls `dist.all_reduce` unconditionally, so a
single-process gloo group is started (world size 1: every reduction is the identity).
How `SSLMetaArch.forward_backward` (dinov2/train/ssl_meta_arch.py) pairs views, normalises and
weights the terms cannot be imported (it needs xFormers, FSDP and CUDA); `meta_arch_losses`
below restates its loss part line by line.

Writes
  Tests/DinoSSLTests/Fixtures/dinov2_losses.safetensors   float64 inputs, outputs and gradients
  Tests/DinoVisionTests/Fixtures/dinov2_masking.json      statistics of the official masks

Usage: python3 scripts/make_dinov2_fixtures.py [--dinov2 PATH]   (needs torch, numpy, safetensors)
"""

import argparse
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SSL_OUT = os.path.join(ROOT, "Tests", "DinoSSLTests", "Fixtures")
VISION_OUT = os.path.join(ROOT, "Tests", "DinoVisionTests", "Fixtures")


def load_module(checkout, relative):
    path = os.path.join(checkout, relative)
    spec = importlib.util.spec_from_file_location(os.path.basename(relative)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official(checkout):
    """The official classes, loaded file by file (no package import, no xFormers)."""
    return dict(
        dino=load_module(checkout, "dinov2/loss/dino_clstoken_loss.py").DINOLoss,
        ibot=load_module(checkout, "dinov2/loss/ibot_patch_loss.py").iBOTPatchLoss,
        koleo=load_module(checkout, "dinov2/loss/koleo_loss.py").KoLeoLoss,
        masking=load_module(checkout, "dinov2/data/masking.py").MaskingGenerator,
        collate=load_module(checkout, "dinov2/data/collate.py").collate_data_and_cast,
    )


# ---------------------------------------------------------------------------------------------
# Losses

def leaf(t):
    return t.detach().clone().double().requires_grad_(True)


def dino_case(ref, out, name, B, K, L, centering, teacher_temp, seed):
    """DINO CLS terms as forward_backward computes them, from head outputs."""
    g = torch.Generator().manual_seed(seed)
    # Sinkhorn-Knopp exponentiates t / τ in float32 without a shift: keep |t| small, as the
    # official head's weight-normalised last layer does (|t| ≤ 1 for unit-norm prototypes).
    scale = 2 if centering == "centering" else 0.5
    teacher_raw = torch.randn(2 * B, K, generator=g, dtype=torch.float64) * scale   # crops 0, 1 of B images
    center = torch.randn(1, K, generator=g, dtype=torch.float64) * 0.3
    student_global = leaf(torch.randn(2 * B, K, generator=g, dtype=torch.float64) * 2)
    student_local = leaf(torch.randn(max(L, 1) * B, K, generator=g, dtype=torch.float64) * 2)

    loss = ref["dino"](K).double()
    loss.center = center.clone()
    # forward_backward: teacher CLS tokens chunked and concatenated in reverse (crop 1, crop 0).
    chunks = teacher_raw.chunk(2)
    reversed_cls = torch.cat((chunks[1], chunks[0]))
    if centering == "centering":
        targets = loss.softmax_center_teacher(reversed_cls, teacher_temp=teacher_temp).view(2, -1, K)
        loss.update_center(reversed_cls)
        loss.apply_center_update()
        out[f"{name}.new_center"] = loss.center
    else:
        targets = loss.sinkhorn_knopp_teacher(reversed_cls, teacher_temp=teacher_temp).view(2, -1, K)
    n_local_terms = max(L * 2, 1)
    n_global_terms = 2
    total = 0
    if L > 0:
        local = loss(student_output_list=student_local.chunk(L), teacher_out_softmaxed_centered_list=targets) / (
            n_global_terms + n_local_terms)
        out[f"{name}.dino_local_crops_loss"] = local.detach()
        total = total + local
    glob = loss(student_output_list=[student_global], teacher_out_softmaxed_centered_list=[targets.flatten(0, 1)]) * 2 / (
        n_global_terms + n_local_terms)
    out[f"{name}.dino_global_crops_loss"] = glob.detach()
    total = total + glob
    total.backward()
    out[f"{name}.teacher_output"] = teacher_raw
    out[f"{name}.center"] = center
    out[f"{name}.teacher_temp"] = torch.tensor([teacher_temp], dtype=torch.float64)
    out[f"{name}.student_global"] = student_global.detach()
    out[f"{name}.grad_student_global"] = student_global.grad
    # Targets in the crops' own order (the Swift API takes them so and pairs crops itself).
    out[f"{name}.targets"] = torch.cat((targets[1], targets[0]))
    if L > 0:
        out[f"{name}.student_local"] = student_local.detach()
        out[f"{name}.grad_student_local"] = student_local.grad


def sinkhorn_case(ref, out, name, rows, K, teacher_temp, seed):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(rows, K, generator=g, dtype=torch.float64)
    out[f"{name}.teacher_output"] = t
    out[f"{name}.teacher_temp"] = torch.tensor([teacher_temp], dtype=torch.float64)
    # .float() inside the official function: computed in float32, as it runs.
    out[f"{name}.dino_targets"] = ref["dino"](K).sinkhorn_knopp_teacher(t, teacher_temp).double()
    n = torch.full((1,), rows, dtype=torch.long)
    out[f"{name}.ibot_targets"] = ref["ibot"](K).sinkhorn_knopp_teacher(t, teacher_temp, n).double()


def ibot_case(ref, out, name, B, N, K, centering, teacher_temp, pad, seed):
    """forward_masked with collate's masks_weight and the meta-arch's scaling (× 2 × 1/2)."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.rand(2 * B, N, generator=g) < 0.35
    masks[0] = False                      # an image without masked patches
    masks[1, :] = True                    # a fully masked one
    masks_weight = (1 / masks.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(masks)[masks]
    M = int(masks.sum())
    scale = 2 if centering == "centering" else 0.5   # see dino_case
    teacher_raw = torch.randn(M, K, generator=g, dtype=torch.float64) * scale
    center = torch.randn(1, 1, K, generator=g, dtype=torch.float64) * 0.3
    student = torch.randn(M, K, generator=g, dtype=torch.float64) * 2

    loss = ref["ibot"](K).double()
    loss.center = center.clone()
    if centering == "centering":
        t = teacher_raw.unsqueeze(0)
        targets = loss.softmax_center_teacher(t[:, :M], teacher_temp=teacher_temp).squeeze(0)
        loss.update_center(t[:M])
        loss.apply_center_update()
        out[f"{name}.new_center"] = loss.center.reshape(1, K)
    else:
        dist_n = torch.full((1,), M, dtype=torch.long)
        targets = loss.sinkhorn_knopp_teacher(teacher_raw, teacher_temp=teacher_temp, n_masked_patches_tensor=dist_n)
    # The buffers of forward_backward hold `upperbound` rows, zero beyond the masked ones.
    s = torch.zeros(M + pad, K, dtype=torch.float64)
    s[:M] = student
    s = leaf(s)
    t_pad = torch.zeros(M + pad, K, dtype=torch.float64)
    t_pad[:M] = targets
    value = loss.forward_masked(s, t_pad, student_masks_flat=masks, n_masked_patches=M, masks_weight=masks_weight) * 2 * 0.5
    value.backward()
    out[f"{name}.masks"] = masks.double()
    out[f"{name}.masks_weight"] = masks_weight.double()
    out[f"{name}.teacher_output"] = teacher_raw
    out[f"{name}.center"] = center.reshape(1, K)
    out[f"{name}.teacher_temp"] = torch.tensor([teacher_temp], dtype=torch.float64)
    out[f"{name}.targets"] = targets.double()
    out[f"{name}.student"] = student
    out[f"{name}.ibot_loss"] = value.detach()
    out[f"{name}.grad_student"] = s.grad[:M]
    # forward_masked with its own weights (masks_weight=None) agrees.
    s2 = leaf(student)
    alt = loss.forward_masked(s2, targets, student_masks_flat=masks) * 2 * 0.5
    assert torch.allclose(alt, value), (alt, value)


def koleo_case(ref, out, name, B, D, seed, duplicate=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, D, generator=g, dtype=torch.float64) * 3
    if duplicate:
        x[3] = x[1] * 2.0                 # same direction: distance eps·√D after normalisation
    x = leaf(x)
    value = ref["koleo"]().double()(x)
    value.backward()
    out[f"{name}.input"] = x.detach()
    out[f"{name}.loss"] = value.detach()
    out[f"{name}.grad_input"] = x.grad


def meta_arch_losses(ref, out, name, B, L, K, D, N, teacher_temp, seed):
    """The loss part of SSLMetaArch.forward_backward (shared head, softmax centring), restated
    from head and backbone outputs: DINO local and global terms, KoLeo on the two global crops'
    backbone CLS tokens, iBOT on the masked patches; weights dino 1, koleo 0.1, ibot 1."""
    g = torch.Generator().manual_seed(seed)
    teacher_cls = torch.randn(2 * B, K, generator=g, dtype=torch.float64) * 2
    dino_center = torch.randn(1, K, generator=g, dtype=torch.float64) * 0.3
    masks = torch.rand(2 * B, N, generator=g) < 0.4
    masks[2] = False
    M = int(masks.sum())
    masks_weight = (1 / masks.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(masks)[masks]
    teacher_patch = torch.randn(M, K, generator=g, dtype=torch.float64) * 2
    ibot_center = torch.randn(1, 1, K, generator=g, dtype=torch.float64) * 0.3
    s_global = leaf(torch.randn(2 * B, K, generator=g, dtype=torch.float64) * 2)
    s_local = leaf(torch.randn(L * B, K, generator=g, dtype=torch.float64) * 2)
    s_patch = leaf(torch.randn(M, K, generator=g, dtype=torch.float64) * 2)
    s_backbone_cls = leaf(torch.randn(2 * B, D, generator=g, dtype=torch.float64))

    dino_loss = ref["dino"](K).double()
    dino_loss.center = dino_center.clone()
    ibot_loss = ref["ibot"](K).double()
    ibot_loss.center = ibot_center.clone()
    koleo = ref["koleo"]().double()

    chunks = teacher_cls.chunk(2)
    reversed_cls = torch.cat((chunks[1], chunks[0]))
    t_dino = dino_loss.softmax_center_teacher(reversed_cls, teacher_temp=teacher_temp).view(2, -1, K)
    t_ibot = ibot_loss.softmax_center_teacher(teacher_patch.unsqueeze(0), teacher_temp=teacher_temp).squeeze(0)

    n_local_terms = max(L * 2, 1)
    n_global_terms = 2
    local = dino_loss(student_output_list=s_local.chunk(L), teacher_out_softmaxed_centered_list=t_dino) / (
        n_global_terms + n_local_terms)
    glob = dino_loss(student_output_list=[s_global], teacher_out_softmaxed_centered_list=[t_dino.flatten(0, 1)]) * 2 / (
        n_global_terms + n_local_terms)
    ko = 0.1 * sum(koleo(p) for p in s_backbone_cls.chunk(2))
    ib = ibot_loss.forward_masked(s_patch, t_ibot, student_masks_flat=masks, n_masked_patches=M,
                                  masks_weight=masks_weight) * 2 * 0.5
    total = local + glob + ko + ib
    total.backward()
    for key, t in dict(teacher_cls=teacher_cls, dino_center=dino_center, masks=masks.double(),
                       teacher_patch=teacher_patch, ibot_center=ibot_center.reshape(1, K),
                       student_global=s_global.detach(), student_local=s_local.detach(),
                       student_patch=s_patch.detach(), student_backbone_cls=s_backbone_cls.detach(),
                       dino_local_crops_loss=local.detach(), dino_global_crops_loss=glob.detach(),
                       koleo_loss=ko.detach(), ibot_loss=ib.detach(), loss=total.detach(),
                       grad_student_global=s_global.grad, grad_student_local=s_local.grad,
                       grad_student_patch=s_patch.grad, grad_student_backbone_cls=s_backbone_cls.grad,
                       teacher_temp=torch.tensor([teacher_temp], dtype=torch.float64)).items():
        out[f"{name}.{key}"] = t.reshape(1) if t.dim() == 0 else t


def losses(ref):
    torch.manual_seed(0)
    out = {}
    dino_case(ref, out, "dino_centering", B=3, K=7, L=2, centering="centering", teacher_temp=0.04, seed=1)
    dino_case(ref, out, "dino_centering_nolocal", B=4, K=5, L=0, centering="centering", teacher_temp=0.07, seed=2)
    dino_case(ref, out, "dino_sinkhorn", B=3, K=6, L=3, centering="sinkhorn_knopp", teacher_temp=0.05, seed=3)
    sinkhorn_case(ref, out, "sinkhorn", rows=9, K=5, teacher_temp=0.07, seed=4)
    ibot_case(ref, out, "ibot_centering", B=2, N=9, K=6, centering="centering", teacher_temp=0.04, pad=3, seed=5)
    ibot_case(ref, out, "ibot_sinkhorn", B=3, N=8, K=5, centering="sinkhorn_knopp", teacher_temp=0.06, pad=0, seed=6)
    koleo_case(ref, out, "koleo", B=6, D=8, seed=7)
    koleo_case(ref, out, "koleo_duplicate", B=5, D=4, seed=8, duplicate=True)
    meta_arch_losses(ref, out, "total", B=4, L=3, K=8, D=6, N=9, teacher_temp=0.05, seed=9)
    out = {k: v.detach().double().contiguous() for k, v in out.items()}
    os.makedirs(SSL_OUT, exist_ok=True)
    path = os.path.join(SSL_OUT, "dinov2_losses.safetensors")
    save_file(out, path, metadata={"source": "scripts/make_dinov2_fixtures.py"})
    print(f"wrote {path} ({len(out)} tensors)")


# ---------------------------------------------------------------------------------------------
# Mask statistics: the official generator drives Python's `random`, which we cannot replay, so
# the Swift tests compare distributions: per target count, the mean masked count, the fraction of
# masks short of their target and the mean number of 4-connected blocks; per collated batch, the
# mean masked count of the masked views by stratum.

def components(mask):
    h, w = mask.shape
    seen = np.zeros_like(mask)
    count = 0
    for y in range(h):
        for x in range(w):
            if mask[y, x] and not seen[y, x]:
                count += 1
                stack = [(y, x)]
                seen[y, x] = True
                while stack:
                    cy, cx = stack.pop()
                    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                        ny, nx = cy + dy, cx + dx
                        if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            stack.append((ny, nx))
    return count


def mean_se(values):
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1) / np.sqrt(len(a)))


def masking(ref, samples=2000):
    random.seed(0)
    torch.manual_seed(0)
    grids = []
    for side, patch, img in ((8, 4, 32), (16, 14, 224)):
        # train.py: max_num_patches = 0.5 * img_size // patch_size * img_size // patch_size
        gen = ref["masking"](input_size=(side, side), max_num_patches=0.5 * img // patch * img // patch)
        n = side * side
        targets = sorted({int(n * r) for r in (0.1, 0.2, 0.3, 0.4, 0.5)})
        per_target = []
        for target in targets:
            masks = [gen(target) for _ in range(samples)]
            counts = [int(m.sum()) for m in masks]
            blocks = [components(m) for m in masks]
            count_mean, count_se = mean_se(counts)
            short_mean, short_se = mean_se([c < target for c in counts])
            blocks_mean, blocks_se = mean_se(blocks)
            per_target.append(dict(target=target, count_mean=count_mean, count_se=count_se,
                                   short_mean=short_mean, short_se=short_se,
                                   blocks_mean=blocks_mean, blocks_se=blocks_se))
        # collate_data_and_cast over batches of 2·B = 16 global crops (only the masks matter).
        views = 16
        samples_list = [({"global_crops": [torch.zeros(1), torch.zeros(1)], "local_crops": [torch.zeros(1)]}, None)] * (views // 2)
        by_rank = [[] for _ in range(views // 2)]
        totals = []
        for _ in range(samples // 4):
            c = ref["collate"](samples_list, mask_ratio_tuple=(0.1, 0.5), mask_probability=0.5,
                               dtype=torch.float32, n_tokens=n, mask_generator=gen)
            per_view = c["collated_masks"].sum(-1)
            assert int((per_view > 0).sum()) <= views // 2
            masked = sorted(int(v) for v in per_view)[views // 2:]   # the masked half, ascending
            for r, v in enumerate(masked):
                by_rank[r].append(v)
            totals.append(int(c["n_masked_patches"][0]))
        collate_stats = dict(views=views, upperbound=int(c["upperbound"]),
                             total_mean=mean_se(totals)[0], total_se=mean_se(totals)[1],
                             sorted_count_mean=[mean_se(v)[0] for v in by_rank],
                             sorted_count_se=[mean_se(v)[1] for v in by_rank])
        grids.append(dict(side=side, max_patches=float(0.5 * img // patch * img // patch),
                          samples=samples, targets=per_target, collate=collate_stats))
    os.makedirs(VISION_OUT, exist_ok=True)
    path = os.path.join(VISION_OUT, "dinov2_masking.json")
    with open(path, "w") as f:
        json.dump(dict(source="scripts/make_dinov2_fixtures.py", grids=grids), f, indent=1)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dinov2", help="a checkout of facebookresearch/dinov2 (default: git clone into a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkout = args.dinov2
        if checkout is None:
            checkout = os.path.join(tmp, "dinov2")
            subprocess.run(["git", "clone", "--depth", "1", "https://github.com/facebookresearch/dinov2", checkout],
                           check=True)
        ref = official(checkout)
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29533")
        dist.init_process_group("gloo", rank=0, world_size=1)
        try:
            losses(ref)
            masking(ref)
        finally:
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
