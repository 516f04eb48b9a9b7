#!/usr/bin/env python3
"""Reference values for the training infrastructure tests (DinoNNTests, DinoSSLTests).

Writes small JSON fixtures (the Swift tests read them without Python):

  Tests/DinoNNTests/Fixtures/schedules.json  NumPy schedules as DINO, DINOv2 and DINOv3 build them
  Tests/DinoNNTests/Fixtures/adamw.json      torch.optim.AdamW over two parameter groups, with
                                             learning rate and weight decay changed every step
  Tests/DinoNNTests/Fixtures/clipping.json   DINO's per-parameter clipping and
                                             torch.nn.utils.clip_grad_norm_

The schedule formulas restate, in NumPy, the array constructions of
facebookresearch/dino utils.py (cosine_scheduler), dinov2/utils/utils.py (CosineScheduler) and
dinov3 (CosineScheduler with trunc_extra, linear_warmup_cosine_decay); the optimiser and the
total-norm clipping are PyTorch's own.

Usage: python3 scripts/make_trainkit_fixtures.py   (needs numpy and torch)
"""

import json
import math
import os

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "DinoNNTests", "Fixtures")


def floats(a):
    return [float(x) for x in np.asarray(a, dtype=np.float64).reshape(-1)]


# ---------------------------------------------------------------------------------------------
# Schedules: each builder returns the whole NumPy array the reference would index.

def dino_cosine(base, final, epochs, per_epoch, warmup_epochs=0, start_warmup=0.0):
    n_warm = warmup_epochs * per_epoch
    ramp = np.linspace(start_warmup, base, n_warm) if warmup_epochs > 0 else np.array([])
    steps = np.arange(epochs * per_epoch - n_warm)
    tail = final + 0.5 * (base - final) * (1 + np.cos(np.pi * steps / len(steps)))
    return np.concatenate((ramp, tail))


def dinov2_cosine(base, final, total, warmup=0, start_warmup=0.0, freeze=0, trunc_extra=0.0):
    frozen = np.zeros((freeze,))
    ramp = np.linspace(start_warmup, base, warmup)
    n = total - warmup - freeze
    if trunc_extra == 0.0:
        steps = np.arange(n)
        tail = final + 0.5 * (base - final) * (1 + np.cos(np.pi * steps / len(steps)))
    else:
        c = (np.cos(np.linspace(0, np.pi, int((1 + trunc_extra) * n))[:n]) + 1) / 2
        c = (c - c[-1]) / (1 - c[-1])
        tail = c * (base - final) + final
    return np.concatenate((frozen, ramp, tail))


def dinov3_warmup_cosine(start, peak, end, warmup, total, cosine=None):
    ramp = np.linspace(start, peak, warmup, endpoint=False)
    if cosine is None:
        cosine = total - warmup
    c = (np.cos(np.linspace(0, np.pi, cosine)) + 1) / 2
    middle = (peak - end) * c + end
    rest = np.full((total - cosine - warmup,), fill_value=end)
    return np.concatenate([ramp, middle, rest])


def dino_teacher_temp(warm, temp, warm_epochs, epochs):
    return np.concatenate((np.linspace(warm, temp, warm_epochs), np.ones(epochs - warm_epochs) * temp))


def schedules():
    cases = []

    def add(kind, params, values):
        cases.append({"kind": kind, "params": params, "values": floats(values)})

    # DINO ViT-S/16 recipe shapes, scaled down: lr (warm-up), weight decay and momentum (no warm-up).
    for p in [
        dict(base=0.0005 * 64 / 256, final=1e-6, epochs=12, per_epoch=37, warmup_epochs=3, start_warmup=0.0),
        dict(base=0.04, final=0.4, epochs=7, per_epoch=13, warmup_epochs=0, start_warmup=0.0),
        dict(base=0.996, final=1.0, epochs=5, per_epoch=11, warmup_epochs=0, start_warmup=0.0),
        dict(base=1e-3, final=2e-6, epochs=4, per_epoch=1, warmup_epochs=1, start_warmup=1e-7),
        dict(base=0.3, final=0.3, epochs=3, per_epoch=5, warmup_epochs=2, start_warmup=0.3),
    ]:
        add("dino_cosine", p, dino_cosine(**p))
    for p in [
        dict(base=4e-3, final=1e-6, total=300, warmup=40, start_warmup=0.0, freeze=0, trunc_extra=0.0),
        dict(base=0.07, final=0.07, total=90, warmup=90, start_warmup=0.04, freeze=0, trunc_extra=0.0),
        dict(base=2e-3, final=1e-5, total=150, warmup=20, start_warmup=1e-6, freeze=15, trunc_extra=0.0),
        dict(base=0.992, final=1.0, total=211, warmup=0, start_warmup=0.0, freeze=0, trunc_extra=0.25),
    ]:
        add("dinov2_cosine", p, dinov2_cosine(**p))
    for p in [
        dict(start=0.0, peak=1e-3, end=1e-5, warmup=30, total=200, cosine=None),
        dict(start=0.04, peak=0.07, end=0.07, warmup=50, total=120, cosine=0),
        dict(start=0.994, peak=0.994, end=0.999, warmup=0, total=80, cosine=60),
        dict(start=0.999, peak=0.999, end=0.999, warmup=0, total=40, cosine=None),
    ]:
        add("dinov3_warmup_cosine", p, dinov3_warmup_cosine(**p))
    for p in [dict(warm=0.04, temp=0.07, warm_epochs=30, epochs=100), dict(warm=0.04, temp=0.04, warm_epochs=0, epochs=3)]:
        add("dino_teacher_temp", p, dino_teacher_temp(**p))
    return {"cases": cases}


# ---------------------------------------------------------------------------------------------
# AdamW: two groups (multipliers 1 and 0.5 on lr, 1 and 0 on weight decay), one parameter
# without a gradient on one step, lr and wd changed every step.

def adamw():
    g = torch.Generator().manual_seed(1234)
    shapes = [[3, 4], [5], [2, 2, 3], [16, 20]]
    params = [torch.randn(s, generator=g, dtype=torch.float32).requires_grad_() for s in shapes]
    initial = [p.detach().clone() for p in params]
    groups_spec = [
        {"indices": [0, 1, 3], "lr_multiplier": 1.0, "wd_multiplier": 1.0},
        {"indices": [2], "lr_multiplier": 0.5, "wd_multiplier": 0.0},
    ]
    betas, eps = (0.9, 0.999), 1e-8
    opt = torch.optim.AdamW(
        [{"params": [params[i] for i in spec["indices"]]} for spec in groups_spec],
        lr=1e-3, betas=betas, eps=eps, weight_decay=0.04, foreach=False,
    )
    steps = []
    for t in range(6):
        lr = 1e-2 * (t + 1) / 3 if t < 3 else 1e-2 * 0.5 * (1 + math.cos(math.pi * (t - 3) / 3))
        wd = 0.04 + 0.05 * t
        grads = []
        for k, p in enumerate(params):
            if t == 2 and k == 1:
                p.grad = None            # skipped: no update, no decay, no step count
                grads.append(None)
                continue
            gr = torch.randn(p.shape, generator=g, dtype=torch.float32) * (0.1 if t % 2 else 3.0)
            p.grad = gr.clone()
            grads.append(floats(gr))
        for group, spec in zip(opt.param_groups, groups_spec):
            group["lr"] = lr * spec["lr_multiplier"]
            group["weight_decay"] = wd * spec["wd_multiplier"]
        opt.step()
        steps.append({"lr": lr, "wd": wd, "grads": grads, "params_after": [floats(p.detach()) for p in params]})
    state = []
    for p in params:
        s = opt.state[p]
        state.append({"step": float(s["step"]), "exp_avg": floats(s["exp_avg"]), "exp_avg_sq": floats(s["exp_avg_sq"])})
    return {
        "torch_version": torch.__version__,
        "betas": list(betas), "eps": eps,
        "shapes": shapes, "groups": groups_spec,
        "initial": [floats(p) for p in initial],
        "steps": steps, "state": state,
    }


# ---------------------------------------------------------------------------------------------
# Clipping: DINO clips each parameter's gradient to norm `clip`; clip_grad_norm_ scales all
# gradients by one factor from their total norm.

def clipping():
    g = torch.Generator().manual_seed(99)
    shapes = [[4, 3], [7], [2, 5]]
    scales = [5.0, 0.01, 1.0]
    grads = [torch.randn(s, generator=g) * c for s, c in zip(shapes, scales)]
    clip = 0.8
    dino = [x.clone() for x in grads]
    norms = []
    for x in dino:
        n = x.norm(2)
        norms.append(n.item())
        coef = clip / (n + 1e-6)
        if coef < 1:
            x.mul_(coef)
    out = {"shapes": shapes, "grads": [floats(x) for x in grads], "clip": clip,
           "per_parameter": {"norms": norms, "grads_after": [floats(x) for x in dino]}, "total": []}
    for max_norm in [1.5, 1000.0]:
        ps = [torch.zeros(s, requires_grad=True) for s in shapes]
        for p, x in zip(ps, grads):
            p.grad = x.clone()
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm)
        out["total"].append({"max_norm": max_norm, "total_norm": total.item(),
                             "grads_after": [floats(p.grad) for p in ps]})
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, make in [("schedules", schedules), ("adamw", adamw), ("clipping", clipping)]:
        path = os.path.join(OUT, name + ".json")
        with open(path, "w") as f:
            json.dump(make(), f, separators=(",", ":"))
            f.write("\n")
        print("wrote", os.path.relpath(path, ROOT), os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
