#!/usr/bin/env python3
"""An uncurated, imbalanced pool of images for issue 14's "does curation help pretraining".

Usage: python3 -m pip install numpy pillow
       python3 scripts/make_curation_pool.py OUT [--seed S] [--datasets DIR]

Writes OUT/pool/NNNNNN.png (32×32 RGB, shuffled names so that nothing in a path tells the
kind) and OUT/manifest.jsonl, one line per image: {"path", "kind", "original"} where kind is

  glyph        a glyphs-dev train image (the in-domain originals, 3900)
  glyph-copy   a near-copy of one (original = its index): each original gets 0–5, drawn with
               weights that favour a few typefaces heavily (a heavy-tailed count, so the pool is
               imbalanced the way scraped data is: popular images recur)
  digit        a digits train image upscaled to 32 px (off-domain, 1198)
  photo        a random 32-px crop of one of the photos at a random scale (off-domain, 3000)
  noise        Gaussian noise, a blurred noise field or a two-colour gradient (off-domain, 1000)

Near-copies are scripts/near_copies.py's, as in bench_curate_dedup.py (crop 80–95 %, JPEG 30–90,
brightness/contrast ±30 %, rotation ±8°, each with probability ½, at least one).
The seed set for retrieval is OUT/seed.txt: 1000 glyphs-dev train images, the originals'
own files (a curated set that a user already has; its images are also in the pool).
"""
import argparse
import json
import os

import numpy as np
from PIL import Image, ImageFilter

from near_copies import near_copy

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--datasets", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/datasets"))
args = parser.parse_args()
rs = np.random.RandomState(args.seed)
size = 32


def listing(folder):
    out = []
    for c in sorted(os.listdir(folder)):
        out += [os.path.join(folder, c, f) for f in sorted(os.listdir(os.path.join(folder, c)))]
    return out


items = []  # (image, kind, original)
glyphs = listing(os.path.join(args.datasets, "glyphs-dev/train"))
# Copies per original: 0–5, from a heavy-tailed weight per typeface family (the name up to the
# first '-'), so some families are copied five times over and most rarely.
families = sorted({os.path.basename(p).split("-")[0] for p in glyphs})
popularity = dict(zip(families, rs.pareto(1.2, len(families))))
top = np.quantile(list(popularity.values()), 0.9)
for i, path in enumerate(glyphs):
    img = Image.open(path).convert("RGB")
    items.append((img, "glyph", i))
    weight = min(1.0, popularity[os.path.basename(path).split("-")[0]] / top)
    for _ in range(rs.binomial(5, weight)):
        items.append((near_copy(img, rs), "glyph-copy", i))
for path in listing(os.path.join(args.datasets, "digits/train")):
    items.append((Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC), "digit", None))
photos = [Image.open(os.path.join(args.datasets, "photos", f)).convert("RGB")
          for f in sorted(os.listdir(os.path.join(args.datasets, "photos")))]
for _ in range(3000):
    photo = photos[rs.randint(len(photos))]
    w, h = photo.size
    side = int(min(w, h) * rs.uniform(0.05, 0.5))
    x, y = rs.randint(0, w - side + 1), rs.randint(0, h - side + 1)
    items.append((photo.crop((x, y, x + side, y + side)).resize((size, size), Image.BICUBIC), "photo", None))
for k in range(1000):
    kind = k % 3
    if kind == 0:
        a = rs.normal(128, rs.uniform(20, 80), (size, size, 3))
    elif kind == 1:
        a = rs.normal(0, 1, (size, size, 3))
        field = Image.fromarray(np.uint8(np.clip(128 + 60 * a, 0, 255))).filter(ImageFilter.GaussianBlur(rs.uniform(1, 4)))
        a = np.asarray(field, dtype=np.float64)
        a = (a - a.mean()) / (a.std() + 1e-6) * 60 + 128
    else:
        t = np.linspace(0, 1, size)[None, :, None] if rs.rand() < 0.5 else np.linspace(0, 1, size)[:, None, None]
        c0, c1 = rs.uniform(0, 255, 3), rs.uniform(0, 255, 3)
        a = c0 + (c1 - c0) * t + rs.normal(0, 8, (size, size, 3))
    items.append((Image.fromarray(np.uint8(np.clip(np.broadcast_to(a, (size, size, 3)), 0, 255))), "noise", None))

os.makedirs(os.path.join(args.out, "pool"), exist_ok=True)
order = rs.permutation(len(items))
with open(os.path.join(args.out, "manifest.jsonl"), "w") as manifest:
    for name, idx in enumerate(order):
        img, kind, original = items[idx]
        path = os.path.abspath(os.path.join(args.out, "pool", f"{name:06d}.png"))
        img.save(path)
        manifest.write(json.dumps({"path": path, "kind": kind, "original": original}) + "\n")
seeds = sorted(rs.choice(len(glyphs), 1000, replace=False))
with open(os.path.join(args.out, "seed.txt"), "w") as f:
    f.writelines(os.path.abspath(glyphs[i]) + "\n" for i in seeds)
counts = {}
for _, kind, _ in items:
    counts[kind] = counts.get(kind, 0) + 1
print(json.dumps({"images": len(items), **counts}))
