#!/usr/bin/env python3
"""Parity fixture for DinoModels' ConvNeXt: the official DINOv3 ConvNeXt with random weights.

Builds `dinov3.models.convnext.ConvNeXt` from a checkout of facebookresearch/dinov3 (nothing
of it is committed here) at a tiny size (depths [1, 1, 2, 1], dims [8, 16, 24, 32], the
`test_convnext` preset), sets every parameter to random values (LayerNorms and LayerScale γ
included, so that no block is negligible), runs `forward_features` on random images of
70 × 66 pixels (not multiples of 32, so the stride-4 and stride-2 convolutions drop a
remainder as PyTorch does) and writes to Tests/DinoModelsTests/Fixtures/parity/:

  convnext_official.safetensors     the state dict exactly as the reference saves it
  convnext_official.io.safetensors  `images` (B, 3, 70, 66); `x.cls` (B, C) x_norm_clstoken,
                                    `x.patch` (B, h·w, C) x_norm_patchtokens,
                                    `x.prenorm` (B, h·w, C) x_prenorm,
                                    `x.map` (B, C, h, w) the last stage's output (NCHW)

The Swift test (ConvNeXtTests) loads the checkpoint and compares within 1e-4.

Usage:
    python3 -m pip install torch numpy safetensors
    python3 scripts/make_convnext_fixtures.py --dinov3 PATH
"""
import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/DinoModelsTests/Fixtures/parity"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dinov3", required=True, help="checkout of facebookresearch/dinov3")
    args = ap.parse_args()
    sys.path.insert(0, args.dinov3)
    from dinov3.models.convnext import ConvNeXt

    torch.manual_seed(0)
    model = ConvNeXt(in_chans=3, depths=[1, 1, 2, 1], dims=[8, 16, 24, 32], drop_path_rate=0.0,
                     layer_scale_init_value=1e-6)
    model.init_weights()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(0.5 + 0.5 * torch.rand_like(p))
            elif p.ndim == 1 and ("norm" in name or name.split(".")[-2] in {"1", "0"} and "downsample" in name):
                # LayerNorm weights around 1, biases around 0 (and conv biases small).
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn_like(p))
            else:
                fan_in = p[0].numel() if p.ndim > 1 else 1
                p.copy_(torch.randn_like(p) / fan_in ** 0.5)
    model.eval()
    images = torch.randn(2, 3, 70, 66)
    with torch.no_grad():
        out = model.forward_features(images)
        x = images
        for i in range(4):
            x = model.downsample_layers[i](x)
            x = model.stages[i](x)
    OUT.mkdir(parents=True, exist_ok=True)
    # norms.3 is the final norm itself (the reference lists it twice in its state dict).
    sd = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(OUT / "convnext_official.safetensors"))
    io = {
        "images": images,
        "x.cls": out["x_norm_clstoken"].contiguous(),
        "x.patch": out["x_norm_patchtokens"].contiguous(),
        "x.prenorm": out["x_prenorm"].contiguous(),
        "x.map": x.contiguous(),
    }
    save_file(io, str(OUT / "convnext_official.io.safetensors"), metadata={"preset": "test_convnext"})
    print({k: list(v.shape) for k, v in io.items()}, len(sd), "keys")


if __name__ == "__main__":
    main()
