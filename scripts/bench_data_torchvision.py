#!/usr/bin/env python3
"""Peer of `dino bench data`: torchvision's DataLoader with DINOv2's multi-crop transforms.

Same work as the Swift benchmark: decode with PIL, DINOv2's DataAugmentationDINO as its
official code runs it (2 global + N local views, bicubic RandomResizedCrop, flip, colour
jitter p 0.8, grayscale p 0.2, GaussianBlur(kernel 9) with the 1 - p wrapper, solarize p 0.2
on the second global view, ToTensor + ImageNet Normalize), views stacked view-major as
DINOv2's collate does (masks left out on both sides). Images/s over `--batches` batches
after one warm-up batch (which also starts the worker processes).

    pip install "torchvision==0.28.*" --no-deps pillow     # see make_vision_fixtures.py
    python3 scripts/bench_data_torchvision.py --make-jpegs /tmp/jpeg500 --count 300
    python3 scripts/bench_data_torchvision.py --data /tmp/jpeg500 --workers 1,2
    python3 scripts/bench_data_torchvision.py --data ../shared/datasets/glyphs-dev-wild/train \\
        --global-size 32 --local-size 16 --local-count 6 --workers 1,2
"""

import argparse
import os
import time

import torch
import torch.library

_register_fake = torch.library.register_fake
torch.library.register_fake = lambda *a, **k: (lambda f: f)
import torchvision  # noqa: E402,F401
torch.library.register_fake = _register_fake
from PIL import Image  # noqa: E402
from torchvision import transforms  # noqa: E402

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm")


class GaussianBlur(transforms.RandomApply):
    """DINOv2's dinov2/data/transforms.py GaussianBlur: applied with probability 1 - p."""

    def __init__(self, *, p=0.5, radius_min=0.1, radius_max=2.0):
        super().__init__([transforms.GaussianBlur(kernel_size=9, sigma=(radius_min, radius_max))], p=1 - p)


class DataAugmentationDINOv2:
    """dinov2/data/augmentations.py DataAugmentationDINO with its default scales."""

    def __init__(self, global_size, local_size, local_count):
        bicubic = transforms.InterpolationMode.BICUBIC
        self.geometric_global = transforms.Compose([
            transforms.RandomResizedCrop(global_size, scale=(0.32, 1.0), interpolation=bicubic),
            transforms.RandomHorizontalFlip(p=0.5)])
        self.geometric_local = transforms.Compose([
            transforms.RandomResizedCrop(local_size, scale=(0.05, 0.32), interpolation=bicubic),
            transforms.RandomHorizontalFlip(p=0.5)])
        jitter = transforms.Compose([
            transforms.RandomApply([transforms.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)], p=0.8),
            transforms.RandomGrayscale(p=0.2)])
        normalize = transforms.Compose([transforms.ToTensor(),
                                        transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
        self.global1 = transforms.Compose([jitter, GaussianBlur(p=1.0), normalize])
        self.global2 = transforms.Compose([jitter, GaussianBlur(p=0.1), transforms.RandomSolarize(128, p=0.2), normalize])
        self.local = transforms.Compose([jitter, GaussianBlur(p=0.5), normalize])
        self.local_count = local_count

    def __call__(self, image):
        g = [self.global1(self.geometric_global(image)), self.global2(self.geometric_global(image))]
        return g, [self.local(self.geometric_local(image)) for _ in range(self.local_count)]


class Files(torch.utils.data.Dataset):
    def __init__(self, root, transform):
        self.paths = sorted(
            os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
            if f.lower().endswith(EXTENSIONS) and not f.startswith("."))
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            return self.transform(Image.open(f).convert("RGB"))


def collate(samples):
    """View-major stacking, as dinov2/data/collate.py does."""
    n_global, n_local = len(samples[0][0]), len(samples[0][1])
    g = torch.stack([s[0][i] for i in range(n_global) for s in samples])
    loc = torch.stack([s[1][i] for i in range(n_local) for s in samples]) if n_local else None
    return g, loc


def make_jpegs(out, count, photos):
    """`count` JPEGs of 500×375 cut from the photos at random places and scales."""
    import random
    rng = random.Random(0)
    os.makedirs(out, exist_ok=True)
    sources = [Image.open(os.path.join(photos, f)).convert("RGB") for f in sorted(os.listdir(photos))]
    for i in range(count):
        src = sources[i % len(sources)]
        w = rng.randint(min(src.width, 200), src.width)
        h = min(src.height, int(w * 0.75))
        w = int(h / 0.75)
        left, top = rng.randint(0, src.width - w), rng.randint(0, src.height - h)
        img = src.crop((left, top, left + w, top + h)).resize((500, 375), Image.BICUBIC)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        img.save(os.path.join(out, f"img{i:04d}.jpg"), quality=90)
    print(f"wrote {count} JPEGs of 500×375 to {out}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data")
    p.add_argument("--global-size", type=int, default=224)
    p.add_argument("--local-size", type=int, default=96)
    p.add_argument("--local-count", type=int, default=8)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--warm-cache", action="store_true", help="read every file once before timing")
    p.add_argument("--make-jpegs")
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--photos", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "..", "..", "shared", "datasets", "photos"))
    args = p.parse_args()
    if args.make_jpegs:
        make_jpegs(args.make_jpegs, args.count, args.photos)
        return
    torch.set_num_threads(1)
    ds = Files(args.data, DataAugmentationDINOv2(args.global_size, args.local_size, args.local_count))
    if args.warm_cache:
        for path in ds.paths:
            with open(path, "rb") as f:
                f.read()
    print(f"data: {args.data} ({len(ds)} images), torchvision {torchvision.__version__}, "
          f"2×{args.global_size} + {args.local_count}×{args.local_size}, batch {args.batch_size}")
    for w in [int(x) for x in args.workers.split(",")]:
        loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                             num_workers=w, collate_fn=collate, prefetch_factor=2 if w else None)
        it = iter(loader)
        next(it)
        start, images = time.perf_counter(), 0
        for _ in range(args.batches):
            g, _ = next(it)
            images += g.shape[0] // 2
        seconds = time.perf_counter() - start
        print(f"workers {w}: {images / seconds:8.1f} images/s  ({images} images in {seconds:.2f} s)")
        del it


if __name__ == "__main__":
    main()
