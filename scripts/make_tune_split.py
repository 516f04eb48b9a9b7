#!/usr/bin/env python3
"""A tuning split for low-shot fine-tuning (docs/finetune.md, "The low-shot recipe"): an ImageFolder
of symbolic links to PER_CLASS images per class of TRAIN that are NOT among the labelled images
of SUBSET (a `dino finetune` train_subset.txt; with seed 0 the 1 % subset lies inside the 10 %
one, so the 10 % file excludes both). Recipes are compared on OUT, never on the val split that
is reported.

    scripts/make_tune_split.py TRAIN SUBSET OUT [--per-class 10]

The images are the first PER_CLASS of each class folder in sorted order after the exclusion.
"""
import argparse
import os
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train")
    p.add_argument("subset")
    p.add_argument("out")
    p.add_argument("--per-class", type=int, default=10)
    a = p.parse_args()
    used = {os.path.realpath(line.strip()) for line in open(a.subset) if line.strip()}
    if not used:
        sys.exit(f"{a.subset}: no image paths")
    for cls in sorted(os.listdir(a.train)):
        folder = os.path.join(a.train, cls)
        if not os.path.isdir(folder):
            continue
        free = [f for f in sorted(os.listdir(folder)) if os.path.realpath(os.path.join(folder, f)) not in used]
        if len(free) < a.per_class:
            sys.exit(f"{folder}: only {len(free)} images outside {a.subset}, fewer than --per-class {a.per_class}")
        os.makedirs(os.path.join(a.out, cls), exist_ok=True)
        for f in free[: a.per_class]:
            os.symlink(os.path.realpath(os.path.join(folder, f)), os.path.join(a.out, cls, f))


if __name__ == "__main__":
    main()
