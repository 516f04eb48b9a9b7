#!/usr/bin/env python3
"""Golden fixtures for `precision: bf16` (DinoTensor's autocast), computed with PyTorch's CPU
autocast (`torch.autocast('cpu', dtype=torch.bfloat16)`).

Writes Tests/DinoTensorTests/Fixtures/bf16.safetensors (committed; the Swift tests never run
Python), in the OpFixture layout of make_fixtures.py (NAME.input0…, NAME.output, NAME.upstream,
NAME.grad0…):

  round_edges      float32 → bfloat16 → float32 with `.to(torch.bfloat16)` on edge values: ties
                   to even and to odd, values just above and below ties, ±0, ±inf, NaNs with
                   several payloads, subnormals (kept, not flushed), the largest finite floats
                   (which round to inf), plus 4096 random bit patterns. No gradient.
  linear           F.linear(x (7, 33), W (19, 33), b (19)) under autocast: output and the
                   gradients of x, W, b (Float32 leaves, so the gradients come back as float32).
  matmul           a (3, 6, 20) @ b (20, 9) under autocast, batched with broadcasting.
  block            a pre-norm transformer block (width 16, 2 heads, MLP 32) on x (2, 5, 16):
                     h = x + proj(sdpa(qkv(ln1(x)))); y = h + fc2(gelu(fc1(ln2(h))))
                   inputs: x, ln1.w, ln1.b, qkv.w, qkv.b, proj.w, proj.b, ln2.w, ln2.b,
                   fc1.w, fc1.b, fc2.w, fc2.b (that order); gradients of all of them.
  block_fp32       the same block without autocast (to show the bf16 tolerance separates them).

Requirements: python3 -m pip install torch numpy safetensors
Run from the repository root:  python3 scripts/make_bf16_fixtures.py
"""

import os
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join("Tests", "DinoTensorTests", "Fixtures", "bf16.safetensors")
torch.manual_seed(0)
data = {}


def bits(u):
    return torch.from_numpy(np.array(u, dtype=np.uint32).view(np.float32))


# Rounding edges, as uint32 bit patterns.
edges = [
    0x3F800000, 0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0x3F818001, 0x3F817FFF,  # ties
    0xBF808000, 0xBF818000, 0x00000000, 0x80000000, 0x7F800000, 0xFF800000,
    0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF, 0x7FBFFFFF,               # NaNs
    0x00000001, 0x80000001, 0x00008000, 0x00018000, 0x0000FFFF, 0x00010000, 0x007FFFFF,
    0x807FFFFF, 0x00800000, 0x007F8000,                                                  # subnormals
    0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0x7F7F0000,                         # near max
]
rng = np.random.default_rng(16)
rand = rng.integers(0, 2**32, size=4096, dtype=np.uint64).astype(np.uint32)
x = bits(np.concatenate([np.array(edges, dtype=np.uint32), rand]))
data["round_edges.input0"] = x
data["round_edges.output"] = x.to(torch.bfloat16).to(torch.float32)


def case(name, fn, inputs):
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fn(*leaves)
    out = out.float()
    up = torch.randn(out.shape)
    (out * up).sum().backward()
    for i, t in enumerate(inputs):
        data[f"{name}.input{i}"] = t
        data[f"{name}.grad{i}"] = leaves[i].grad.float()
    data[f"{name}.output"] = out.detach()
    data[f"{name}.upstream"] = up
    return up


case("linear", lambda x, w, b: F.linear(x, w, b), [torch.randn(7, 33), torch.randn(19, 33) * 0.2, torch.randn(19)])
case("matmul", lambda a, b: a @ b, [torch.randn(3, 6, 20), torch.randn(20, 9)])

D, H, M = 16, 2, 32


def block(x, l1w, l1b, qw, qb, pw, pb, l2w, l2b, f1w, f1b, f2w, f2b):
    B, N, _ = x.shape
    qkv = F.linear(F.layer_norm(x, (D,), l1w, l1b, 1e-6), qw, qb).reshape(B, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
    a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
    h = x + F.linear(a.transpose(1, 2).reshape(B, N, D), pw, pb)
    return h + F.linear(F.gelu(F.linear(F.layer_norm(h, (D,), l2w, l2b, 1e-6), f1w, f1b)), f2w, f2b)


params = [torch.randn(2, 5, D),
          1 + 0.1 * torch.randn(D), 0.1 * torch.randn(D), torch.randn(3 * D, D) * D**-0.5, 0.1 * torch.randn(3 * D),
          torch.randn(D, D) * D**-0.5, 0.1 * torch.randn(D),
          1 + 0.1 * torch.randn(D), 0.1 * torch.randn(D), torch.randn(M, D) * D**-0.5, 0.1 * torch.randn(M),
          torch.randn(D, M) * M**-0.5, 0.1 * torch.randn(D)]
up = case("block", block, params)

leaves = [t.clone().requires_grad_(True) for t in params]
out = block(*leaves)
(out * up).sum().backward()
data["block_fp32.output"] = out.detach()
for i, t in enumerate(params):
    data[f"block_fp32.input{i}"] = t.clone()
    data[f"block_fp32.grad{i}"] = leaves[i].grad
data["block_fp32.upstream"] = up.clone()

save_file({k: v.contiguous() for k, v in data.items()}, OUT,
          metadata={"torch": torch.__version__, "script": "scripts/make_bf16_fixtures.py"})
print("wrote", OUT, len(data), "tensors; torch", torch.__version__)
