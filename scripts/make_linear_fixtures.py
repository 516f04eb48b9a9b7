#!/usr/bin/env python3
"""Golden values for DINOv3's linear protocol (dinov3/eval/linear.py), from the reference code.

Writes Tests/DinoEvalTests/Fixtures/linear_dinov3.safetensors (a tiny DINOv3 ViT in the official
key layout) and linear_dinov3.json:
  - the model's config as VisionTransformerConfig decodes it, and its input images;
  - `ModelWithIntermediateLayers(model, n=1)` (get_intermediate_layers(n=1, return_class_token=True,
    norm=True): class token through `cls_norm`, storage tokens dropped from the patch tokens)
    followed by linear.py's own `create_linear_input(x, use_n_blocks=1, use_avgpool=True)`, i.e. the
    classifier input of every DINOv3 linear classifier: [class token, mean patch token], (N, 2D);
  - `setup_linear_classifiers` with the default grid (n_last_blocks_list (1,), avgpool True only, the
    13 rates scaled by batch 128 / 256): names, the optimiser groups' rates, input widths. As in
    DINOv2, the scaled 5e-6 and 1e-5 both print `0_00001`, so the ModuleDict keeps 12 classifiers
    (the second replaces the first in place) while 13 optimiser groups exist.

The model has 2 storage (register) tokens and untied class/patch norms, so the layout test fails if
registers leak into the average or the class token is normed with the patch norm.

Usage:
  python3 scripts/make_linear_fixtures.py --dinov3 SRC
where SRC is a checkout of facebookresearch/dinov3 (needs torch, numpy, safetensors from PyPI).
Only the named functions of linear.py are executed (their own text, parsed with ast); `.cuda()` is
the identity and `distributed` a one-process stand-in. Nothing of the reference is committed.
"""

import argparse
import ast
import json
import os
import sys
import types

import torch
import torch.nn as nn
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "DinoEvalTests", "Fixtures")


def extract(path, names, namespace):
    """Executes only the named top-level functions/classes of a file (their own text)."""
    tree = ast.parse(open(path).read())
    module = types.ModuleType("extract")
    module.__dict__.update(namespace)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            exec(compile(ast.Module([node], []), path, "exec"), module.__dict__)
    return module


def flat(t):
    return [float(f"{x:.10g}") for x in torch.as_tensor(t).detach().reshape(-1).tolist()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dinov3", required=True)
    args = ap.parse_args()
    sys.path.insert(0, args.dinov3)
    from dinov3.models.vision_transformer import DinoVisionTransformer

    torch.manual_seed(0)
    D, DEPTH, HEADS, IMG, PATCH, REG = 16, 2, 2, 16, 4, 2
    model = DinoVisionTransformer(img_size=IMG, patch_size=PATCH, embed_dim=D, depth=DEPTH, num_heads=HEADS,
                                  pos_embed_rope_base=100, pos_embed_rope_normalize_coords="separate",
                                  pos_embed_rope_dtype="fp32", layerscale_init=1e-5, norm_layer="layernorm",  # eps 1e-6
                                  n_storage_tokens=REG, mask_k_bias=True, untie_cls_and_patch_norms=True)
    model.init_weights()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if p.ndim >= 2 and "token" not in name:
                p.copy_(r / p[0].numel() ** 0.5)
            elif "gamma" in name:
                p.copy_(0.5 + 0.2 * r)
            elif name.endswith("weight") and p.ndim == 1:
                p.copy_(1 + 0.2 * r)
            else:
                p.copy_(0.3 * r)
    model.eval()
    config = dict(family="dinov3", img_size=IMG, patch_size=PATCH, embed_dim=D, depth=DEPTH, num_heads=HEADS,
                  ffn_ratio=4, layerscale_init=1e-5, norm_eps=1e-6, num_register_tokens=REG, mask_token=True,
                  rope=dict(base=100, normalize_coords="separate"), mask_k_bias=True,
                  untie_cls_and_patch_norms=True)

    nn.Module.cuda = lambda self, *a, **k: self
    distributed = types.SimpleNamespace(get_world_size=lambda: 1, is_enabled=lambda: False)
    lin = extract(os.path.join(args.dinov3, "dinov3/eval/linear.py"),
                  {"create_linear_input", "LinearClassifier", "AllClassifiers", "scale_lr", "setup_linear_classifiers"},
                  {"torch": torch, "nn": nn, "distributed": distributed})
    images = torch.randn(3, 3, IMG, IMG, generator=g)
    with torch.no_grad():
        # ModelWithIntermediateLayers(model, n=max(n_last_blocks_list)=1).forward without autocast.
        x_tokens = model.get_intermediate_layers(images, n=1, reshape=False, return_class_token=True)
        linear_input = lin.create_linear_input(x_tokens, use_n_blocks=1, use_avgpool=True)
    # TrainConfig.learning_rates: a tuple of Python floats (_DEFAULT_LR_LIST), scaled one by one.
    rates = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1)
    classifiers, groups = lin.setup_linear_classifiers(x_tokens, (1,), rates, 128, num_classes=5)

    os.makedirs(OUT, exist_ok=True)
    save_file({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()},
              os.path.join(OUT, "linear_dinov3.safetensors"))
    out = {"config": config, "images_shape": list(images.shape), "images": flat(images),
           "linear_input_shape": list(linear_input.shape), "linear_input": flat(linear_input),
           "names": list(classifiers.classifiers_dict.keys()), "lrs": [float(gr["lr"]) for gr in groups],
           "in_dims": [int(c.linear.in_features) for c in classifiers.classifiers_dict.values()]}
    with open(os.path.join(OUT, "linear_dinov3.json"), "w") as f:
        json.dump(out, f)
    print("wrote linear_dinov3.safetensors and linear_dinov3.json:", len(out["names"]), "classifiers,",
          "input", out["linear_input_shape"])


if __name__ == "__main__":
    main()
