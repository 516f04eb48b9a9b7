#!/usr/bin/env python3
"""PyTorch and ONNX Runtime peers of `dino bench models`: inference images/s of the official backbones.

Builds dinov2_vits14 and dinov3_vits16 (or `--models`, e.g. dinov3_convnext_tiny) with the
official code (random weights; speed does not depend on them), in eval mode under torch.inference_mode(), and times forward passes
of a batch of random 224-px images: `--warmup` untimed runs, then the median of `--repeats`.
DINOv2's position embedding (made for 518 px) is interpolated to the 16×16 grid on every
call, as in the official forward.

`--onnx DIR` adds ONNX Runtime: the same module's `forward_features` (class token and patch
tokens, normalised) exported to DIR/NAME-bBATCH.onnx with `torch.onnx.export` (the TorchScript
exporter, opset 17, static shapes: the position-embedding resize is folded for 224 px), then
run by an `onnxruntime.InferenceSession` on the CPU execution provider with
`intra_op_num_threads = --threads`, `inter_op_num_threads = 1`, sequential execution and
graph optimisation level ORT_ENABLE_ALL (all three printed with the result). Before timing,
its outputs are checked against PyTorch's on the same batch (max |Δ| printed).

Usage: python3 scripts/bench_models_pytorch.py --dinov2 PATH --dinov3 PATH [--threads 2]
       [--batch-size 8] [--onnx DIR] [--frameworks pytorch,onnxruntime]
(PATH: checkouts of facebookresearch/dinov2 and dinov3). Prints one JSON object per model and
framework.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch


class Features(torch.nn.Module):
    """forward_features' normalised class and patch tokens as a tuple (ONNX has no dicts)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model.forward_features(x)
        return out["x_norm_clstoken"], out["x_norm_patchtokens"]


def timed(run, warmup, repeats):
    times = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        run()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dinov2", required=True)
    ap.add_argument("--dinov3", required=True)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--onnx", default=None, metavar="DIR", help="also time ONNX Runtime on models exported to DIR")
    ap.add_argument("--models", default="dinov2_vits14,dinov3_vits16",
                    help="comma-separated: dinov2_vits14, dinov3_vits16, dinov3_convnext_tiny|small|base|large")
    ap.add_argument("--frameworks", default=None,
                    help="comma-separated subset of pytorch,onnxruntime (default: pytorch, and onnxruntime with --onnx)")
    args = ap.parse_args()
    frameworks = (args.frameworks or ("pytorch,onnxruntime" if args.onnx else "pytorch")).split(",")
    sys.path[:0] = [args.dinov2, args.dinov3]
    torch.set_num_threads(args.threads)
    from dinov2.hub import backbones as dinov2_hub
    from dinov3.hub import backbones as dinov3_hub

    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size)
    common = {"threads": args.threads, "batch_size": args.batch_size, "image_size": args.image_size}
    for name in args.models.split(","):
        build = getattr(dinov2_hub if name.startswith("dinov2_") else dinov3_hub, name)
        # Seeded: the ONNX file is exported once and reused by later processes (rounds), whose
        # PyTorch model must hold the same weights for the output check to mean anything.
        torch.manual_seed(0)
        model = Features(build(pretrained=False).eval())
        if "pytorch" in frameworks:
            with torch.inference_mode():
                median = timed(lambda: model(x), args.warmup, args.repeats)
            print(json.dumps({"model": name, "framework": f"pytorch {torch.__version__} eager", **common,
                              "median_s": round(median, 4), "images_per_s": round(args.batch_size / median, 2)}), flush=True)
        if "onnxruntime" in frameworks:
            import numpy as np
            import onnxruntime as ort

            os.makedirs(args.onnx, exist_ok=True)
            path = os.path.join(args.onnx, f"{name}-b{args.batch_size}-{args.image_size}.onnx")
            if not os.path.exists(path):
                with torch.no_grad():
                    torch.onnx.export(model, (x,), path, input_names=["images"], output_names=["cls", "patches"],
                                      opset_version=17, dynamo=False)
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            feed = {"images": x.numpy()}
            with torch.inference_mode():
                reference = [t.numpy() for t in model(x)]
            diff = max(float(np.abs(a - b).max()) for a, b in zip(session.run(None, feed), reference))
            median = timed(lambda: session.run(None, feed), args.warmup, args.repeats)
            print(json.dumps({"model": name, "framework": f"onnxruntime {ort.__version__}", **common,
                              "intra_op_threads": args.threads, "inter_op_threads": 1, "graph_optimization": "ORT_ENABLE_ALL",
                              "max_abs_diff_vs_pytorch": diff,
                              "median_s": round(median, 4), "images_per_s": round(args.batch_size / median, 2)}), flush=True)


if __name__ == "__main__":
    main()
