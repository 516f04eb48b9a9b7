#!/usr/bin/env python3
"""PyTorch peer of `dino train` for docs/benchmarks-dino.md: DINO in a plain PyTorch loop.

The same method, architecture, crops, batch, prototypes, schedules and epochs as swift-dino's
`dino train --method dino` with its automatic small-data settings, written out in PyTorch from
the published recipe (facebookresearch/dino main_dino.py and vision_transformer.py, and
LightlyTrain's small-data values), so that the two runs differ only in the implementation:

  backbone   ViT, patch 4, 32 px, pre-norm blocks, LayerNorm eps 1e-6, qkv bias, GELU MLP ×4,
             learned position embedding (bicubically resized for 16-px local crops), no
             LayerScale, stochastic depth 0.1 in the student
  head       Linear(D, 2048) GELU Linear(2048, 2048) GELU Linear(2048, 256), L2 norm,
             weight-normalised Linear(256, K) with g fixed at 1
  loss       cross-entropy from softmax((t − c)/τ_t) of the 2 global views to log-softmax(s/0.1)
             of every other view, averaged over pairs; centre EMA 0.9
  optimiser  AdamW (no decay on biases and 1-D tensors), lr 0.0005·B/256 with linear warm-up
             over 10 % of the steps then cosine to 1e-6, weight decay cosine 0.04 → 0.4,
             per-parameter gradient clipping at 3, last layer frozen for 10 % of the steps,
             teacher EMA with momentum cosine 0.99 → 1, τ_t 0.02 (warm-up over 30 % of the
             steps, per step, from the same 0.02)
  crops      2 global 32 px (scale 0.4–1), 6 local 16 px (scale 0.05–0.4), DINO's flip, colour
             jitter, grayscale, Gaussian blur (PIL) and solarisation, ImageNet normalisation

Those are the defaults; every value can be set by a flag (--lr, --momentum, --teacher-temp,
--warmup-teacher-temp, --center-momentum, --local-scale, --global-scale, --weight-decay,
--drop-path, ...; `--help`), as `dino train` takes key=value overrides, so that both sides can
run any recipe (scripts/bench_dino.sh passes EXTRA to swift-dino and PEER_EXTRA to the peer).

torchvision, timm and lightly cannot be imported on the benchmark machine (its torchvision
build does not match torch), so the augmentations are PIL operations, as torchvision applies
them to PIL images, and the ViT is a small module written here.

After every epoch the teacher backbone is evaluated with DINO's weighted k-NN (k = 20,
T = 0.07, cosine on L2-normalised CLS features) on a labelled train/val pair; evaluation time
is not counted as training time.

Speed variants (scripts/bench_dino.sh speed, PEERS): `--compile` wraps the backbones and heads
of student and teacher in `torch.compile` (inductor, static shapes: one graph per crop size,
compiled in the first steps, which `--warmup-steps` leaves out of the steady rate);
`--autocast bf16` runs the forward passes and the loss under `torch.autocast("cpu",
dtype=torch.bfloat16)`, PyTorch's CPU mixed precision (master weights, optimiser and the
loss's softmax stay Float32).

Usage:
  python3 scripts/bench_dino_peer.py --train DIR --val DIR --epochs 10 [--model nano|tiny]
         [--batch-size 64] [--threads N] [--workers N] [--max-steps N] [--max-minutes M]
         [--eval-every-minutes E] [--json OUT] [--compile] [--autocast bf16] [--warmup-steps N]
Prints one JSON object per epoch ({"epoch", "knn_top1", "knn_top5", "teacher_entropy",
"teacher_mean_entropy" (of the last step's targets), "train_seconds",
"images_per_second"}) and a final summary.
"""

import argparse
import contextlib
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


# ------------------------------------------------------------------------------------------
# Data

def image_folder(root):
    """(path, label) pairs of an ImageFolder, classes sorted."""
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    items = []
    for label, c in enumerate(classes):
        for dirpath, _, files in sorted(os.walk(os.path.join(root, c))):
            for f in sorted(files):
                if f.lower().endswith(EXTENSIONS):
                    items.append((os.path.join(dirpath, f), label))
    return items, classes


def to_tensor(img):
    a = (np.asarray(img, dtype=np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(a.transpose(2, 0, 1).copy())


def random_resized_crop(img, size, scale, ratio=(3 / 4, 4 / 3)):
    """torchvision RandomResizedCrop.get_params, then a bicubic resize of the box."""
    width, height = img.size
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * random.uniform(*scale)
        aspect = math.exp(random.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i = random.randint(0, height - h)
            j = random.randint(0, width - w)
            return img.resize((size, size), Image.BICUBIC, box=(j, i, j + w, i + h))
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    i, j = (height - h) // 2, (width - w) // 2
    return img.resize((size, size), Image.BICUBIC, box=(j, i, j + w, i + h))


def adjust_hue(img, factor):
    h, s, v = img.convert("HSV").split()
    h = h.point(lambda x: (x + int(factor * 255)) % 256)
    return Image.merge("HSV", (h, s, v)).convert("RGB")


def color_jitter(img, b=0.4, c=0.4, s=0.2, hue=0.1):
    """torchvision ColorJitter on a PIL image: the four adjustments in a random order."""
    ops = [
        lambda im: ImageEnhance.Brightness(im).enhance(random.uniform(1 - b, 1 + b)),
        lambda im: ImageEnhance.Contrast(im).enhance(random.uniform(1 - c, 1 + c)),
        lambda im: ImageEnhance.Color(im).enhance(random.uniform(1 - s, 1 + s)),
        lambda im: adjust_hue(im, random.uniform(-hue, hue)),
    ]
    for k in torch.randperm(4).tolist():
        img = ops[k](img)
    return img


def view(img, size, scale, blur_p, solarize_p):
    img = random_resized_crop(img, size, scale)
    if random.random() < 0.5:
        img = ImageOps.mirror(img)
    if random.random() < 0.8:
        img = color_jitter(img)
    if random.random() < 0.2:
        img = img.convert("L").convert("RGB")
    if random.random() < blur_p:
        img = img.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0)))
    if random.random() < solarize_p:
        img = ImageOps.solarize(img)
    return to_tensor(img)


class MultiCrop(torch.utils.data.Dataset):
    def __init__(self, items, global_size, local_size, local_count, global_scale=(0.4, 1.0), local_scale=(0.05, 0.4)):
        self.items, self.g, self.l, self.n = items, global_size, local_size, local_count
        self.gs, self.ls = tuple(global_scale), tuple(local_scale)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        img = Image.open(self.items[i][0]).convert("RGB")
        crops = [view(img, self.g, self.gs, 1.0, 0.0), view(img, self.g, self.gs, 0.1, 0.2)]
        crops += [view(img, self.l, self.ls, 0.5, 0.0) for _ in range(self.n)]
        return crops


class Plain(torch.utils.data.Dataset):
    def __init__(self, items, size):
        self.items, self.size = items, size

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        img = Image.open(self.items[i][0]).convert("RGB")
        if img.size != (self.size, self.size):
            img = img.resize((self.size, self.size), Image.BICUBIC)
        return to_tensor(img), self.items[i][1]


def seed_worker(worker_id):
    s = torch.initial_seed() % 2**32
    random.seed(s)
    np.random.seed(s)


# ------------------------------------------------------------------------------------------
# Model

def trunc_normal(t, std=0.02):
    nn.init.trunc_normal_(t, std=std, a=-2, b=2)


class Block(nn.Module):
    def __init__(self, d, heads, drop_path):
        super().__init__()
        self.heads, self.drop_path = heads, drop_path
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def dp(self, x):
        if not self.training or self.drop_path == 0:
            return x
        keep = 1 - self.drop_path
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + self.dp(self.proj(a))
        return x + self.dp(self.fc2(F.gelu(self.fc1(self.norm2(x)))))


class ViT(nn.Module):
    def __init__(self, d, depth, heads, patch=4, size=32, drop_path=0.0):
        super().__init__()
        self.patch, self.grid = patch, size // patch
        self.patch_embed = nn.Conv2d(3, d, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid ** 2, d))
        rates = [drop_path * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(Block(d, heads, r) for r in rates)
        self.norm = nn.LayerNorm(d, eps=1e-6)
        trunc_normal(self.cls_token)
        trunc_normal(self.pos_embed)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x)                                     # (B, D, h, w)
        h, w = x.shape[2:]
        x = x.flatten(2).transpose(1, 2)                            # (B, hw, D)
        pos = self.pos_embed
        if h != self.grid or w != self.grid:
            d = pos.shape[-1]
            grid = pos[:, 1:].reshape(1, self.grid, self.grid, d).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
            pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, d)], dim=1)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + pos
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)[:, 0]


class Head(nn.Module):
    def __init__(self, d, k, hidden=2048, bottleneck=256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, bottleneck))
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                trunc_normal(m.weight)
                nn.init.zeros_(m.bias)
        self.weight_v = nn.Parameter(torch.empty(k, bottleneck).uniform_(-bottleneck ** -0.5, bottleneck ** -0.5))

    def forward(self, x):
        z = F.normalize(self.mlp(x), dim=-1)
        return z @ F.normalize(self.weight_v, dim=-1).t()          # weight_g fixed at 1


class Net(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, crops):
        # Crops of one resolution through the backbone together, the head once.
        feats = [self.backbone(torch.cat(crops[:2]))]
        if len(crops) > 2:
            feats.append(self.backbone(torch.cat(crops[2:])))
        return self.head(torch.cat(feats))


def dino_loss(student, teacher, center, views, tau_s, tau_t):
    s = (student / tau_s).chunk(views)
    q = F.softmax((teacher - center) / tau_t, dim=-1).detach().chunk(2)
    total, n = 0.0, 0
    for iq, qi in enumerate(q):
        for v in range(views):
            if v != iq:
                total = total + torch.sum(-qi * F.log_softmax(s[v], dim=-1), dim=-1).mean()
                n += 1
    return total / n


def cosine(base, final, total, warmup=0):
    ramp = np.linspace(0, base, warmup) if warmup > 0 else np.array([])
    steps = np.arange(total - warmup)
    return np.concatenate((ramp, final + 0.5 * (base - final) * (1 + np.cos(np.pi * steps / len(steps)))))


# ------------------------------------------------------------------------------------------
# Evaluation

@torch.no_grad()
def features(backbone, items, size, batch):
    backbone.eval()
    loader = torch.utils.data.DataLoader(Plain(items, size), batch_size=batch, shuffle=False)
    out = [F.normalize(backbone(x), dim=1) for x, _ in loader]
    return torch.cat(out)


@torch.no_grad()
def knn(train_f, train_y, test_f, test_y, k=20, t=0.07, classes=None):
    classes = classes or int(train_y.max()) + 1
    sim = test_f @ train_f.t()
    dist, idx = sim.topk(k, dim=1)
    votes = torch.zeros(len(test_y), classes).scatter_add_(1, train_y[idx], (dist / t).exp())
    ranked = votes.argsort(dim=1, descending=True, stable=True)
    correct = ranked.eq(test_y.view(-1, 1))
    return 100.0 * correct[:, :1].sum().item() / len(test_y), 100.0 * correct[:, :5].sum().item() / len(test_y)


# ------------------------------------------------------------------------------------------

def write_profile(prof, steps, path):
    """Prints and writes (as JSON) a profile: each op's self CPU time by the phase it ran in (the
    enclosing `phase: …` record_function), and each phase's inclusive time."""
    ops, phases = {}, {}
    for e in prof.events():
        if e.name.startswith("phase: "):
            name = e.name[len("phase: "):]
            phases[name] = phases.get(name, 0.0) + e.cpu_time_total / 1e6
            continue
        if e.self_cpu_time_total <= 0:
            continue
        parent, where = e.cpu_parent, "outside the phases"
        while parent is not None:
            if parent.name.startswith("phase: "):
                where = parent.name[len("phase: "):]
                break
            parent = parent.cpu_parent
        o = ops.setdefault((e.name, where), {"name": e.name, "phase": where, "calls": 0, "seconds": 0.0})
        o["calls"] += 1
        o["seconds"] += e.self_cpu_time_total / 1e6
    ops = sorted(ops.values(), key=lambda o: -o["seconds"])
    total = sum(o["seconds"] for o in ops)
    print(f"torch profile of {steps} steps ({torch.get_num_threads()} threads): self CPU time per op, ms/step")
    for o in ops[:40]:
        print(f"  {o['name'][:44]:<44} {o['phase'][:12]:<12} {o['calls'] / steps:7.1f}x {1000 * o['seconds'] / steps:9.2f}"
              f" {100 * o['seconds'] / total:6.1f} %")
    print("phases (inclusive), ms/step: " + ", ".join(f"{k} {1000 * v / steps:.1f}" for k, v in phases.items()))
    if path:
        with open(path, "w") as f:
            json.dump({"steps": steps, "threads": torch.get_num_threads(), "torch": torch.__version__,
                       "phases": phases, "entries": ops}, f, indent=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--train", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--model", choices=["nano", "tiny", "small"], default="nano",
                   help="nano/tiny: patch 4 (swift-dino's vit_nano_patch4, vit_tiny_patch4); small: ViT-S/16 (dino_vits16)")
    p.add_argument("--global-size", type=int, default=32, help="global crop size (small: use 224)")
    p.add_argument("--local-size", type=int, default=16, help="local crop size (small: use 96)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--prototypes", type=int, default=1024)
    p.add_argument("--local-count", type=int, default=6)
    p.add_argument("--global-scale", type=float, nargs=2, default=[0.4, 1.0])
    p.add_argument("--local-scale", type=float, nargs=2, default=[0.05, 0.4])
    p.add_argument("--lr", type=float, default=0.0005, help="peak learning rate per 256 images, scaled by batch/256")
    p.add_argument("--min-lr", type=float, default=1e-6)
    p.add_argument("--weight-decay", type=float, nargs=2, default=[0.04, 0.4], help="start and end of its cosine")
    p.add_argument("--momentum", type=float, default=0.99, help="teacher EMA momentum at the start of its cosine to 1")
    p.add_argument("--teacher-temp", type=float, default=0.02, help="τ_t (swift-dino's value below 20 000 images)")
    p.add_argument("--warmup-teacher-temp", type=float, default=0.02)
    p.add_argument("--warmup-teacher-temp-fraction", type=float, default=0.3,
                   help="linear τ_t warm-up over this fraction of the steps, per step")
    p.add_argument("--student-temp", type=float, default=0.1)
    p.add_argument("--center-momentum", type=float, default=0.9)
    p.add_argument("--drop-path", type=float, default=0.1)
    p.add_argument("--freeze-last-layer-fraction", type=float, default=0.1,
                   help="last layer frozen for min(1 epoch, this fraction of the steps)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (speed runs)")
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--eval-every-minutes", type=float, default=None,
                   help="also evaluate k-NN after every this many minutes of training (outside the timed span)")
    p.add_argument("--no-knn", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also append the JSON lines to this file")
    p.add_argument("--profile", default=None, metavar="WARMUP,STEPS",
                   help="torch.profiler over STEPS steps after WARMUP steps: self CPU time per aten op and the "
                        "inclusive time of each phase (data, forward, backward, clipping, optimizer, EMA), "
                        "printed and written to --profile-json (as `dino train --profile`)")
    p.add_argument("--profile-json", default=None, help="where --profile writes its JSON")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile (inductor, static shapes) the backbones and heads of student and teacher")
    p.add_argument("--autocast", choices=["bf16"], default=None,
                   help="the forward passes and the loss under CPU autocast in bfloat16 (PyTorch's CPU mixed precision)")
    p.add_argument("--warmup-steps", type=int, default=2,
                   help="steps left out of steady_images_per_second (compilation happens in the first ones)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    np.random.seed(a.seed)

    d, depth, heads = {"nano": (128, 6, 4), "tiny": (192, 12, 3), "small": (384, 12, 6)}[a.model]
    patch = 16 if a.model == "small" else 4
    train_items, classes = image_folder(a.train)
    val_items, _ = image_folder(a.val)
    data = MultiCrop(train_items, a.global_size, a.local_size, a.local_count, a.global_scale, a.local_scale)
    loader = torch.utils.data.DataLoader(data, batch_size=a.batch_size, shuffle=True, drop_last=True,
                                         num_workers=a.workers, worker_init_fn=seed_worker,
                                         persistent_workers=a.workers > 0)
    student = Net(ViT(d, depth, heads, patch=patch, size=a.global_size, drop_path=a.drop_path), Head(d, a.prototypes))
    teacher = Net(ViT(d, depth, heads, patch=patch, size=a.global_size), Head(d, a.prototypes))
    teacher.load_state_dict(student.state_dict())
    for q in teacher.parameters():
        q.requires_grad = False
    if a.compile:
        # After the state dicts are shared: the compiled modules wrap the same parameters, in the
        # same order, so the EMA and the optimiser see what they see eagerly. One graph per crop
        # size (static shapes), compiled during the first steps.
        for net in (student, teacher):
            net.backbone = torch.compile(net.backbone, dynamic=False)
            net.head = torch.compile(net.head, dynamic=False)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.autocast else contextlib.nullcontext
    center = torch.zeros(1, a.prototypes)

    per_epoch = len(loader)
    total = a.epochs * per_epoch
    lr = cosine(a.lr * a.batch_size / 256, a.min_lr, total, warmup=min(10 * per_epoch, int(0.1 * total)))
    wd = cosine(a.weight_decay[0], a.weight_decay[1], total)
    momentum = cosine(a.momentum, 1.0, total)
    temp_warmup = int(a.warmup_teacher_temp_fraction * total)
    teacher_temp = np.concatenate((np.linspace(a.warmup_teacher_temp, a.teacher_temp, temp_warmup),
                                   np.full(total - temp_warmup, a.teacher_temp)))
    freeze = min(per_epoch, int(a.freeze_last_layer_fraction * total))
    decay = [q for n, q in student.named_parameters() if not (n.endswith(".bias") or q.ndim == 1)]
    no_decay = [q for n, q in student.named_parameters() if n.endswith(".bias") or q.ndim == 1]
    opt = torch.optim.AdamW([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}])
    views = 2 + a.local_count

    def emit(obj):
        line = json.dumps(obj)
        print(line, flush=True)
        if a.json:
            with open(a.json, "a") as f:
                f.write(line + "\n")

    def evaluate():
        tr = features(teacher.backbone, train_items, a.global_size, 256)
        va = features(teacher.backbone, val_items, a.global_size, 256)
        ty = torch.tensor([y for _, y in train_items])
        vy = torch.tensor([y for _, y in val_items])
        return knn(tr, ty, va, vy, classes=len(classes))

    profile_warmup, profile_steps = (map(int, a.profile.split(","))) if a.profile else (None, None)
    profiler = None

    def phase(name):
        return torch.profiler.record_function("phase: " + name) if profiler is not None else contextlib.nullcontext()

    def profile_step(done):
        nonlocal profiler
        if profile_warmup is None:
            return
        if done == profile_warmup:
            profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            profiler.__enter__()
        elif profiler is not None and done == profile_warmup + profile_steps:
            profiler.__exit__(None, None, None)
            write_profile(profiler, profile_steps, a.profile_json)
            profiler = None

    train_seconds, step, images, evaluations = 0.0, 0, 0, 0
    timed_steps, timed_seconds = 0, 0.0
    if not a.no_knn:
        top1, top5 = evaluate()
        emit({"epoch": 0, "knn_top1": top1, "knn_top5": top5, "train_seconds": 0.0})
    done = False
    for epoch in range(a.epochs):
        student.train()
        t0 = time.perf_counter()
        last_end = t0
        batches = iter(loader)
        while True:
            with phase("data"):
                crops = next(batches, None)
            if crops is None:
                break
            for i, g in enumerate(opt.param_groups):
                g["lr"] = lr[step]
                if i == 0:
                    g["weight_decay"] = wd[step]
            with phase("forward"), autocast():
                with torch.no_grad():
                    t_out = teacher(crops[:2]).float()
                s_out = student(crops).float()
                loss = dino_loss(s_out, t_out, center, views, a.student_temp, teacher_temp[step])
            with phase("zero grad"):
                opt.zero_grad()
            with phase("backward"):
                loss.backward()
            with phase("gradient clipping"):
                for q in student.parameters():                       # DINO's clip_gradients
                    if q.grad is not None:
                        norm = q.grad.data.norm(2)
                        coef = 3.0 / (norm + 1e-6)
                        if coef < 1:
                            q.grad.data.mul_(coef)
                if step < freeze:
                    student.head.weight_v.grad = None
            with phase("optimizer"):
                opt.step()
            with phase("EMA, centre, monitors"), torch.no_grad():
                q = F.softmax((t_out - center) / teacher_temp[step], dim=-1)      # collapse monitors, as dino train logs
                ent = -(q * q.clamp_min(1e-30).log()).sum(dim=1).mean().item()
                qm = q.mean(dim=0)
                mean_ent = -(qm * qm.clamp_min(1e-30).log()).sum().item()
                m = momentum[step]
                for qs, qt in zip(student.parameters(), teacher.parameters()):
                    qt.mul_(m).add_((1 - m) * qs.detach())
                center = center * a.center_momentum + t_out.mean(dim=0, keepdim=True) * (1 - a.center_momentum)
            step += 1
            images += a.batch_size
            profile_step(step)
            now = time.perf_counter()
            if step > a.warmup_steps:           # steady state (data loading included), after the warm-up
                timed_steps += 1
                timed_seconds += now - last_end
            last_end = now
            if not math.isfinite(loss.item()):
                raise SystemExit(f"loss {loss.item()} at step {step}")
            if (a.max_steps and step >= a.max_steps) or \
               (a.max_minutes and train_seconds + time.perf_counter() - t0 >= 60 * a.max_minutes):
                done = True
                break
            if a.eval_every_minutes and not a.no_knn and \
               train_seconds + time.perf_counter() - t0 >= 60 * a.eval_every_minutes * (evaluations + 1):
                paused = time.perf_counter()                 # the evaluation is not training time
                evaluations += 1
                top1, top5 = evaluate()
                emit({"epoch": round(step / per_epoch, 3), "step": step, "loss": loss.item(),
                      "train_seconds": round(train_seconds + paused - t0, 2), "knn_top1": top1, "knn_top5": top5})
                t0 += time.perf_counter() - paused
                last_end = time.perf_counter()
        train_seconds += time.perf_counter() - t0
        record = {"epoch": epoch + 1, "step": step, "loss": loss.item(), "teacher_entropy": round(ent, 3),
                  "teacher_mean_entropy": round(mean_ent, 3), "train_seconds": round(train_seconds, 2),
                  "images_per_second": round(images / train_seconds, 2)}
        if not a.no_knn:
            record["knn_top1"], record["knn_top5"] = evaluate()
        emit(record)
        if done:
            break
    emit({"summary": True, "model": a.model, "steps": step, "train_seconds": round(train_seconds, 2),
          "images_per_second": round(images / train_seconds, 2),
          "steady_images_per_second": round(timed_steps * a.batch_size / timed_seconds, 2) if timed_seconds else None,
          "threads": torch.get_num_threads(), "compile": a.compile, "autocast": a.autocast})


if __name__ == "__main__":
    main()
