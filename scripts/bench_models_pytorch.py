#!/usr/bin/env python3
"""PyTorch eager peer of `dino bench models`: inference images/s of the official backbones.

Builds dinov2_vits14 and dinov3_vits16 with the official code (random weights; speed does
not depend on them), in eval mode under torch.inference_mode(), and times forward passes
of a batch of random 224-px images: `--warmup` untimed runs, then the median of `--repeats`.
DINOv2's position embedding (made for 518 px) is interpolated to the 16×16 grid on every
call, as in the official forward.

Usage: python3 scripts/bench_models_pytorch.py --dinov2 PATH --dinov3 PATH [--threads 2]
(PATH: checkouts of facebookresearch/dinov2 and dinov3). Prints one JSON object per model.
"""
import argparse
import json
import statistics
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dinov2", required=True)
    ap.add_argument("--dinov3", required=True)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    sys.path[:0] = [args.dinov2, args.dinov3]
    torch.set_num_threads(args.threads)
    from dinov2.hub.backbones import dinov2_vits14
    from dinov3.hub.backbones import dinov3_vits16

    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size)
    for name, build in [("dinov2_vits14", dinov2_vits14), ("dinov3_vits16", dinov3_vits16)]:
        model = build(pretrained=False).eval()
        times = []
        with torch.inference_mode():
            for i in range(args.warmup + args.repeats):
                start = time.perf_counter()
                model.forward_features(x)
                if i >= args.warmup:
                    times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(json.dumps({"model": name, "framework": f"pytorch {torch.__version__} eager", "threads": args.threads,
                          "batch_size": args.batch_size, "image_size": args.image_size,
                          "median_s": round(median, 4), "images_per_s": round(args.batch_size / median, 2)}))


if __name__ == "__main__":
    main()
