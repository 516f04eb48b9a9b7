#!/usr/bin/env python3
"""Fixture for the evaluations of a ConvNeXt: the reference's `get_intermediate_layers`.

Loads the committed parity checkpoint (Tests/DinoModelsTests/Fixtures/parity/
convnext_official.safetensors, the `test_convnext` size, written by make_convnext_fixtures.py)
into `dinov3.models.convnext.ConvNeXt` from a checkout of facebookresearch/dinov3 (nothing of it
is committed here), runs it on the committed images of convnext_official.io.safetensors and
writes Tests/DinoModelsTests/Fixtures/parity/convnext_official.layers.safetensors:

  n4.{i}.cls    (B, C_i)          get_intermediate_layers(x, n=4, return_class_token=True, norm=True)
  n4.{i}.patch  (B, h_i·w_i, C_i)   for the stages i = 0…3 (norms: identity × 3, then the final norm)
  raw3.cls, raw3.patch            the same with n=[3], norm=False (the depth head of DINOv2)
  linear.n4.avgpool  (B, ΣC_i + C_3)  dinov2/dinov3 eval/linear.py `create_linear_input` of the
  linear.n1.avgpool  (B, 2·C_3)       n=4 outputs with use_n_blocks 4 / 1 and use_avgpool True:
                                      the class tokens of the last n outputs, then the mean patch
                                      token of the last one

The Swift tests (ConvNeXtTests, ConvNeXtEvaluationTests) compare within 1e-4.

Usage:
    python3 scripts/make_convnext_layers_fixtures.py --dinov3 PATH
"""
import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
DIR = ROOT / "Tests/DinoModelsTests/Fixtures/parity"


def linear_input(outputs, n, avgpool):
    """create_linear_input's formula: outputs are (patch tokens, class token) pairs, oldest first."""
    last = outputs[-n:]
    x = torch.cat([cls for _, cls in last], dim=-1)
    if avgpool:
        x = torch.cat((x, torch.mean(last[-1][0], dim=1)), dim=-1)
    return x.reshape(x.shape[0], -1).float()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dinov3", required=True, help="checkout of facebookresearch/dinov3")
    args = ap.parse_args()
    sys.path.insert(0, args.dinov3)
    from dinov3.models.convnext import ConvNeXt

    model = ConvNeXt(in_chans=3, depths=[1, 1, 2, 1], dims=[8, 16, 24, 32], drop_path_rate=0.0,
                     layer_scale_init_value=1e-6)
    model.load_state_dict(load_file(str(DIR / "convnext_official.safetensors")), strict=True)
    model.eval()
    images = load_file(str(DIR / "convnext_official.io.safetensors"))["images"]
    out = {}
    with torch.no_grad():
        n4 = model.get_intermediate_layers(images, n=4, return_class_token=True, norm=True)
        for i, (patch, cls) in enumerate(n4):
            out[f"n4.{i}.cls"] = cls.contiguous()
            out[f"n4.{i}.patch"] = patch.contiguous()
        (patch, cls), = model.get_intermediate_layers(images, n=[3], return_class_token=True, norm=False)
        out["raw3.cls"] = cls.contiguous()
        out["raw3.patch"] = patch.contiguous()
        out["linear.n4.avgpool"] = linear_input(n4, 4, True).contiguous()
        out["linear.n1.avgpool"] = linear_input(n4, 1, True).contiguous()
    save_file(out, str(DIR / "convnext_official.layers.safetensors"), metadata={"preset": "test_convnext"})
    print({k: list(v.shape) for k, v in out.items()})


if __name__ == "__main__":
    main()
