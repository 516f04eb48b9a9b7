#!/usr/bin/env python3
"""Golden values for DINOv3's building blocks, from the official code (DinoSSLTests,
DinoVisionTests, DinoModelsTests).

The official files are not part of this repository. The script loads them at fixture time from
checkouts of facebookresearch/dinov3 and facebookresearch/dinov2 (`--dinov3 PATH`,
`--dinov2 PATH`, or fresh `git clone`s into a temporary directory) and runs them unchanged:

  dinov3/loss/gram_loss.py             GramLoss.forward (every option)
  dinov3/train/cosine_lr_scheduler.py  linear_warmup_cosine_decay (the Gram loss weight schedule)
  dinov3/data/masking.py               MaskingGenerator (blocks, then complete_mask_randomly)
  dinov3/data/collate.py               collate_data_and_cast (which views, how many patches)
  dinov3/layers/block.py               SelfAttentionBlock._forward (drop path on a batch subset)
  dinov3/layers/dino_head.py           DINOHead (plain Linear last layer, init_weights)
  dinov2/layers/block.py               drop_add_residual_stochastic_depth
  dinov3/layers/rope_position_encoding.py  RopePositionEmbedding in training (shift, jitter,
                                       rescale); the draws replayed by re-seeding
  dinov3/train/ssl_meta_arch.py        SSLMetaArch.compute_losses (one step's losses, run with the
                                       official DINOLoss, iBOTPatchLoss, KoLeoLoss and GramLoss on
                                       the CPU; SSLMetaArch itself needs CUDA and FSDP) and the
                                       Sinkhorn-Knopp targets of get_teacher_output

Functions inside files that import the rest of their package (the two block.py) are taken out
of the file with `ast` and run on their own. `torch.randperm` is replaced by a recorder while
they run, so the Swift tests can replay the same subsets. The masks draw from Python's `random`
and NumPy, which cannot be replayed: their fixture holds what is deterministic (exact counts,
which views, the `upperbound`) and statistics of the block structure.

Writes
  Tests/DinoSSLTests/Fixtures/dinov3_gram.json          Gram loss values and student gradients
  Tests/DinoVisionTests/Fixtures/dinov3_masking.json    counts and statistics of the official masks
  Tests/DinoModelsTests/Fixtures/dinov3_drop_path.json  batch-subset residuals and gradients
  Tests/DinoSSLTests/Fixtures/dinov3_head.json          the head's keys, output and gradients
  Tests/DinoSSLTests/Fixtures/dinov3_step_losses.json   one step's loss terms, total and gradients
  Tests/DinoNNTests/Fixtures/dinov3_rope_augment.json   RoPE's training augmentation: draws and tables

Usage: python3 scripts/make_dinov3_fixtures.py [--dinov3 PATH] [--dinov2 PATH]   (needs torch, numpy)
"""

import argparse
import ast
import importlib.util
import json
import math
import os
import random
import subprocess
import tempfile
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch
from torch import Tensor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SSL_OUT = os.path.join(ROOT, "Tests", "DinoSSLTests", "Fixtures")
VISION_OUT = os.path.join(ROOT, "Tests", "DinoVisionTests", "Fixtures")
MODELS_OUT = os.path.join(ROOT, "Tests", "DinoModelsTests", "Fixtures")


def load_module(checkout, relative):
    path = os.path.join(checkout, relative)
    spec = importlib.util.spec_from_file_location(os.path.basename(relative)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_function(checkout, relative, name, class_name=None):
    """One function (or method of `class_name`) of a file, compiled on its own."""
    path = os.path.join(checkout, relative)
    tree = ast.parse(open(path).read(), filename=path)
    body = tree.body
    if class_name is not None:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == class_name).body
    node = next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == name)
    node.decorator_list = []
    namespace = dict(torch=torch, Tensor=Tensor, Callable=Callable)
    exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), namespace)
    return namespace[name]


def clone(url, into):
    subprocess.run(["git", "clone", "--depth", "1", url, into], check=True)
    return into


def tolist(t):
    return t.detach().double().flatten().tolist()


# ---------------------------------------------------------------------------------------------
# Gram loss

def gram(v3):
    GramLoss = load_module(v3, "dinov3/loss/gram_loss.py").GramLoss
    g = torch.Generator().manual_seed(12)
    cases = []
    shapes = dict(image=(3, 5, 4), flat=(10, 4))
    for negatives in ("keep", "remove_neg", "remove_only_teacher_neg"):
        for img_level, normalized, rank in ((True, True, "image"), (False, True, "image"),
                                            (False, True, "flat"), (True, False, "image")):
            shape = shapes[rank]
            # Float32 values (the reference computes in float32), stored exactly as float64.
            student = torch.randn(*shape, generator=g).double()
            teacher = torch.randn(*shape, generator=g).double()
            loss = GramLoss(apply_norm=normalized, img_level=img_level,
                            remove_neg=negatives == "remove_neg",
                            remove_only_teacher_neg=negatives == "remove_only_teacher_neg")
            s = student.clone().requires_grad_(True)
            value = loss(s, teacher, img_level=img_level)
            value.backward()
            cases.append(dict(negatives=negatives, img_level=img_level, normalized=normalized,
                              shape=list(shape), student=tolist(student), teacher=tolist(teacher),
                              loss=float(value.detach()), grad_student=tolist(s.grad)))
    sched = load_module(v3, "dinov3/train/cosine_lr_scheduler.py").linear_warmup_cosine_decay
    schedules = []
    # The anchoring config (start 0, peak 0, end 2, warmup 1000 epochs, cosine 1 epoch, 1200
    # epochs) at a small scale, and the default cosine length (the rest of the run).
    for start, peak, end, warmup, cosine, epochs, per_epoch in ((0, 0, 2.0, 10, 1, 12, 5),
                                                                (0.5, 1.0, 0.25, 2, None, 6, 3)):
        values = sched(start=start, peak=peak, end=end, warmup_iterations=per_epoch * warmup,
                       total_iterations=per_epoch * epochs,
                       cosine_iterations=per_epoch * cosine if cosine is not None else None)
        schedules.append(dict(start=start, peak=peak, end=end, warmup_epochs=warmup, cosine_epochs=cosine,
                              epochs=epochs, iterations_per_epoch=per_epoch, values=[float(v) for v in values]))
    os.makedirs(SSL_OUT, exist_ok=True)
    path = os.path.join(SSL_OUT, "dinov3_gram.json")
    with open(path, "w") as f:
        json.dump(dict(source="scripts/make_dinov3_fixtures.py", cases=cases, schedules=schedules), f)
    print(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
# Masks

def components(mask):
    """Connected components (4-neighbour) of a 2-D boolean mask."""
    m = np.array(mask, dtype=bool)
    h, w = m.shape
    seen = np.zeros_like(m)
    count = 0
    for y in range(h):
        for x in range(w):
            if m[y, x] and not seen[y, x]:
                count += 1
                stack = [(y, x)]
                seen[y, x] = True
                while stack:
                    cy, cx = stack.pop()
                    for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                        if 0 <= ny < h and 0 <= nx < w and m[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            stack.append((ny, nx))
    return count


def mean_se(values):
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def masking(v3, samples=1500):
    MaskingGenerator = load_module(v3, "dinov3/data/masking.py").MaskingGenerator
    collate = load_module(v3, "dinov3/data/collate.py").collate_data_and_cast
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    grids = []
    for side, patch, img in ((8, 4, 32), (7, 4, 28), (10, 4, 40), (14, 16, 224)):
        # train.py: max_num_patches = 0.5 * img_size // patch_size * img_size // patch_size
        max_patches = 0.5 * img // patch * img // patch
        gen = MaskingGenerator(input_size=(side, side), max_num_patches=max_patches)
        n = side * side
        per_target = []
        for target in sorted({int(n * r) for r in (0.1, 0.2, 0.3, 0.4, 0.5)}):
            masks = [gen(target) for _ in range(samples)]
            counts = {int(m.sum()) for m in masks}
            blocks_mean, blocks_se = mean_se([components(m) for m in masks])
            per_target.append(dict(target=target, counts=sorted(counts),
                                   blocks_mean=blocks_mean, blocks_se=blocks_se))
        collates = []
        # 12 views of a 10 × 10 grid: int(100 · 0.3) is 29 in the reference (float32 linspace).
        for views in (16, 6, 12):
            samples_list = [({"global_crops": [torch.zeros(1), torch.zeros(1)], "local_crops": [torch.zeros(1)]},
                             None)] * (views // 2)
            sorted_counts, upperbounds, blocks = set(), set(), []
            for _ in range(samples // 10):
                c = collate(samples_list, mask_ratio_tuple=(0.1, 0.5), mask_probability=0.5,
                            dtype=torch.float32, n_tokens=n, mask_generator=gen)
                per_view = c["collated_masks"].sum(-1)
                sorted_counts.add(tuple(sorted(int(v) for v in per_view)))
                upperbounds.add(int(c["upperbound"]))
                assert int(c["n_masked_patches"][0]) == int(per_view.sum())
                blocks.append(sum(components(m.view(side, side).numpy()) for m in c["collated_masks"]))
            assert len(sorted_counts) == 1 and len(upperbounds) == 1, (sorted_counts, upperbounds)
            blocks_mean, blocks_se = mean_se(blocks)
            collates.append(dict(views=views, sorted_counts=list(sorted_counts.pop()),
                                 upperbound=upperbounds.pop(), blocks_mean=blocks_mean, blocks_se=blocks_se))
        grids.append(dict(side=side, patch=patch, image=img, max_patches=float(max_patches), samples=samples,
                          targets=per_target, collate=collates))
    os.makedirs(VISION_OUT, exist_ok=True)
    path = os.path.join(VISION_OUT, "dinov3_masking.json")
    with open(path, "w") as f:
        json.dump(dict(source="scripts/make_dinov3_fixtures.py", grids=grids), f, indent=1)
    print(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
# Drop path on a batch subset

class RecordedRandperm:
    """Stands in for torch.randperm and remembers every permutation it hands out."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.drawn = []
        self.original = torch.randperm

    def __call__(self, n, device=None):
        p = self.original(n, generator=self.g)
        self.drawn.append(p.tolist())
        return p

    def __enter__(self):
        torch.randperm = self
        return self

    def __exit__(self, *exc):
        torch.randperm = self.original


def drop_path(v2, v3):
    dinov2_fn = load_function(v2, "dinov2/layers/block.py", "drop_add_residual_stochastic_depth")
    dinov3_forward = load_function(v3, "dinov3/layers/block.py", "_forward", class_name="SelfAttentionBlock")
    g = torch.Generator().manual_seed(5)
    cases = []
    B, N, D = 5, 3, 4
    for ratio in (0.0, 0.2, 0.4, 0.9):
        # The branch: tanh(x W) per token, W (D, D); DINOv3's second branch uses W2, and
        # LayerScales γ1, γ2.
        x = torch.randn(B, N, D, generator=g, dtype=torch.float64)
        w1 = torch.randn(D, D, generator=g, dtype=torch.float64) * 0.5
        w2 = torch.randn(D, D, generator=g, dtype=torch.float64) * 0.5
        gamma1 = torch.randn(D, generator=g, dtype=torch.float64)
        gamma2 = torch.randn(D, generator=g, dtype=torch.float64)
        upstream = torch.randn(B, N, D, generator=g, dtype=torch.float64)
        case = dict(ratio=ratio, shape=[B, N, D], x=tolist(x), w1=tolist(w1), w2=tolist(w2),
                    gamma1=tolist(gamma1), gamma2=tolist(gamma2), upstream=tolist(upstream))

        # DINOv2: one branch, x + (B / s) · index_add of branch(x[subset]).
        xl, wl = x.clone().requires_grad_(True), w1.clone().requires_grad_(True)
        with RecordedRandperm(seed=int(ratio * 10)) as perm:
            y = dinov2_fn(xl, lambda t: torch.tanh(t @ wl), sample_drop_ratio=ratio)
        (y * upstream).sum().backward()
        case["dinov2"] = dict(permutations=perm.drawn, output=tolist(y), grad_x=tolist(xl.grad), grad_w1=tolist(wl.grad))

        # DINOv3: the whole block step with norms = identity, attn = tanh(x W1), mlp = tanh(x W2).
        xl, w1l, w2l = x.clone().requires_grad_(True), w1.clone().requires_grad_(True), w2.clone().requires_grad_(True)
        block = SimpleNamespace(
            training=True, sample_drop_ratio=ratio,
            norm1=lambda t: t, norm2=lambda t: t,
            attn=lambda t, rope=None: torch.tanh(t @ w1l), mlp=lambda t: torch.tanh(t @ w2l),
            ls1=lambda t: t * gamma1, ls2=lambda t: t * gamma2,
            _maybe_index_rope=lambda rope, indices: None)
        with RecordedRandperm(seed=100 + int(ratio * 10)) as perm:
            y = dinov3_forward(block, xl)
        (y * upstream).sum().backward()
        case["dinov3"] = dict(permutations=perm.drawn, output=tolist(y), grad_x=tolist(xl.grad),
                              grad_w1=tolist(w1l.grad), grad_w2=tolist(w2l.grad))
        cases.append(case)
    os.makedirs(MODELS_OUT, exist_ok=True)
    path = os.path.join(MODELS_OUT, "dinov3_drop_path.json")
    with open(path, "w") as f:
        json.dump(dict(source="scripts/make_dinov3_fixtures.py", cases=cases), f)
    print(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
# DINOv3's head: a plain Linear last layer

def head(v3):
    DINOHead = load_module(v3, "dinov3/layers/dino_head.py").DINOHead
    torch.manual_seed(3)
    h = DINOHead(in_dim=6, out_dim=5, nlayers=3, hidden_dim=7, bottleneck_dim=4)
    h.init_weights()
    h = h.double()
    # Larger weights than the trunc-normal(0.02) init, so that the output is not nearly zero.
    with torch.no_grad():
        for p in h.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64) * 0.5)
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(3, 5, dtype=torch.float64)
    y = h(x)
    (y * upstream).sum().backward()
    state = {k: dict(shape=list(v.shape), values=tolist(v)) for k, v in h.state_dict().items()}
    # The initialisation's spread: every Linear, last layer included, ~ trunc-normal(0.02).
    big = DINOHead(in_dim=32, out_dim=4096, nlayers=1, bottleneck_dim=64)
    big.init_weights()
    init_std = float(big.last_layer.weight.detach().std())
    out = dict(source="scripts/make_dinov3_fixtures.py", state=state, x=tolist(x.detach()), upstream=tolist(upstream),
               output=tolist(y), grad_x=tolist(x.grad), grad_last_layer=tolist(h.last_layer.weight.grad),
               last_layer_init_std=init_std)
    os.makedirs(SSL_OUT, exist_ok=True)
    path = os.path.join(SSL_OUT, "dinov3_head.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
# One step's losses: SSLMetaArch.compute_losses, taken out of ssl_meta_arch.py and run with a
# stand-in `self` that holds the official loss modules, on head outputs, backbone CLS tokens and
# patch features of a tiny model's shapes. The teacher targets come from the official
# Sinkhorn-Knopp functions, as get_teacher_output calls them.

def step_losses(v3):
    import sys
    import torch.distributed as dist
    sys.path.insert(0, v3)
    if not dist.is_initialized():
        # iBOT's Sinkhorn-Knopp all-reduces its sample count unconditionally: one process.
        dist.init_process_group("gloo", init_method="tcp://127.0.0.1:29533", rank=0, world_size=1)
    from dinov3.loss import DINOLoss, GramLoss, KoLeoLoss, iBOTPatchLoss
    linear_warmup_cosine_decay = load_module(v3, "dinov3/train/cosine_lr_scheduler.py").linear_warmup_cosine_decay
    compute_losses = load_function(v3, "dinov3/train/ssl_meta_arch.py", "compute_losses", "SSLMetaArch")
    cases = []
    for name, ignore_diagonal, reweight, tokens, img_level, remove_neg, seed in (
            ("ignore_diagonal_reweight_gram_image", True, True, "all", True, False, 21),
            ("all_pairs_gram_masked", False, False, "masked", False, True, 22)):
        g = torch.Generator().manual_seed(seed)
        B, L, K, Ki, D, N, Dp, temp = 3, 2, 8, 6, 5, 9, 4, 0.05
        masks = torch.zeros(2 * B, N, dtype=torch.bool)
        for row, count in ((0, 3), (2, 2), (3, 4)):
            masks[row, torch.randperm(N, generator=g)[:count]] = True
        mask_indices = masks.flatten().nonzero().flatten()
        M = int(mask_indices.numel())
        masks_weight = (1 / masks.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(masks)[masks]
        teacher_cls = torch.randn(2 * B, K, generator=g) * 0.2   # exp(x / τ) stays finite in float32
        teacher_patch = torch.randn(M, Ki, generator=g) * 0.2
        leaf = lambda *shape: (torch.randn(*shape, generator=g) * 2).requires_grad_(True)   # float32, as the reference computes
        s_global, s_local, s_patch = leaf(2 * B, K), leaf(L * B, K), leaf(M, Ki)
        s_cls = leaf(2 * B, D)
        s_patches = leaf(2 * B, N, Dp)
        gram_teacher = torch.randn(2 * B, N, Dp, generator=g)

        dino_loss, ibot_loss = DINOLoss(K), iBOTPatchLoss(Ki)
        cls_centered = dino_loss.sinkhorn_knopp_teacher(teacher_cls, teacher_temp=temp).unflatten(0, (2, B))
        # The module is compiled lazily by the reference; its forward runs eagerly here.
        patch_centered = ibot_loss.sinkhorn_knopp_teacher.forward(teacher_patch, teacher_temp=temp,
                                                                  n_masked_patches_tensor=torch.tensor(M))
        if tokens == "masked":
            gram_student, gram_teacher_rows = s_patches[masks], gram_teacher[masks]
        else:
            gram_student, gram_teacher_rows = s_patches, gram_teacher
        epochs, per_epoch, iteration = 4, 5, 7
        schedule = dict(start=0.2, peak=0.9, end=0.4, warmup_epochs=1)
        me = SimpleNamespace(
            dino_global_ignore_diagonal=ignore_diagonal, dino_loss=dino_loss,
            cfg=SimpleNamespace(dino=SimpleNamespace(reweight_dino_local_loss=reweight)),
            dino_local_loss_schedule=linear_warmup_cosine_decay(
                start=schedule["start"], peak=schedule["peak"], end=schedule["end"],
                warmup_iterations=per_epoch * schedule["warmup_epochs"], total_iterations=per_epoch * epochs),
            dino_loss_weight=1.0, dino_koleo_loss_weight=0.1, koleo_loss=KoLeoLoss(), ibot_patch_loss=ibot_loss,
            ibot_loss_weight=1.0, gram_use_loss=True,
            gram_loss=GramLoss(apply_norm=True, img_level=img_level, remove_neg=remove_neg, remove_only_teacher_neg=False),
            gram_img_level=img_level, gram_loss_schedule=None, gram_loss_weight=0.7, gram_compute_stats=False)
        total, terms = compute_losses(
            me,
            teacher_global=dict(cls_centered=cls_centered, masked_patch_centered=patch_centered),
            student_global=dict(cls_after_head=s_global.unflatten(0, (2, B)), cls_pre_head=s_cls.unflatten(0, (2, B)),
                                masked_patch_after_head=s_patch),
            student_local=dict(cls_after_head=s_local.unflatten(0, (L, B))),
            gram_global=dict(student_patches=gram_student, teacher_patches=gram_teacher_rows),
            masks=masks, mask_indices_list=mask_indices, masks_weight=masks_weight, iteration=iteration)
        total.backward()
        scalar = lambda v: float(v.detach()) if torch.is_tensor(v) else float(v)
        cases.append(dict(
            name=name, B=B, L=L, K=K, K_ibot=Ki, D=D, N=N, D_patch=Dp, teacher_temp=temp,
            global_ignore_diagonal=ignore_diagonal, reweight_dino_local_loss=reweight,
            local_loss_weight_schedule=schedule, epochs=epochs, iterations_per_epoch=per_epoch, iteration=iteration,
            gram_tokens_used=tokens, gram_img_level=img_level, gram_remove_neg=remove_neg, gram_loss_weight=0.7,
            masks=[int(v) for v in masks.flatten().tolist()],
            teacher_cls=tolist(teacher_cls), teacher_patch=tolist(teacher_patch),
            dino_targets=tolist(cls_centered.flatten(0, 1)), ibot_targets=tolist(patch_centered),
            student_global=tolist(s_global), student_local=tolist(s_local), student_patch=tolist(s_patch),
            student_backbone_cls=tolist(s_cls), student_patches=tolist(s_patches), gram_teacher_patches=tolist(gram_teacher),
            dino_local_crops_loss=scalar(terms["dino_local_crops_loss"]),
            dino_global_crops_loss=scalar(terms["dino_global_crops_loss"]),
            dino_local_loss_weight=scalar(terms["dino_local_loss_weight"]),
            koleo_loss=scalar(terms["koleo_loss"]), ibot_loss=scalar(terms["ibot_loss"]),
            gram_loss=scalar(terms["gram_loss"]), loss=scalar(total),
            grad_student_global=tolist(s_global.grad), grad_student_local=tolist(s_local.grad),
            grad_student_patch=tolist(s_patch.grad), grad_student_backbone_cls=tolist(s_cls.grad),
            grad_student_patches=tolist(s_patches.grad)))
    # Higher-resolution Gram features resized to the student's grid, as get_gram_teacher_output
    # does (bicubic, align_corners False, no antialias), down (6×6 → 4×4) and up (3×3 → 4×4).
    resize = []
    g = torch.Generator().manual_seed(23)
    for n_teacher, n_student in ((6, 4), (3, 4)):
        teacher_patches = torch.randn(2, n_teacher * n_teacher, 3, generator=g)
        patches_hw = teacher_patches.transpose(-2, -1).unflatten(-1, (n_teacher, n_teacher))
        resized = torch.nn.functional.interpolate(patches_hw, size=(n_student, n_student), mode="bicubic",
                                                  align_corners=False, antialias=False).flatten(-2, -1).transpose(-2, -1)
        resize.append(dict(shape=list(teacher_patches.shape), grid=n_student, x=tolist(teacher_patches), y=tolist(resized)))
    path = os.path.join(SSL_OUT, "dinov3_step_losses.json")
    with open(path, "w") as f:
        json.dump(dict(source="scripts/make_dinov3_fixtures.py", cases=cases, resize=resize), f)
    print(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
# RoPE's training augmentation: the official module in training mode, its draws recovered by
# re-seeding and drawing the same torch.empty(...).uniform_ sequence it draws (shift, jitter,
# rescale, in that order), so the Swift test can apply the same draws.

def rope_augment(v3):
    Rope = load_module(v3, "dinov3/layers/rope_position_encoding.py").RopePositionEmbedding
    cases = []
    for seed, H, W, shift, jitter, rescale, normalize in ((31, 3, 4, 0.5, 1.5, 2.0, "separate"), (32, 4, 4, None, None, 2.0, "separate"),
                                                          (33, 2, 5, 0.25, None, None, "max"), (34, 5, 3, None, 3.0, None, "min")):
        rope = Rope(16, num_heads=2, base=100.0, normalize_coords=normalize, shift_coords=shift, jitter_coords=jitter,
                    rescale_coords=rescale, dtype=torch.float32)
        rope.train()
        torch.manual_seed(seed)
        sin, cos = rope(H=H, W=W)
        torch.manual_seed(seed)
        draws = {}
        if shift is not None:
            draws["shift"] = torch.empty(2).uniform_(-shift, shift).tolist()
        if jitter is not None:
            draws["jitter"] = torch.empty(2).uniform_(-np.log(jitter), np.log(jitter)).exp().tolist()
        if rescale is not None:
            draws["rescale"] = torch.empty(1).uniform_(-np.log(rescale), np.log(rescale)).exp().tolist()
        cases.append(dict(H=H, W=W, head_dim=8, normalize=normalize, draws=draws, sin=tolist(sin), cos=tolist(cos)))
    out = os.path.join(ROOT, "Tests", "DinoNNTests", "Fixtures")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "dinov3_rope_augment.json")
    with open(path, "w") as f:
        json.dump(dict(source="scripts/make_dinov3_fixtures.py", cases=cases), f)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dinov3", help="a checkout of facebookresearch/dinov3 (default: git clone into a temp dir)")
    parser.add_argument("--dinov2", help="a checkout of facebookresearch/dinov2 (default: git clone into a temp dir)")
    parser.add_argument("--only", choices=["gram", "masking", "drop_path", "head", "step_losses", "rope"], help="make one fixture only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        v3 = args.dinov3 or clone("https://github.com/facebookresearch/dinov3", os.path.join(tmp, "dinov3"))
        if args.only in (None, "gram"):
            gram(v3)
        if args.only in (None, "masking"):
            masking(v3)
        if args.only in (None, "head"):
            head(v3)
        if args.only in (None, "rope"):
            rope_augment(v3)
        if args.only in (None, "step_losses"):
            step_losses(v3)
        if args.only in (None, "drop_path"):
            v2 = args.dinov2 or clone("https://github.com/facebookresearch/dinov2", os.path.join(tmp, "dinov2"))
            drop_path(v2, v3)


if __name__ == "__main__":
    main()
