#!/usr/bin/env python3
"""Joins a swift-dino step profile (`dino train --profile W,N` → RUN/profile.json) and a PyTorch
one (`scripts/bench_dino_peer.py --profile W,N --profile-json F`) into two tables, ms per step:

  phases      data wait and loop, forward, backward, gradient clipping, optimizer, EMA/centre —
              ours from the trainer's marks and the ops' names (forward ops, "<op> backward",
              the autograd engine), PyTorch's from `record_function` regions (inclusive time)
  categories  the same time by kind of op: products, attention, layer norm, GELU, softmax and
              losses, element-wise, reductions, copies/views/indexing/allocation, the autograd
              engine's own work, and the rest — ours by tape op name, PyTorch's by aten op
              (self CPU time), so "the time outside products, op by op" can be read side by side.

Usage: scripts/bench_profile_join.py OURS.json TORCH.json
"""
import json
import sys

PRODUCTS = {"linear", "matmul"}
ATTENTION = {"scaledDotProductAttention"}
ELEMENTWISE = {"abs", "add", "add_scalar", "clamp", "div", "exp", "log", "mul", "mul_scalar", "neg", "pow", "pow_scalar",
               "rdiv_scalar", "relu", "residual", "rsqrt", "sigmoid", "silu", "sqrt", "sub", "tanh", "where",
               "dropout", "round_bf16", "rotary_embedding", "l2Normalized", "maskedFill", "to"}
REDUCTIONS = {"sum", "variance", "max", "min", "max_all", "min_all"}
COPIES = {"concat", "contiguous", "expand", "gather", "indexAdd", "indexSelect", "maskedSelect", "pad", "permute", "reshape",
          "scatterAdd", "slice", "squeeze", "unsqueeze"}
SOFTMAX = {"softmax", "logSoftmax", "nllLoss", "cross_entropy_labels"}


def ours_category(name):
    op = name[: -len(" backward")] if name.endswith(" backward") else name
    if op in PRODUCTS:
        return "products"
    if op in ATTENTION:
        return "attention"
    if op == "layerNorm":
        return "layer norm"
    if op == "gelu":
        return "GELU"
    if op in SOFTMAX:
        return "softmax, losses"
    if op in ELEMENTWISE:
        return "element-wise"
    if op in REDUCTIONS:
        return "reductions"
    if op in COPIES:
        return "copies, views, indexing, allocation"
    if name == "autograd engine":
        return "autograd engine"
    return "other (trainer, method hooks, untracked)"


def torch_category(name):
    n = name.lower()
    if n.startswith("autograd::engine") or n.startswith("torch::autograd") or "backward0" in n:
        return "autograd engine"
    if any(k in n for k in ("scaled_dot_product", "flash_attention")):
        return "attention"
    if any(k in n for k in ("addmm", "aten::mm", "aten::bmm", "aten::matmul", "aten::linear", "aten::baddbmm")):
        return "products"
    if "layer_norm" in n:
        return "layer norm"
    if "gelu" in n:
        return "GELU"
    if any(k in n for k in ("softmax", "nll_loss", "cross_entropy")):
        return "softmax, losses"
    if any(k in n for k in ("aten::sum", "aten::mean", "aten::norm", "linalg_vector_norm", "aten::max", "aten::min",
                            "aten::var", "aten::std", "aten::_foreach_norm")):
        return "reductions"
    if any(k in n for k in ("copy_", "aten::cat", "clone", "contiguous", "aten::view", "reshape", "transpose",
                            "aten::t", "permute", "slice", "select", "expand", "index", "aten::empty", "zeros",
                            "fill_", "as_strided", "unsqueeze", "squeeze", "aten::to", "_to_copy", "stack",
                            "unbind", "split", "chunk", "narrow", "flatten", "pad", "upsample", "interpolate",
                            "aten::ones", "aten::full", "detach", "resolve", "alias", "unsafe")):
        return "copies, views, indexing, allocation"
    if n.startswith("aten::"):
        return "element-wise"
    return "other (trainer, method hooks, untracked)"


def ours_phase(name):
    if name.endswith(" backward") or name in ("autograd engine", "untracked"):
        return "backward"
    if name.startswith("trainer: data loader") or name.startswith("trainer: metrics") or name == "trainer: zero grad":
        return "data, loop, zero grad"
    if name == "trainer: gradient clipping":
        return "gradient clipping"
    if name == "trainer: optimizer":
        return "optimizer"
    if name.startswith("method:"):
        return "EMA, centre, monitors"
    return "forward"


TORCH_PHASES = {"data": "data, loop, zero grad", "zero grad": "data, loop, zero grad", "forward": "forward",
                "backward": "backward", "gradient clipping": "gradient clipping", "optimizer": "optimizer",
                "EMA, centre, monitors": "EMA, centre, monitors"}


def main():
    ours, ref = (json.load(open(p)) for p in sys.argv[1:3])
    n_ours, n_ref = ours["steps"], ref["steps"]

    def table(title, left, right):
        keys = sorted(set(left) | set(right), key=lambda k: -(left.get(k, 0) + right.get(k, 0)))
        lt, rt = sum(left.values()), sum(right.values())
        print(f"\n{title:<44} {'swift-dino':>11} {'PyTorch':>9} {'ours/theirs':>12}")
        for k in keys:
            a, b = 1000 * left.get(k, 0), 1000 * right.get(k, 0)
            print(f"{k:<44} {a:11.2f} {b:9.2f} {a / b if b else float('nan'):12.2f}")
        print(f"{'total':<44} {1000 * lt:11.2f} {1000 * rt:9.2f} {lt / rt if rt else float('nan'):12.2f}")

    phases_ours, phases_ref = {}, {}
    for e in ours["entries"]:
        k = ours_phase(e["name"])
        phases_ours[k] = phases_ours.get(k, 0) + e["seconds"] / n_ours
    for k, v in ref["phases"].items():
        phases_ref[TORCH_PHASES.get(k, k)] = phases_ref.get(TORCH_PHASES.get(k, k), 0) + v / n_ref
    print(f"threads: swift-dino {ours['threads']}, PyTorch {ref['threads']} (torch {ref.get('torch', '?')}); "
          f"steps: {n_ours} and {n_ref}; ms per step")
    table("phase (wall time)", phases_ours, phases_ref)

    # The ops of the forward and backward passes only (the other phases are compared whole above).
    cat_ours, cat_ref = {}, {}
    for e in ours["entries"]:
        if ours_phase(e["name"]) in ("forward", "backward"):
            k = ours_category(e["name"])
            cat_ours[k] = cat_ours.get(k, 0) + e["seconds"] / n_ours
    for e in ref["entries"]:
        if e.get("phase") in ("forward", "backward"):
            k = torch_category(e["name"])
            cat_ref[k] = cat_ref.get(k, 0) + e["seconds"] / n_ref
    table("forward + backward, kind of op (self time)", cat_ours, cat_ref)
    print("\nOurs: forward work that does not record itself on the tape (creating tensors, in-place updates) "
          "lands on the next recorded op; PyTorch's self CPU time is per aten op, the autograd engine's "
          "evaluate_function wrappers counted as 'autograd engine'.")


if __name__ == "__main__":
    main()
