#!/usr/bin/env python3
"""Parameter counts and state-dict shapes of every model preset, from the official code.

Builds each preset with the reference implementation (facebookresearch/dino, dinov2,
dinov3) on PyTorch's meta device (no weights are allocated, so ViT-g/14 costs nothing; DINO v1
models, which call .item() while being built, on the CPU),
and writes, per preset name:
  params  -- number of trainable parameters (buffers excluded), as sum(p.numel())
  depth   -- number of blocks
  shapes  -- state-dict key -> shape for every key outside blocks.1, blocks.2, ...
             (block 0 stands for all blocks), buffers included
to Tests/DinoModelsTests/Fixtures/reference_presets.json. The Swift tests compare our
models' parameter counts and state-dict keys and shapes with these.

Usage (checkouts of the three official repositories; nothing of them is committed here):
    python3 scripts/reference_param_counts.py --dino PATH --dinov2 PATH --dinov3 PATH
Needs torch, numpy and pillow (DINO's utils.py imports PIL).
"""
import argparse
import json
import re
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/DinoModelsTests/Fixtures/reference_presets.json"


def describe(model):
    sd = model.state_dict()
    shapes = {k: list(v.shape) for k, v in sd.items() if not re.match(r"blocks\.([1-9]\d*)\.", k)}
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "depth": len(model.blocks),
        "shapes": shapes,
    }


def describe_convnext(model):
    """ConvNeXt: depth is the number of blocks over the four stages; `stages.<i>.0` stands for
    every block of stage i. The state dict lists the final norm twice (`norm` and `norms.3`,
    one module); parameters() counts it once."""
    sd = model.state_dict()
    shapes = {k: list(v.shape) for k, v in sd.items() if not re.match(r"stages\.\d+\.([1-9]\d*)\.", k)}
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "depth": sum(len(s) for s in model.stages),
        "shapes": shapes,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dino", required=True)
    ap.add_argument("--dinov2", required=True)
    ap.add_argument("--dinov3", required=True)
    args = ap.parse_args()
    sys.path[:0] = [args.dino, args.dinov2, args.dinov3]

    import vision_transformer as dino_vits  # facebookresearch/dino
    from dinov2.hub import backbones as v2hub
    from dinov2.models import vision_transformer as v2vits
    from dinov3.hub import backbones as v3hub
    from dinov3.models.vision_transformer import DinoVisionTransformer as V3ViT
    from dinov3.models.convnext import ConvNeXt

    def v2(**kw):
        base = dict(img_size=518, patch_size=14, init_values=1.0, block_chunks=0)
        base.update(kw)
        return v2vits.DinoVisionTransformer(**base)

    def v3(**kw):
        base = dict(img_size=224, patch_size=16, pos_embed_rope_base=100, pos_embed_rope_normalize_coords="separate",
                    pos_embed_rope_rescale_coords=2, pos_embed_rope_dtype="fp32", layerscale_init=1e-5,
                    norm_layer="layernormbf16", n_storage_tokens=4, mask_k_bias=True, qkv_bias=True)
        base.update(kw)
        return V3ViT(**base)

    builders = {
        "dino_vits16": lambda: dino_vits.vit_small(patch_size=16),
        "dino_vits8": lambda: dino_vits.vit_small(patch_size=8),
        "dino_vitb16": lambda: dino_vits.vit_base(patch_size=16),
        "dino_vitb8": lambda: dino_vits.vit_base(patch_size=8),
        "dinov3_vits16": lambda: v3hub.dinov3_vits16(pretrained=False),
        "dinov3_vits16plus": lambda: v3hub.dinov3_vits16plus(pretrained=False),
        "dinov3_vitb16": lambda: v3hub.dinov3_vitb16(pretrained=False),
        "dinov3_vitl16": lambda: v3hub.dinov3_vitl16(pretrained=False),
        "dinov3_vitl16plus": lambda: v3hub.dinov3_vitl16plus(pretrained=False),
        "dinov3_vitl16_sat493m": lambda: v3hub.dinov3_vitl16(pretrained=False, weights=v3hub.Weights.SAT493M),
        "dinov3_vith16plus": lambda: v3hub.dinov3_vith16plus(pretrained=False),
        "vit_tiny_patch4": lambda: v2(img_size=32, patch_size=4, embed_dim=192, depth=12, num_heads=3, init_values=1e-5),
        "vit_nano_patch4": lambda: v2(img_size=32, patch_size=4, embed_dim=128, depth=6, num_heads=4, init_values=1e-5),
        "dino_vit_tiny_patch4": lambda: dino_vits.VisionTransformer(img_size=[32], patch_size=4, embed_dim=192, depth=12, num_heads=3,
                                                                    qkv_bias=True, norm_layer=lambda d: torch.nn.LayerNorm(d, eps=1e-6)),
        "dino_vit_nano_patch4": lambda: dino_vits.VisionTransformer(img_size=[32], patch_size=4, embed_dim=128, depth=6, num_heads=4,
                                                                    qkv_bias=True, norm_layer=lambda d: torch.nn.LayerNorm(d, eps=1e-6)),
        "test_dino": lambda: dino_vits.VisionTransformer(img_size=[32], patch_size=8, embed_dim=32, depth=2, num_heads=2,
                                                         qkv_bias=True, norm_layer=lambda d: torch.nn.LayerNorm(d, eps=1e-6)),
        "test_dinov2": lambda: v2(img_size=32, patch_size=4, embed_dim=32, depth=2, num_heads=2),
        "test_dinov2_reg": lambda: v2(img_size=32, patch_size=4, embed_dim=32, depth=2, num_heads=2, num_register_tokens=4),
        "test_dinov2_swiglu": lambda: v2(img_size=32, patch_size=4, embed_dim=32, depth=2, num_heads=2, ffn_layer="swiglufused"),
        "test_dinov3": lambda: v3(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2),
        "dinov3_vit_nano_patch4": lambda: v3(img_size=32, patch_size=4, embed_dim=128, depth=6, num_heads=4),
        "dinov3_vit_tiny_patch4": lambda: v3(img_size=32, patch_size=4, embed_dim=192, depth=12, num_heads=3),
        "test_dinov3_swiglu": lambda: v3(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, ffn_ratio=6, ffn_layer="swiglu"),
    }
    for size in ["vits14", "vitb14", "vitl14", "vitg14"]:
        builders[f"dinov2_{size}"] = (lambda s: lambda: getattr(v2hub, f"dinov2_{s}")(pretrained=False))(size)
        builders[f"dinov2_{size}_reg"] = (lambda s: lambda: getattr(v2hub, f"dinov2_{s}_reg")(pretrained=False))(size)

    for size in ["tiny", "small", "base", "large"]:
        builders[f"convnext_{size}"] = (lambda s: lambda: getattr(v3hub, f"dinov3_convnext_{s}")(pretrained=False))(size)
    builders["test_convnext"] = lambda: ConvNeXt(depths=[1, 1, 2, 1], dims=[8, 16, 24, 32])

    out = {}
    for name in sorted(builders):
        # DINO v1 calls .item() while building, which meta tensors refuse; its models are small.
        device = "cpu" if name.startswith(("dino_", "test_dino")) and not name.startswith("test_dinov") else "meta"
        with torch.device(device):
            model = builders[name]()
        out[name] = describe_convnext(model) if "convnext" in name else describe(model)
        print(f"{name:22s} {out[name]['params']:>13,d}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
