#!/usr/bin/env python3
"""LightlyTrain peer of `dino train` (issues 5 and 6): LightlyTrain's `dino` or `dinov2` method.

Runs `lightly_train.pretrain` (LightlyTrain 0.18.0) on an image folder with a backbone equal to
swift-dino's `vit_nano_patch4` (or `vit_tiny_patch4` with `--model tiny`), batch 64, 2 global
crops of 32 px + 6 local crops of 16 px, 1024 prototypes, AdamW, CPU, 1 data worker, fp32, and
evaluates the teacher backbone after every epoch with DINO's weighted k-NN (k = 20, T = 0.07,
cosine on L2-normalised features, ImageNet normalisation, 32-px images) on a labelled train/val
pair. Evaluation runs in a Lightning callback at the end of each epoch, outside the timed span.
Everything else is LightlyTrain's own defaults for the method, unless overridden with
`--method-arg KEY=VALUE` / `--optim-arg KEY=VALUE` (values parsed as JSON when they parse).

  dino    timm VisionTransformer(img 32, patch 4, embed 128, depth 6, heads 4, mlp 4, qkv bias,
          no LayerScale, class token, learned position embedding (bicubically resized for the
          16-px crops: dynamic_img_size), no drop path). LightlyTrain wraps timm models with
          TIMMModelWrapper, whose embedding (the input of the DINO head) is the *average of the
          final-normed patch tokens*, not the CLS token.
  dinov2  LightlyTrain's own DINOv2 ViT (DinoVisionTransformer, which its dinov2 method
          requires) built with the same sizes: img 32, patch 4, embed 128, depth 6, heads 4,
          mlp 4, qkv/proj/ffn bias, class token, no registers, LayerScale 1e-5, drop path 0.1
          uniform (the DINOv2 ViT-S/14 training config's rate, as swift-dino's benchmark run).
          The DINO head reads the CLS token, iBOT the patch tokens.

Two k-NN figures per epoch: `knn_top1`/`knn_top5` on the CLS token after the final norm (the
protocol of docs/benchmarks-dino.md) and `knn_embed_top1`/`knn_embed_top5` on LightlyTrain's own
embedding (what `lightly_train.embed` returns: mean patch token for the timm ViT, CLS for DINOv2).

Environment (nothing global changes; torch is the system's 2.13.0+cpu and is never replaced):

  python3 -m venv --system-site-packages .venv
  printf 'torch==2.13.0+cpu\\ntorchvision==0.28.0\\n' > /tmp/lt_constraints.txt
  .venv/bin/pip install -c /tmp/lt_constraints.txt "lightly-train[timm]==0.18.0"
  # the resolved versions are pinned in scripts/requirements-peer.txt:
  # .venv/bin/pip install -c /tmp/lt_constraints.txt -r scripts/requirements-peer.txt

torchvision 0.28.0 from PyPI does not match torch 2.13.0+cpu; scripts/tv_shim.py (imported
first, below) makes it importable without its C++ ops, which LightlyTrain's pretraining does not use.

Usage:
  .venv/bin/python scripts/bench_lightly_train.py --method dino|dinov2 \\
      --train ../shared/datasets/glyphs-dev/train --val ../shared/datasets/glyphs-dev/val \\
      [--epochs 10] [--model nano|tiny] [--batch-size 64] [--threads N] [--workers 1] \\
      [--max-steps N] [--warmup-steps 2] [--no-knn] [--lightly-scales] [--out DIR] [--json OUT]
Prints one JSON object per epoch ({"epoch", "knn_top1", "knn_top5", "train_seconds",
"images_per_second", ...}) and a final summary with the steady-state images/s (after
--warmup-steps steps, data loading included).
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tv_shim  # noqa: E402,F401  (before anything imports torchvision)

os.environ.setdefault("LIGHTLY_TRAIN_EVENTS_DISABLED", "1")   # no telemetry from an offline machine

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from pytorch_lightning import Callback  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
SIZES = {"nano": (128, 6, 4), "tiny": (192, 12, 3)}


# ------------------------------------------------------------------------------------------
# Backbones

def timm_vit(model):
    from timm.models.vision_transformer import VisionTransformer
    d, depth, heads = SIZES[model]
    m = VisionTransformer(img_size=32, patch_size=4, embed_dim=d, depth=depth, num_heads=heads, mlp_ratio=4.0,
                          qkv_bias=True, init_values=None, class_token=True, global_pool="token", num_classes=0,
                          dynamic_img_size=True, drop_path_rate=0.0)
    # TIMMModelWrapper reads the architecture from pretrained_cfg (only to classify it as a transformer).
    m.pretrained_cfg = {"architecture": f"vit_{model}_patch4"}
    return m


def dinov2_vit(model, drop_path):
    from functools import partial

    from lightly_train._models.dinov2_vit.dinov2_vit_src.layers import MemEffAttention
    from lightly_train._models.dinov2_vit.dinov2_vit_src.models.vision_transformer import Block, DinoVisionTransformer
    d, depth, heads = SIZES[model]
    # The keyword arguments of DINOv2ViTPackage.get_model for a `dinov2/vits14`-style model
    # (configs/train/vits14.yaml over ssl_default_config.yaml), with our sizes.
    return DinoVisionTransformer(img_size=32, patch_size=4, embed_dim=d, depth=depth, num_heads=heads, mlp_ratio=4,
                                 block_fn=partial(Block, attn_class=MemEffAttention), init_values=1e-5,
                                 ffn_layer="mlp", block_chunks=0, qkv_bias=True, proj_bias=True, ffn_bias=True,
                                 num_register_tokens=0, interpolate_offset=0.1, interpolate_antialias=False,
                                 drop_path_rate=drop_path, drop_path_uniform=True, in_chans=3,
                                 input_normalization="imagenet")


# ------------------------------------------------------------------------------------------
# k-NN evaluation (as scripts/bench_dino_peer.py)

def image_folder(root):
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    items = []
    for label, c in enumerate(classes):
        for dirpath, _, files in sorted(os.walk(os.path.join(root, c))):
            for f in sorted(files):
                if f.lower().endswith(EXTENSIONS):
                    items.append((os.path.join(dirpath, f), label))
    return items, classes


def load_images(items, size=32):
    out = []
    for path, _ in items:
        img = Image.open(path).convert("RGB")
        if img.size != (size, size):
            img = img.resize((size, size), Image.BICUBIC)
        out.append((np.asarray(img, dtype=np.float32) / 255.0 - MEAN) / STD)
    return torch.from_numpy(np.stack(out).transpose(0, 3, 1, 2).copy())


@torch.no_grad()
def knn(train_f, train_y, test_f, test_y, k=20, t=0.07, classes=None):
    classes = classes or int(train_y.max()) + 1
    sim = test_f @ train_f.t()
    dist, idx = sim.topk(k, dim=1)
    votes = torch.zeros(len(test_y), classes).scatter_add_(1, train_y[idx], (dist / t).exp())
    ranked = votes.argsort(dim=1, descending=True, stable=True)
    correct = ranked.eq(test_y.view(-1, 1))
    return 100.0 * correct[:, :1].sum().item() / len(test_y), 100.0 * correct[:, :5].sum().item() / len(test_y)


@torch.no_grad()
def features(wrapped, method, images, batch=256):
    """(CLS after the final norm, LightlyTrain's pooled embedding), both L2-normalised."""
    model = wrapped.get_model()
    cls, emb = [], []
    for x in images.split(batch):
        if method == "dino":
            tokens = model.forward_features(x)                      # timm: [B, 1 + N, D], normed
            cls.append(tokens[:, 0])
        else:
            cls.append(model.forward_features(x)["x_norm_clstoken"])
        pooled = wrapped.forward_pool(wrapped.forward_features(x))["pooled_features"]
        emb.append(pooled.flatten(1))
    return F.normalize(torch.cat(cls), dim=1), F.normalize(torch.cat(emb), dim=1)


class EpochBench(Callback):
    """Times each training epoch, evaluates the teacher after it, and stops after --max-steps."""

    def __init__(self, a, emit):
        self.a, self.emit = a, emit
        self.train_seconds, self.images, self.steps = 0.0, 0, 0
        self.steady_steps, self.steady_seconds = 0, 0.0
        self.t0 = self.last = None
        self.eval_data = None
        if not a.no_knn:
            train_items, classes = image_folder(a.train)
            val_items, _ = image_folder(a.val)
            self.eval_data = (load_images(train_items), torch.tensor([y for _, y in train_items]),
                              load_images(val_items), torch.tensor([y for _, y in val_items]), len(classes))

    def evaluate(self, pl_module):
        xt, yt, xv, yv, classes = self.eval_data
        teacher = pl_module.teacher_embedding_model
        modes = [(m, m.training) for m in teacher.modules()]
        teacher.eval()
        wrapped = teacher.wrapped_model
        tc, te = features(wrapped, self.a.method, xt)
        vc, ve = features(wrapped, self.a.method, xv)
        for m, training in modes:                                  # restore exactly (DINOv2's teacher stays eval)
            m.training = training
        top1, top5 = knn(tc, yt, vc, yv, classes=classes)
        e1, e5 = knn(te, yt, ve, yv, classes=classes)
        return {"knn_top1": top1, "knn_top5": top5, "knn_embed_top1": e1, "knn_embed_top5": e5}

    def on_train_start(self, trainer, pl_module):
        if self.eval_data is not None:
            self.emit({"epoch": 0, **self.evaluate(pl_module), "train_seconds": 0.0})

    def on_train_epoch_start(self, trainer, pl_module):
        self.t0 = self.last = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now = time.perf_counter()
        self.steps += 1
        self.images += len(batch["views"][0])
        if self.steps > self.a.warmup_steps:
            self.steady_steps += 1
            self.steady_seconds += now - self.last
        self.last = now
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not math.isfinite(float(loss)):
            raise SystemExit(f"loss {float(loss)} at step {self.steps}")
        self.loss = float(loss) if loss is not None else None
        if self.a.max_steps and self.steps >= self.a.max_steps:
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer, pl_module):
        self.train_seconds += time.perf_counter() - self.t0
        record = {"epoch": trainer.current_epoch + 1, "step": self.steps, "loss": self.loss,
                  "train_seconds": round(self.train_seconds, 2),
                  "images_per_second": round(self.images / self.train_seconds, 2)}
        if self.eval_data is not None:
            record.update(self.evaluate(pl_module))
        self.emit(record)


def parse_kv(pairs):
    out = {}
    for p in pairs or []:
        k, _, v = p.partition("=")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--method", choices=["dino", "dinov2"], required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--model", choices=["nano", "tiny"], default="nano")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--prototypes", type=int, default=1024)
    p.add_argument("--local-count", type=int, default=6)
    p.add_argument("--drop-path", type=float, default=0.1, help="dinov2 student drop path (uniform)")
    p.add_argument("--lightly-scales", action="store_true",
                   help="keep LightlyTrain's crop scales (dino 0.14-1 / 0.05-0.14) instead of ours "
                        "(dino 0.4-1 / 0.05-0.4; dinov2 0.32-1 / 0.05-0.32 either way)")
    p.add_argument("--method-arg", action="append", metavar="KEY=VALUE", help="extra LightlyTrain method_args")
    p.add_argument("--optim-arg", action="append", metavar="KEY=VALUE", help="extra LightlyTrain optim_args")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many steps (speed runs; the schedules stay those of --epochs)")
    p.add_argument("--warmup-steps", type=int, default=2, help="steps left out of the steady-state images/s")
    p.add_argument("--no-knn", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="LightlyTrain output directory (default: a temporary one)")
    p.add_argument("--json", default=None, help="also append the JSON lines to this file")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    import lightly_train
    from lightly_train._commands import train_helpers

    def emit(obj):
        line = json.dumps(obj)
        print(line, flush=True)
        if a.json:
            with open(a.json, "a") as f:
                f.write(line + "\n")

    bench = EpochBench(a, emit)

    # LightlyTrain builds its own callback list (checkpoint, export, lr monitor, …) from
    # `callbacks=`; it offers no hook for a custom Lightning callback, so ours is put at the
    # front of that list where the Trainer is made. Nothing else of LightlyTrain changes.
    get_trainer = train_helpers.get_trainer

    def get_trainer_with_bench(**kwargs):
        kwargs["callbacks"] = [bench] + list(kwargs["callbacks"])
        return get_trainer(**kwargs)

    train_helpers.get_trainer = get_trainer_with_bench

    torch.manual_seed(a.seed)          # the backbone is built here, before LightlyTrain seeds everything
    if a.method == "dino":
        model = timm_vit(a.model)
        method_args = {"output_dim": a.prototypes}
        global_scale, local_scale = ((0.14, 1.0), (0.05, 0.14)) if a.lightly_scales else ((0.4, 1.0), (0.05, 0.4))
    else:
        model = dinov2_vit(a.model, a.drop_path)
        method_args = {"output_dim": a.prototypes}
        global_scale, local_scale = (0.32, 1.0), (0.05, 0.32)
    method_args.update(parse_kv(a.method_arg))
    transform_args = {
        "image_size": (32, 32),
        "random_resize": {"min_scale": global_scale[0], "max_scale": global_scale[1]},
        "local_view": {"num_views": a.local_count, "view_size": (16, 16),
                       "random_resize": {"min_scale": local_scale[0], "max_scale": local_scale[1]}},
    }
    out = a.out or tempfile.mkdtemp(prefix=f"lightly-train-{a.method}-")
    start = time.perf_counter()
    lightly_train.pretrain(
        out=out, data=a.train, model=model, method=a.method, method_args=method_args,
        epochs=a.epochs, batch_size=a.batch_size, num_workers=a.workers,
        accelerator="cpu", devices=1, precision="32-true", seed=a.seed, overwrite=True,
        optim="adamw", optim_args=parse_kv(a.optim_arg) or None, transform_args=transform_args,
    )
    emit({"summary": True, "method": a.method, "model": a.model, "steps": bench.steps,
          "train_seconds": round(bench.train_seconds, 2),
          "images_per_second": round(bench.images / bench.train_seconds, 2) if bench.train_seconds else None,
          "steady_images_per_second": round(bench.steady_steps * a.batch_size / bench.steady_seconds, 2)
          if bench.steady_seconds else None,
          "wall_seconds": round(time.perf_counter() - start, 2), "threads": torch.get_num_threads(), "out": out})


if __name__ == "__main__":
    main()
