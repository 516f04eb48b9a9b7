#!/usr/bin/env python3
"""PyTorch peer of `dino bench ops`: the same cases, by the same names, in the same JSON schema.

Each case runs --warmup times untimed, then --repeats times; the median wall time is reported as
one JSON object per line: {"name", "threads", "ms", "gflops" | "gbps", "repeats"}.
Cases and their nominal work match Sources/DinoBench/OpsBenchmark.swift; keep the two in step.

Usage: python3 scripts/bench_ops_torch.py [--threads 1,2] [--repeats 10] [--warmup 2] [--filter TEXT]
Needs torch (CPU): python3 -m pip install torch
"""

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

ROWS = 64 * 65                 # batch 64 × 65 tokens of ViT-Tiny (patch 4 on 32×32, + class token)
ELEMENTWISE = (4096, 1024)     # 4M floats for softmax, layer norm, GELU
B, H, N, DH = 64, 3, 65, 64    # attention: batch, heads, tokens, head width


def randn(*shape, grad=False):
    return torch.randn(*shape, dtype=torch.float32, requires_grad=grad)


def linear_forward(rows, inputs, outputs):
    def prepare():
        x, w = randn(rows, inputs), randn(outputs, inputs)
        def body():
            with torch.no_grad():
                torch.matmul(x, w.t())           # Wᵀ a view, as in F.linear
        return body
    return ("flops", 2.0 * rows * inputs * outputs, prepare)


def linear_bias_forward(rows, inputs, outputs):
    def prepare():
        x, w, b = randn(rows, inputs), randn(outputs, inputs), randn(outputs)
        def body():
            with torch.no_grad():
                F.linear(x, w, b)                # the layer's forward: x·Wᵀ + b
        return body
    return ("flops", 2.0 * rows * inputs * outputs, prepare)


def matmul_dx():
    def prepare():
        dy, w = randn(ROWS, 576), randn(576, 192)
        def body():
            with torch.no_grad():
                torch.matmul(dy, w)
        return body
    return ("flops", 2.0 * ROWS * 576 * 192, prepare)


def matmul_dw():
    def prepare():
        dy, x = randn(ROWS, 576), randn(ROWS, 192)
        def body():
            with torch.no_grad():
                torch.matmul(dy.t(), x)          # dYᵀ a view, not a copy
        return body
    return ("flops", 2.0 * 576 * ROWS * 192, prepare)


def matmul_square():
    def prepare():
        a, b = randn(1024, 1024), randn(1024, 1024)
        def body():
            with torch.no_grad():
                torch.matmul(a, b)
        return body
    return ("flops", 2.0 * 1024 ** 3, prepare)


def attention():
    def prepare():
        q, k, v = (randn(B, H, N, DH, grad=True) for _ in range(3))
        dy = randn(B, H, N, DH)
        def body():
            q.grad = k.grad = v.grad = None
            F.scaled_dot_product_attention(q, k, v).backward(dy)
        return body
    # Forward QKᵀ and PV, backward four products of the same size: 12 B H N² Dh.
    return ("flops", 12.0 * B * H * N * N * DH, prepare)


def elementwise(fn, with_affine=False):
    def prepare():
        x, dy = randn(*ELEMENTWISE, grad=True), randn(*ELEMENTWISE)
        params = [randn(ELEMENTWISE[1], grad=True) for _ in range(2)] if with_affine else []
        def body():
            x.grad = None
            for p in params:
                p.grad = None
            fn(x, *params).backward(dy)
        return body
    # Forward reads x, writes y; backward reads x (or y) and dY, writes dX: five passes of 4 bytes.
    n = ELEMENTWISE[0] * ELEMENTWISE[1]
    return ("bytes", 5.0 * 4.0 * n, prepare)


CASES = {
    "matmul_qkv_fwd": linear_forward(ROWS, 192, 576),
    "matmul_fc1_fwd": linear_forward(ROWS, 192, 768),
    "matmul_fc2_fwd": linear_forward(ROWS, 768, 192),
    "linear_qkv_fwd": linear_bias_forward(ROWS, 192, 576),
    "linear_fc1_fwd": linear_bias_forward(ROWS, 192, 768),
    "linear_fc2_fwd": linear_bias_forward(ROWS, 768, 192),
    "matmul_qkv_dx": matmul_dx(),
    "matmul_qkv_dw": matmul_dw(),
    "matmul_1024": matmul_square(),
    "attention_fwd_bwd": attention(),
    "softmax_fwd_bwd": elementwise(lambda x: F.softmax(x, dim=-1)),
    "layernorm_fwd_bwd": elementwise(lambda x, w, b: F.layer_norm(x, (ELEMENTWISE[1],), w, b), True),
    "gelu_fwd_bwd": elementwise(F.gelu),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs (the median is reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument("--filter", default=None, help="only cases whose name contains this text")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    torch.manual_seed(0)
    print(f"torch {torch.__version__}; {torch.backends.cpu.get_cpu_capability()}; "
          f"MKL {torch.backends.mkl.is_available()}", file=sys.stderr)
    for name, (kind, work, prepare) in CASES.items():
        if args.filter and args.filter not in name:
            continue
        for t in threads:
            torch.set_num_threads(t)
            body = prepare()
            for _ in range(args.warmup):
                body()
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                body()
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            key = "gflops" if kind == "flops" else "gbps"
            print(json.dumps({"name": name, "threads": t, "ms": round(seconds * 1e3, 4),
                              key: round(work / seconds / 1e9, 3), "repeats": args.repeats}), flush=True)


if __name__ == "__main__":
    main()
