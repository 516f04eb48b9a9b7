#!/usr/bin/env python3
"""Joins JSON-line results of `dino bench ops --json` and its PyTorch peer into one ratio table.

Usage: bench_ops_join.py SWIFT.jsonl TORCH.jsonl [TORCH_UNSET.jsonl]
Each file holds one object per line with "name", "threads", "ms" and "gflops" or "gbps"
(other lines are skipped). The ratio is swift rate / torch rate: above 1, swift-dino is faster.
The third file, when given, is the peer run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.
"""

import json
import sys


def load(path):
    rows, order = {}, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            key = (r["name"], r["threads"])
            rows[key] = r
            order.append(key)
    return rows, order


def rate(r):
    return r.get("gflops", r.get("gbps")) if r else None


def cell(x, width, digits=1):
    return (f"{x:.{digits}f}" if x is not None else "—").rjust(width)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    swift, order = load(sys.argv[1])
    torch, torch_order = load(sys.argv[2])
    unset = load(sys.argv[3])[0] if len(sys.argv) == 4 else None
    for key in torch_order:              # cases swift-dino lacks still show the torch figure
        if key not in swift:
            order.append(key)
    width = max([len(k[0]) for k in order] + [4])
    head = f"{'name'.ljust(width)}  thr  unit     swift ms  swift rate  torch rate   ratio"
    if unset is not None:
        head += "  torch* rate  ratio*"
    print(head)
    for key in order:
        s, t = swift.get(key), torch.get(key)
        unit = "GFLOP/s" if "gflops" in (s or t or {}) else "GB/s"
        ratio = rate(s) / rate(t) if s and t and rate(t) else None
        line = (f"{key[0].ljust(width)}  {key[1]:>3}  {unit:<7}  {cell(s and s['ms'], 8, 2)}"
                f"  {cell(rate(s), 10)}  {cell(rate(t), 10)}  {cell(ratio, 6, 2)}")
        if unset is not None:
            u = unset.get(key)
            ratio_u = rate(s) / rate(u) if s and u and rate(u) else None
            line += f"  {cell(rate(u), 11)}  {cell(ratio_u, 6, 2)}"
        print(line)
    print("\nratio = swift-dino rate / torch rate (above 1: swift-dino faster); medians of repeats.")
    if unset is not None:
        print("torch* = the PyTorch peer run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.")


if __name__ == "__main__":
    main()
