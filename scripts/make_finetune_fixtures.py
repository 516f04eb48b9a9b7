#!/usr/bin/env python3
"""Golden fixtures of `dino finetune`'s recipe, from the reference code itself.

Runs facebookresearch/mae's `param_groups_lrd` and `adjust_learning_rate` (fetched into a
temporary directory, not committed) and timm's mixup, CutMix, label smoothing, soft-target
cross-entropy and RandAugment ops (pip install timm), and writes:

  Tests/DinoEvalTests/Fixtures/finetune.json     LLRD scales, lr schedule, losses + gradients,
                                                  mixup/CutMix boxes, λ and targets
  Tests/DinoVisionTests/Fixtures/randaugment.json RandAugment op arguments at magnitude 9 and
                                                  the ops' outputs on a small fixture image

Usage: python3 scripts/make_finetune_fixtures.py   (needs torch, timm, Pillow, numpy, git and
network access to clone facebookresearch/mae; MAE_DIR=path uses an existing checkout).
"""
import json, os, random, subprocess, sys, tempfile
from pathlib import Path

import numpy as np
import torch
import timm
from timm.data import mixup as tmix
from timm.data import auto_augment as aa
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def mae_modules():
    d = os.environ.get("MAE_DIR")
    if not d:
        d = tempfile.mkdtemp()
        subprocess.run(["git", "clone", "--depth", "1", "https://github.com/facebookresearch/mae", d], check=True)
    sys.path.insert(0, os.path.join(d, "util"))
    import lr_decay, lr_sched  # noqa: E402
    return lr_decay, lr_sched


def llrd(lr_decay):
    """MAE's lr scale and weight decay per parameter name, for a 6-block ViT (the names of
    vit_nano_patch4: LayerScale, no registers), with fc_norm (global pool) and with norm (cls)."""
    out = {}
    for pool in ["avg", "token"]:
        m = timm.models.vision_transformer.VisionTransformer(
            img_size=32, patch_size=4, embed_dim=16, depth=6, num_heads=2, num_classes=26,
            global_pool=pool, fc_norm=(pool == "avg"), init_values=1e-5)
        groups = lr_decay.param_groups_lrd(m, weight_decay=0.05, no_weight_decay_list=m.no_weight_decay(), layer_decay=0.65)
        ids = {id(p): n for n, p in m.named_parameters()}
        for g in groups:
            for p in g["params"]:
                out[ids[id(p)]] = {"lr_scale": g["lr_scale"], "weight_decay": g["weight_decay"]}
    return {"layer_decay": 0.65, "weight_decay": 0.05, "depth": 6, "groups": out}


def schedule(lr_sched):
    class A: pass
    a = A(); a.lr = 1e-3; a.min_lr = 1e-6; a.warmup_epochs = 2; a.epochs = 5
    per_epoch = 7

    class Opt: param_groups = [{"lr_scale": 1.0}]
    values = []
    for it in range(a.epochs * per_epoch):
        values.append(lr_sched.adjust_learning_rate(Opt, it / per_epoch, a))
    return {"peak": a.lr, "min": a.min_lr, "warmup_epochs": a.warmup_epochs, "epochs": a.epochs,
            "iterations_per_epoch": per_epoch, "values": values}


def losses():
    torch.manual_seed(0)
    logits = torch.randn(4, 5, dtype=torch.float64) * 2
    labels = torch.tensor([0, 3, 3, 1])
    out = {"logits": logits.flatten().tolist(), "shape": [4, 5], "labels": labels.tolist(), "smoothing": 0.1}
    x = logits.clone().requires_grad_(True)
    loss = LabelSmoothingCrossEntropy(0.1)(x, labels)
    loss.backward()
    out["label_smoothing"] = {"loss": loss.item(), "grad": x.grad.flatten().tolist()}
    target = tmix.mixup_target(labels, 5, lam=0.7, smoothing=0.1)
    x = logits.clone().requires_grad_(True)
    loss = SoftTargetCrossEntropy()(x, target.double())
    loss.backward()
    out["soft_target"] = {"lambda": 0.7, "targets": target.flatten().tolist(), "loss": loss.item(),
                          "grad": x.grad.flatten().tolist()}
    return out


def mixing():
    """Mixup._mix_batch and mixup_target through timm's Mixup, with the per-batch draw fixed."""
    cases = []
    # CutMix boxes and corrected λ for given centres (np.random.randint draws cy then cx).
    for (h, w, lam, seed) in [(32, 32, 0.6, 0), (32, 32, 0.2, 1), (8, 6, 0.5, 2), (32, 32, 0.97, 3), (5, 7, 0.01, 4)]:
        np.random.seed(seed)
        cy = int(np.random.randint(0, h)); cx = int(np.random.randint(0, w))
        np.random.seed(seed)
        (yl, yh, xl, xh), lam_c = tmix.cutmix_bbox_and_lam((1, 3, h, w), lam, correct_lam=True)
        cases.append({"height": h, "width": w, "lambda": lam, "cy": cy, "cx": cx,
                      "box": [int(yl), int(yh), int(xl), int(xh)], "corrected": float(lam_c)})
    torch.manual_seed(1)
    x = torch.randn(4, 3, 6, 5)
    labels = torch.tensor([2, 0, 1, 2])
    batches = []
    for lam, cut, seed in [(0.3, False, 0), (0.6, True, 5)]:
        m = tmix.Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, label_smoothing=0.1, num_classes=3)
        m._params_per_batch = lambda lam=lam, cut=cut: (lam, cut)
        np.random.seed(seed)
        cy = int(np.random.randint(0, 6)); cx = int(np.random.randint(0, 5))
        np.random.seed(seed)
        xm, tm = m(x.clone(), labels.clone())
        batches.append({"lambda": lam, "cutmix": cut, "cy": cy, "cx": cx, "images": xm.flatten().tolist(),
                        "targets": tm.flatten().tolist()})
    return {"boxes": cases, "batch": {"images": x.flatten().tolist(), "shape": [4, 3, 6, 5], "labels": labels.tolist(),
                                      "classes": 3, "smoothing": 0.1, "cases": batches}}


def randaugment():
    rng = np.random.RandomState(0)
    h, w = 10, 12
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([60 + 9 * xx + 3 * yy, 90 + 7 * yy, 120 + 4 * xx - 2 * yy], -1).astype(np.int64)
    img = np.clip(base + rng.randint(-12, 13, size=base.shape), 0, 255).astype(np.uint8)
    pil = Image.fromarray(img, "RGB")
    hp = {"img_mean": (124, 116, 104), "interpolation": Image.BICUBIC, "magnitude_std": 0.5}
    kwargs = {"fillcolor": hp["img_mean"], "resample": Image.BICUBIC}
    ops = []
    for name in aa._RAND_INCREASING_TRANSFORMS:
        for negate in [False, True]:
            level_fn = aa.LEVEL_TO_ARG[name]
            saved = random.random
            random.random = (lambda: 0.9) if negate else (lambda: 0.1)   # _randomly_negate: > 0.5 negates
            try:
                args = level_fn(9, hp) if level_fn is not None else tuple()
            finally:
                random.random = saved
            out = aa.NAME_TO_OP[name](pil, *args, **kwargs)
            ops.append({"name": name, "negate": negate, "magnitude": 9, "argument": (float(args[0]) if args else None),
                        "pixels": np.asarray(out).flatten().tolist()})
    # Extra arguments that reach the clipping and rounding paths.
    extra = [("Rotate", 90.0), ("Rotate", -45.0), ("ShearX", -0.3), ("TranslateYRel", 0.2), ("ColorIncreasing", 1.9),
             ("ContrastIncreasing", 0.1), ("SharpnessIncreasing", 1.9), ("BrightnessIncreasing", 1.9), ("PosterizeIncreasing", 2)]
    for name, arg in extra:
        out = aa.NAME_TO_OP[name](pil, arg, **kwargs)
        ops.append({"name": name, "negate": False, "magnitude": None, "argument": float(arg), "pixels": np.asarray(out).flatten().tolist()})
    return {"width": w, "height": h, "image": img.flatten().tolist(), "fill": list(hp["img_mean"]), "ops": ops}


def main():
    lr_decay, lr_sched = mae_modules()
    fixture = {"llrd": llrd(lr_decay), "schedule": schedule(lr_sched), "losses": losses(), "mixup": mixing(),
               "versions": {"torch": torch.__version__, "timm": timm.__version__, "mae": "facebookresearch/mae main"}}
    out = ROOT / "Tests/DinoEvalTests/Fixtures/finetune.json"
    out.write_text(json.dumps(fixture, indent=None, separators=(",", ":")))
    ra = randaugment()
    ra["versions"] = {"timm": timm.__version__, "pillow": Image.__version__}
    out2 = ROOT / "Tests/DinoVisionTests/Fixtures/randaugment.json"
    out2.write_text(json.dumps(ra, separators=(",", ":")))
    print("wrote", out, out2)


if __name__ == "__main__":
    main()
