#!/usr/bin/env python3
"""Fixtures for the timm and transformers key layouts of a DINOv3 ConvNeXt.

Takes the committed parity checkpoint (Tests/DinoModelsTests/Fixtures/parity/
convnext_official.safetensors: the official DINOv3 ConvNeXt at the `test_convnext` size, written
by make_convnext_fixtures.py) and writes it in the two other layouts, each produced by the
layout's own code (nothing of it is committed here):

  convnext_timm.safetensors          timm: `timm.models.convnext.checkpoint_filter_fn` (the
                                     remap timm applies to the official DINOv3 checkpoints of its
                                     `convnext_*.dinov3_lvd1689m`), loaded strictly into timm's
                                     `ConvNeXt(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32),
                                     num_classes=0)` and saved from its `state_dict()`
  convnext_transformers.safetensors  transformers `Dinov3ConvNextModel`: the regular expressions
                                     of `ORIGINAL_TO_CONVERTED_KEY_MAPPING`, read (not imported)
                                     from transformers' convert_dinov3_convnext_to_hf.py and
                                     applied as its `convert_old_keys_to_new_keys` does; the
                                     `norms.3.*` alias left out, as that script does

Usage:
    python3 scripts/make_convnext_layout_fixtures.py --timm PATH_TO_TIMM_CHECKOUT \
        --transformers-convert PATH/src/transformers/models/dinov3_convnext/convert_dinov3_convnext_to_hf.py
"""
import argparse
import ast
import re
import sys
from pathlib import Path

import torchvision_stub

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
DIR = ROOT / "Tests/DinoModelsTests/Fixtures/parity"


def transformers_mapping(path):
    """The dict literal ORIGINAL_TO_CONVERTED_KEY_MAPPING of the conversion script."""
    tree = ast.parse(Path(path).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ORIGINAL_TO_CONVERTED_KEY_MAPPING" for t in node.targets):
            return ast.literal_eval(node.value)
    raise ValueError(f"no ORIGINAL_TO_CONVERTED_KEY_MAPPING in {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timm", required=True, help="checkout of huggingface/pytorch-image-models")
    ap.add_argument("--transformers-convert", required=True, help="transformers' convert_dinov3_convnext_to_hf.py")
    args = ap.parse_args()
    official = load_file(str(DIR / "convnext_official.safetensors"))

    sys.path.insert(0, args.timm)
    torchvision_stub.install()
    from timm.models.convnext import ConvNeXt, checkpoint_filter_fn

    model = ConvNeXt(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32), num_classes=0)
    model.load_state_dict(checkpoint_filter_fn(dict(official), model), strict=True)
    timm_sd = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
    save_file(timm_sd, str(DIR / "convnext_timm.safetensors"))

    mapping = transformers_mapping(args.transformers_convert)
    keys = [k for k in official if k not in ("norms.3.weight", "norms.3.bias")]
    text = "\n".join(keys)
    for pattern, replacement in mapping.items():
        text = re.sub(pattern, replacement, text)
    hf_sd = {new: official[old].clone().contiguous() for old, new in zip(keys, text.split("\n"))}
    save_file(hf_sd, str(DIR / "convnext_transformers.safetensors"))
    print(len(timm_sd), "timm keys, e.g.", sorted(timm_sd)[:3], ";", len(hf_sd), "transformers keys, e.g.", sorted(hf_sd)[:3])


if __name__ == "__main__":
    main()
