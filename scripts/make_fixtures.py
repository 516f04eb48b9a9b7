#!/usr/bin/env python3
"""Golden fixtures for DinoTensor's tests, computed with PyTorch.

Writes two files into Tests/DinoTensorTests/Fixtures/ (committed; the Swift tests never run
Python):

  ops.safetensors     forward and backward of every op in the op API (core, mathops,
                      indexops, fused), one case per op variant. For a case named `NAME`:
                        NAME.input0, NAME.input1, ...   inputs (float32 unless the op needs
                                                        float64), in the order the Swift
                                                        closure takes them
                        NAME.index0, ...                integer arguments (indices, labels),
                                                        stored as float32 tensors
                        NAME.output                     the forward result (NAME.output0, ...
                                                        when the op returns several tensors)
                        NAME.upstream                   a fixed random gradient of the output
                                                        (NAME.upstream0, ... for several)
                        NAME.grad0, NAME.grad1, ...     d(sum(output * upstream)) / d input_i,
                                                        present exactly for the inputs that
                                                        take a gradient
                      Non-tensor parameters (axis, p, value, widths, the view applied to an
                      input to make it non-contiguous) are part of the case name and are
                      spelled out in the Swift table of Tests/DinoTensorTests/FixtureTests.swift.
                      Non-differentiable ops (comparisons, argmax) have no upstream or grads.
  dtypes.safetensors  tensors of every dtype the reader decodes (F16, BF16, F32, F64, integers,
                      BOOL) with edge values: signed zeros, subnormals, extremes, inf, NaN;
                      plus a __metadata__ map. Written by the `safetensors` package itself, so
                      the reader is tested against the reference writer.

Requirements (CPU builds are enough):
    pip install torch --index-url https://download.pytorch.org/whl/cpu
    pip install safetensors
Made with torch 2.13 and safetensors 0.8. Run from the repository root:
    python3 scripts/make_fixtures.py
Every case draws its inputs from its own generator, seeded with crc32 of its name, so the
files are reproducible and adding a case changes no other case.
"""

import math
import os
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "DinoTensorTests", "Fixtures"))

tensors = {}
case_names = []


class Draw:
    """Reproducible random inputs for one case."""

    def __init__(self, name):
        self.g = torch.Generator().manual_seed(zlib.crc32(name.encode()))

    def normal(self, *shape, scale=1.0):
        return torch.randn(shape, generator=self.g) * scale

    def uniform(self, *shape, low=-1.0, high=1.0):
        return torch.rand(shape, generator=self.g) * (high - low) + low

    def positive(self, *shape, low=0.5, high=2.0):
        return self.uniform(*shape, low=low, high=high)

    def away_from_zero(self, *shape, low=0.5, high=2.0):
        sign = torch.where(torch.rand(shape, generator=self.g) < 0.5, -1.0, 1.0)
        return sign * self.uniform(*shape, low=low, high=high)

    def integers(self, low, high, *shape):
        return torch.randint(low, high, shape, generator=self.g)

    def mask(self, *shape):
        return (torch.rand(shape, generator=self.g) < 0.5).float()


def case(name, inputs, fn, grads=None, indices=(), differentiable=True):
    """Runs `fn(*inputs, *indices)` forward and backward and stores the case.

    inputs:  float tensors; grads[i] says whether input i takes a gradient (default: all,
             when the op is differentiable).
    indices: integer tensors passed after the inputs (stored as float32 `indexK`).
    """
    assert "." not in name and name not in case_names, name
    case_names.append(name)
    if grads is None:
        grads = [differentiable] * len(inputs)
    xs = [x.detach().clone().requires_grad_(bool(g)) for x, g in zip(inputs, grads)]
    out = fn(*xs, *indices)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    for i, x in enumerate(xs):
        tensors[f"{name}.input{i}"] = x.detach().clone()
    for i, ix in enumerate(indices):
        tensors[f"{name}.index{i}"] = ix.detach().to(torch.float32).clone()
    single = len(outs) == 1 and not isinstance(out, (list, tuple))
    for j, o in enumerate(outs):
        key = f"{name}.output" if single else f"{name}.output{j}"
        o = o.detach()
        tensors[key] = (o.to(torch.float32) if not o.is_floating_point() else o).contiguous().clone()
    if not any(grads):
        return
    gen = Draw(name + "/upstream")
    ups = [gen.normal(*o.shape).to(o.dtype) for o in outs]
    torch.autograd.backward(outs, ups)
    for j, u in enumerate(ups):
        tensors[f"{name}.upstream" if single else f"{name}.upstream{j}"] = u.clone()
    for i, x in enumerate(xs):
        if grads[i]:
            g = x.grad if x.grad is not None else torch.zeros_like(x)
            tensors[f"{name}.grad{i}"] = g.detach().clone()


def core():
    d = Draw("add")
    case("add", [d.normal(2, 3), d.normal(2, 3)], lambda a, b: a + b)
    d = Draw("add_broadcast")
    case("add_broadcast", [d.normal(2, 3, 4), d.normal(3, 1)], lambda a, b: a + b)
    d = Draw("add_broadcast_both")
    case("add_broadcast_both", [d.normal(2, 1, 4), d.normal(3, 1)], lambda a, b: a + b)
    d = Draw("add_noncontig")
    case("add_noncontig", [d.normal(4, 3), d.normal(3, 4)], lambda a, b: a.t() + b)
    d = Draw("sub_broadcast")
    case("sub_broadcast", [d.normal(3, 1), d.normal(2, 3, 4)], lambda a, b: a - b)
    d = Draw("mul_broadcast")
    case("mul_broadcast", [d.normal(2, 3, 4), d.normal(4)], lambda a, b: a * b)
    d = Draw("div_broadcast")
    case("div_broadcast", [d.normal(2, 3, 4), d.away_from_zero(3, 1)], lambda a, b: a / b)
    d = Draw("div_noncontig")
    case("div_noncontig", [d.normal(3, 2, 4), d.away_from_zero(2, 3)],
         lambda a, b: a.permute(1, 0, 2) / b.unsqueeze(2))
    case("add_scalar", [Draw("add_scalar").normal(2, 3)], lambda x: x + 1.5)
    case("sub_scalar", [Draw("sub_scalar").normal(2, 3)], lambda x: x - 0.75)
    case("mul_scalar", [Draw("mul_scalar").normal(2, 3)], lambda x: x * -2.5)
    case("div_scalar", [Draw("div_scalar").normal(2, 3)], lambda x: x / 4.0)
    case("rsub_scalar", [Draw("rsub_scalar").normal(2, 3)], lambda x: 2.0 - x)
    case("rdiv_scalar", [Draw("rdiv_scalar").away_from_zero(2, 3)], lambda x: 3.0 / x)
    case("neg", [Draw("neg").normal(2, 3)], lambda x: -x)

    case("sum_all", [Draw("sum_all").normal(2, 3, 4)], lambda x: x.sum())
    case("sum_axis1", [Draw("sum_axis1").normal(2, 3, 4)], lambda x: x.sum(dim=1))
    case("sum_axes0_2_keepdims", [Draw("sum_axes0_2_keepdims").normal(2, 3, 4)],
         lambda x: x.sum(dim=(0, 2), keepdim=True))
    case("sum_axis_neg1", [Draw("sum_axis_neg1").normal(2, 3, 4)], lambda x: x.sum(dim=-1))
    case("sum_noncontig", [Draw("sum_noncontig").normal(2, 3, 4)], lambda x: x.permute(2, 0, 1).sum(dim=1))
    case("sum_to_shape", [Draw("sum_to_shape").normal(2, 3, 4)], lambda x: x.sum_to_size(3, 1))
    case("mean_all", [Draw("mean_all").normal(2, 3, 4)], lambda x: x.mean())
    case("mean_axes0_2", [Draw("mean_axes0_2").normal(2, 3, 4)], lambda x: x.mean(dim=(0, 2)))
    case("mean_axis1_keepdims", [Draw("mean_axis1_keepdims").normal(2, 3, 4)],
         lambda x: x.mean(dim=1, keepdim=True))

    d = Draw("matmul_2d")
    case("matmul_2d", [d.normal(3, 4), d.normal(4, 5)], lambda a, b: a @ b)
    d = Draw("matmul_batched")
    case("matmul_batched", [d.normal(2, 3, 4), d.normal(2, 4, 5)], lambda a, b: a @ b)
    d = Draw("matmul_broadcast")
    case("matmul_broadcast", [d.normal(2, 1, 3, 4), d.normal(3, 4, 5)], lambda a, b: a @ b)
    d = Draw("matmul_batch_2d")
    case("matmul_batch_2d", [d.normal(2, 3, 4), d.normal(4, 5)], lambda a, b: a @ b)
    d = Draw("matmul_transposed_a")
    case("matmul_transposed_a", [d.normal(4, 3), d.normal(4, 5)], lambda a, b: a.t() @ b)
    d = Draw("matmul_transposed_b")
    case("matmul_transposed_b", [d.normal(3, 4), d.normal(5, 4)], lambda a, b: a @ b.t())
    d = Draw("matmul_batched_transposed")
    case("matmul_batched_transposed", [d.normal(2, 3, 4), d.normal(2, 5, 4)],
         lambda a, b: a @ b.transpose(-2, -1))
    d = Draw("linear_bias")
    case("linear_bias", [d.normal(2, 3, 4), d.normal(5, 4), d.normal(5)], lambda x, w, b: F.linear(x, w, b))
    d = Draw("linear_nobias")
    case("linear_nobias", [d.normal(3, 4), d.normal(5, 4)], lambda x, w: F.linear(x, w))
    d = Draw("linear_noncontig")
    case("linear_noncontig", [d.normal(4, 3), d.normal(5, 4), d.normal(5)], lambda x, w, b: F.linear(x.t(), w, b))

    case("reshape", [Draw("reshape").normal(2, 3, 4)], lambda x: x.reshape(4, -1))
    case("reshape_noncontig", [Draw("reshape_noncontig").normal(2, 3, 4)], lambda x: x.transpose(0, 2).reshape(6, 4))
    case("flatten_1_2", [Draw("flatten_1_2").normal(2, 3, 4)], lambda x: x.flatten(1, 2))
    case("flatten_all", [Draw("flatten_all").normal(2, 3, 4)], lambda x: x.flatten())
    case("permute", [Draw("permute").normal(2, 3, 4)], lambda x: x.permute(2, 0, 1))
    case("transposed_0_2", [Draw("transposed_0_2").normal(2, 3, 4)], lambda x: x.transpose(0, 2))
    case("slice_axis1", [Draw("slice_axis1").normal(2, 5, 3)], lambda x: x[:, 1:4])
    case("slice_step2", [Draw("slice_step2").normal(2, 5, 3)], lambda x: x[:, 0:5:2])
    case("slice_negative", [Draw("slice_negative").normal(2, 5, 3)], lambda x: x[..., -2:])
    case("expand", [Draw("expand").normal(3, 1)], lambda x: x.expand(2, 3, 4))
    case("unsqueeze", [Draw("unsqueeze").normal(2, 3)], lambda x: x.unsqueeze(1))
    case("squeeze", [Draw("squeeze").normal(2, 1, 3)], lambda x: x.squeeze(1))
    case("contiguous", [Draw("contiguous").normal(3, 4)], lambda x: x.t().contiguous())
    case("to_float64", [Draw("to_float64").normal(2, 3)], lambda x: x.double())
    case("to_float32", [Draw("to_float32").normal(2, 3).double()], lambda x: x.float())


def mathops():
    case("exp", [Draw("exp").normal(3, 4)], torch.exp)
    case("log", [Draw("log").positive(3, 4, low=0.1, high=3.0)], torch.log)
    case("sqrt", [Draw("sqrt").positive(3, 4, low=0.1, high=3.0)], torch.sqrt)
    case("rsqrt", [Draw("rsqrt").positive(3, 4, low=0.1, high=3.0)], torch.rsqrt)
    case("abs", [Draw("abs").away_from_zero(3, 4, low=0.05, high=2.0)], torch.abs)
    case("pow_scalar2", [Draw("pow_scalar2").normal(3, 4)], lambda x: x.pow(2))
    case("pow_scalar3", [Draw("pow_scalar3").normal(3, 4)], lambda x: x.pow(3))
    case("pow_scalar_half", [Draw("pow_scalar_half").positive(3, 4)], lambda x: x.pow(0.5))
    case("pow_scalar_neg1_5", [Draw("pow_scalar_neg1_5").positive(3, 4)], lambda x: x.pow(-1.5))
    d = Draw("pow_tensor")
    case("pow_tensor", [d.positive(2, 3), d.normal(3)], lambda x, e: x.pow(e))
    case("clamp_min_max", [Draw("clamp_min_max").normal(3, 4)], lambda x: x.clamp(min=-0.5, max=0.5))
    case("clamp_min", [Draw("clamp_min").normal(3, 4)], lambda x: x.clamp(min=0.1))
    case("clamp_max", [Draw("clamp_max").normal(3, 4)], lambda x: x.clamp(max=-0.2))
    case("tanh", [Draw("tanh").normal(3, 4, scale=2.0)], torch.tanh)
    case("sigmoid", [Draw("sigmoid").normal(3, 4, scale=3.0)], torch.sigmoid)
    case("relu", [Draw("relu").normal(3, 4)], torch.relu)
    case("silu", [Draw("silu").normal(3, 4, scale=3.0)], F.silu)
    case("unary_noncontig", [Draw("unary_noncontig").normal(4, 3)], lambda x: torch.exp(x.t()))

    case("max_axis1", [Draw("max_axis1").normal(3, 4, 5)], lambda x: x.amax(dim=1))
    case("max_axis0_keepdims", [Draw("max_axis0_keepdims").normal(3, 4)], lambda x: x.amax(dim=0, keepdim=True))
    case("max_axis_neg1", [Draw("max_axis_neg1").normal(3, 4)], lambda x: x.amax(dim=-1))
    case("min_axis1", [Draw("min_axis1").normal(3, 4, 5)], lambda x: x.amin(dim=1))
    case("min_axis2_keepdims", [Draw("min_axis2_keepdims").normal(3, 4, 5)], lambda x: x.amin(dim=2, keepdim=True))
    case("max_all", [Draw("max_all").normal(3, 4)], lambda x: x.max())
    case("min_all", [Draw("min_all").normal(3, 4)], lambda x: x.min())
    case("argmax_axis1", [Draw("argmax_axis1").normal(3, 4, 5)], lambda x: x.argmax(dim=1), differentiable=False)
    case("argmax_axis0_keepdims", [Draw("argmax_axis0_keepdims").normal(3, 4)],
         lambda x: x.argmax(dim=0, keepdim=True), differentiable=False)
    case("variance_all", [Draw("variance_all").normal(3, 4)], lambda x: x.var())
    case("variance_axis1_correction0", [Draw("variance_axis1_correction0").normal(3, 4, 5)],
         lambda x: x.var(dim=1, correction=0))
    case("variance_axes0_2_keepdims", [Draw("variance_axes0_2_keepdims").normal(3, 4, 5)],
         lambda x: x.var(dim=(0, 2), keepdim=True))

    # Comparisons: small integers so that equal values occur; tensor forms broadcast.
    compare = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge}
    for op, fn in compare.items():
        d = Draw(f"{op}_tensor")
        case(f"{op}_tensor", [d.integers(-1, 2, 3, 4).float(), d.integers(-1, 2, 4).float()],
             lambda a, b, fn=fn: fn(a, b).float(), differentiable=False)
        d = Draw(f"{op}_scalar")
        case(f"{op}_scalar", [d.integers(-1, 2, 3, 4).float()], lambda a, fn=fn: fn(a, 0.0).float(),
             differentiable=False)

    d = Draw("where")
    case("where", [d.mask(3, 1), d.normal(3, 4), d.normal(4)],
         lambda c, a, b: torch.where(c.bool(), a, b), grads=[False, True, True])
    d = Draw("where_same_shape")
    case("where_same_shape", [d.mask(3, 4), d.normal(3, 4), d.normal(3, 4)],
         lambda c, a, b: torch.where(c.bool(), a, b), grads=[False, True, True])
    case("l2normalize_lastaxis", [Draw("l2normalize_lastaxis").normal(3, 5)], lambda x: F.normalize(x, dim=-1))
    case("l2normalize_axis0", [Draw("l2normalize_axis0").normal(4, 3)], lambda x: F.normalize(x, dim=0))
    # One row with norm below eps: the output is x / eps there.
    x = Draw("l2normalize_tiny_row").normal(3, 4)
    x[1] *= 1e-14
    case("l2normalize_tiny_row", [x], lambda x: F.normalize(x, dim=-1))


def indexops():
    d = Draw("concat_axis0")
    case("concat_axis0", [d.normal(2, 3), d.normal(1, 3), d.normal(3, 3)], lambda a, b, c: torch.cat([a, b, c], 0))
    d = Draw("concat_axis1")
    case("concat_axis1", [d.normal(2, 3), d.normal(2, 1)], lambda a, b: torch.cat([a, b], 1))
    d = Draw("concat_noncontig")
    case("concat_noncontig", [d.normal(3, 2), d.normal(2, 4)], lambda a, b: torch.cat([a.t(), b], 1))
    d = Draw("stack_axis0")
    case("stack_axis0", [d.normal(2, 3), d.normal(2, 3), d.normal(2, 3)], lambda a, b, c: torch.stack([a, b, c], 0))
    d = Draw("stack_axis2")
    case("stack_axis2", [d.normal(2, 3), d.normal(2, 3)], lambda a, b: torch.stack([a, b], 2))
    case("split_axis1", [Draw("split_axis1").normal(2, 6, 3)], lambda x: list(torch.split(x, [1, 2, 3], dim=1)))
    case("chunk3_axis0", [Draw("chunk3_axis0").normal(7, 2)], lambda x: list(torch.chunk(x, 3, dim=0)))
    case("chunk2_axis1", [Draw("chunk2_axis1").normal(2, 5)], lambda x: list(torch.chunk(x, 2, dim=1)))
    case("index_select_axis1", [Draw("index_select_axis1").normal(3, 5)],
         lambda x, i: torch.index_select(x, 1, i), indices=[torch.tensor([4, 0, 4, 2])])
    case("index_select_axis0", [Draw("index_select_axis0").normal(4, 3)],
         lambda x, i: torch.index_select(x, 0, i), indices=[torch.tensor([1, 1, 3])])
    d = Draw("gather_axis1")
    case("gather_axis1", [d.normal(3, 4)], lambda x, i: torch.gather(x, 1, i), indices=[d.integers(0, 4, 3, 2)])
    d = Draw("gather_axis0")
    case("gather_axis0", [d.normal(3, 4)], lambda x, i: torch.gather(x, 0, i), indices=[d.integers(0, 3, 2, 4)])
    d = Draw("scatter_add_axis1")
    case("scatter_add_axis1", [d.normal(3, 5), d.normal(3, 4)],
         lambda x, s, i: torch.scatter_add(x, 1, i, s), indices=[d.integers(0, 5, 3, 4)])
    d = Draw("scatter_add_axis0")
    case("scatter_add_axis0", [d.normal(4, 3), d.normal(5, 3)],
         lambda x, s, i: torch.scatter_add(x, 0, i, s), indices=[d.integers(0, 4, 5, 3)])
    d = Draw("masked_fill")
    case("masked_fill", [d.normal(3, 4), d.mask(1, 4)],
         lambda x, m: x.masked_fill(m.bool(), -2.5), grads=[True, False])
    d = Draw("masked_fill_same_shape")
    case("masked_fill_same_shape", [d.normal(3, 4), d.mask(3, 4)],
         lambda x, m: x.masked_fill(m.bool(), 0.0), grads=[True, False])
    d = Draw("masked_select")
    case("masked_select", [d.normal(3, 4), d.mask(3, 4)],
         lambda x, m: torch.masked_select(x, m.bool()), grads=[True, False])
    # Swift widths are (before, after) per dimension from the first; F.pad lists from the last.
    case("pad_2d", [Draw("pad_2d").normal(2, 3)], lambda x: F.pad(x, (0, 3, 1, 2)))
    case("pad_3d_value", [Draw("pad_3d_value").normal(2, 3, 2)], lambda x: F.pad(x, (1, 0, 2, 1, 0, 0), value=1.5))
    case("dropout_eval", [Draw("dropout_eval").normal(3, 4)], lambda x: F.dropout(x, 0.3, training=False))
    case("dropout_p0", [Draw("dropout_p0").normal(3, 4)], lambda x: F.dropout(x, 0.0, training=True))


def fused():
    case("softmax_axis1", [Draw("softmax_axis1").normal(3, 5)], lambda x: torch.softmax(x, 1))
    case("softmax_axis0", [Draw("softmax_axis0").normal(4, 3)], lambda x: torch.softmax(x, 0))
    case("softmax_3d_axis1", [Draw("softmax_3d_axis1").normal(2, 4, 3)], lambda x: torch.softmax(x, 1))
    case("softmax_noncontig", [Draw("softmax_noncontig").normal(5, 3)], lambda x: torch.softmax(x.t(), -1))
    case("softmax_large", [Draw("softmax_large").normal(3, 5, scale=300.0)], lambda x: torch.softmax(x, -1))
    case("log_softmax_axis1", [Draw("log_softmax_axis1").normal(3, 5)], lambda x: torch.log_softmax(x, 1))
    case("log_softmax_axis0", [Draw("log_softmax_axis0").normal(4, 3)], lambda x: torch.log_softmax(x, 0))
    case("log_softmax_large", [Draw("log_softmax_large").normal(3, 5, scale=300.0)],
         lambda x: torch.log_softmax(x, -1))
    d = Draw("layer_norm_affine")
    case("layer_norm_affine", [d.normal(2, 3, 8), d.normal(8), d.normal(8)],
         lambda x, w, b: F.layer_norm(x, (8,), w, b))
    case("layer_norm_plain", [Draw("layer_norm_plain").normal(4, 6)], lambda x: F.layer_norm(x, (6,)))
    d = Draw("layer_norm_weight_only")
    case("layer_norm_weight_only", [d.normal(3, 5), d.normal(5)], lambda x, w: F.layer_norm(x, (5,), w))
    d = Draw("layer_norm_noncontig")
    case("layer_norm_noncontig", [d.normal(8, 3), d.normal(8), d.normal(8)],
         lambda x, w, b: F.layer_norm(x.t(), (8,), w, b))
    d = Draw("layer_norm_eps0_1")
    case("layer_norm_eps0_1", [d.normal(3, 4, scale=0.3)], lambda x: F.layer_norm(x, (4,), eps=0.1))
    case("gelu", [Draw("gelu").normal(3, 5, scale=3.0)], lambda x: F.gelu(x))
    case("gelu_tanh", [Draw("gelu_tanh").normal(3, 5, scale=3.0)], lambda x: F.gelu(x, approximate="tanh"))
    d = Draw("attention")
    case("attention", [d.normal(2, 2, 5, 4), d.normal(2, 2, 5, 4), d.normal(2, 2, 5, 4)],
         lambda q, k, v: F.scaled_dot_product_attention(q, k, v))
    d = Draw("attention_scale0_3")
    case("attention_scale0_3", [d.normal(1, 2, 4, 3), d.normal(1, 2, 4, 3), d.normal(1, 2, 4, 3)],
         lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.3))
    d = Draw("attention_cross")
    case("attention_cross", [d.normal(1, 2, 3, 4), d.normal(1, 2, 6, 4), d.normal(1, 2, 6, 4)],
         lambda q, k, v: F.scaled_dot_product_attention(q, k, v))
    # Inputs stored as (B, N, H, Dh) and permuted to (B, H, N, Dh): non-contiguous operands.
    d = Draw("attention_permuted")
    case("attention_permuted", [d.normal(2, 5, 2, 4), d.normal(2, 5, 2, 4), d.normal(2, 5, 2, 4)],
         lambda q, k, v: F.scaled_dot_product_attention(q.permute(0, 2, 1, 3), k.permute(0, 2, 1, 3),
                                                        v.permute(0, 2, 1, 3)))

    def soft_ce(logits, targets, axis):
        return -(targets * torch.log_softmax(logits, axis)).sum(axis)

    d = Draw("cross_entropy_soft")
    case("cross_entropy_soft", [d.normal(4, 6), torch.softmax(d.normal(4, 6), -1)],
         lambda l, t: soft_ce(l, t, -1))
    d = Draw("cross_entropy_soft_axis0")
    case("cross_entropy_soft_axis0", [d.normal(5, 3), torch.softmax(d.normal(5, 3), 0)],
         lambda l, t: soft_ce(l, t, 0))
    d = Draw("cross_entropy_soft_3d")
    case("cross_entropy_soft_3d", [d.normal(2, 3, 5), torch.softmax(d.normal(2, 3, 5), -1)],
         lambda l, t: soft_ce(l, t, -1))
    d = Draw("cross_entropy_labels")
    case("cross_entropy_labels", [d.normal(5, 4)], lambda l, y: F.cross_entropy(l, y),
         indices=[d.integers(0, 4, 5)])


def dtype_fixture():
    """Edge values of every dtype the Swift reader decodes, written by the reference writer."""
    def bits(values, dtype):
        return torch.tensor(values, dtype=torch.int32).to(torch.int16).view(dtype)

    def signed16(v):
        return v - 0x10000 if v >= 0x8000 else v

    f16 = [0x0000, 0x8000, 0x3C00, 0xC000, 0x7BFF, 0x0400, 0x0001, 0x03FF, 0x8200, 0x7C00, 0xFC00, 0x7E00, 0x3555]
    bf16 = [0x0000, 0x8000, 0x3F80, 0xC040, 0x7F7F, 0x0080, 0x0001, 0x807F, 0x7F80, 0xFF80, 0x7FC0, 0x3EAB]
    nan, inf = math.nan, math.inf
    data = {
        "f16": bits([signed16(v) for v in f16], torch.float16),
        "bf16": bits([signed16(v) for v in bf16], torch.bfloat16).reshape(2, 6),
        "f32": torch.tensor([0.0, -0.0, 1.5, -3.25, 3.4028234663852886e38, 2.0 ** -126, 2.0 ** -149, inf, -inf, nan],
                            dtype=torch.float32),
        "f64": torch.tensor([1 / 3, -(2.0 ** -1074) * 3, 1e308, -inf, nan], dtype=torch.float64),
        "scalar": torch.tensor(7.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
        "i64": torch.tensor([[0, -5, 16777216], [7, 123, -16777216]], dtype=torch.int64),
        "i32": torch.tensor([1, -2, 2147483520], dtype=torch.int32),
        "i16": torch.tensor([-32768, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255, 17], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
    }
    metadata = {"format": "pt", "note": "edge values, written by safetensors.torch.save_file"}
    save_file(data, os.path.join(OUT_DIR, "dtypes.safetensors"), metadata=metadata)


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    core()
    mathops()
    indexops()
    fused()
    path = os.path.join(OUT_DIR, "ops.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, path,
              metadata={"generator": "scripts/make_fixtures.py", "torch": torch.__version__,
                        "cases": ",".join(case_names)})
    dtype_fixture()
    print(f"{len(case_names)} cases, {len(tensors)} tensors, {os.path.getsize(path)} bytes -> {path}")


if __name__ == "__main__":
    main()
