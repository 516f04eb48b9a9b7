#!/usr/bin/env python3
"""Parity fixture for loading Hugging Face transformers' ImageNet ConvNeXt (`ConvNextModel`,
`ConvNextForImageClassification`: facebook/convnext-tiny-224 and its siblings) into DinoModels'
ConvNeXt.

Builds transformers' own `ConvNextForImageClassification` (PyPI `transformers`; nothing of it is
committed here) at the `test_convnext` size (depths [1, 1, 2, 1], hidden sizes [8, 16, 24, 32], 5
classes, the released configs' `layer_norm_eps` 1e-12 for the final norm), sets every parameter
to random values (LayerNorms and LayerScale included), runs it on the images of
convnext_official.io.safetensors (70 × 66: the stride-4 and stride-2 convolutions drop a
remainder) and writes to Tests/DinoModelsTests/Fixtures/parity/:

  convnext_hf_imagenet.safetensors     its state dict as `save_pretrained` writes it
                                       (`convnext.embeddings.*`, `convnext.encoder.stages.i.*`,
                                       `convnext.layernorm.*`, `classifier.*`)
  convnext_hf_imagenet.io.safetensors  `pooler` (B, C): `pooler_output`, the final LayerNorm of
                                       the pooled last stage; `map` (B, C, h, w):
                                       `last_hidden_state`, the last stage un-normalised

The Swift test (ConvNeXtTests.transformersImageNetConvNeXtMatchesTransformers) loads the file
with the layout detected and compares within 1e-4.

Usage:
    python3 -m pip install torch safetensors transformers
    python3 scripts/make_convnext_imagenet_fixtures.py
"""
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import ConvNextConfig, ConvNextForImageClassification

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/DinoModelsTests/Fixtures/parity"


def main():
    torch.manual_seed(0)
    config = ConvNextConfig(depths=[1, 1, 2, 1], hidden_sizes=[8, 16, 24, 32], num_labels=5, layer_norm_eps=1e-12)
    model = ConvNextForImageClassification(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_scale_parameter"):
                p.copy_(0.5 + 0.5 * torch.rand_like(p))
            elif p.ndim == 1 and ("norm" in name or "downsampling_layer.0" in name):
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn_like(p))
            else:
                fan_in = p[0].numel() if p.ndim > 1 else 1
                p.copy_(torch.randn_like(p) / fan_in ** 0.5)
    images = load_file(str(OUT / "convnext_official.io.safetensors"))["images"]
    with torch.no_grad():
        out = model.convnext(pixel_values=images)
    sd = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(OUT / "convnext_hf_imagenet.safetensors"), metadata={"format": "pt"})
    io = {"pooler": out.pooler_output.contiguous(), "map": out.last_hidden_state.contiguous()}
    save_file(io, str(OUT / "convnext_hf_imagenet.io.safetensors"), metadata={"preset": "test_convnext"})
    print({k: list(v.shape) for k, v in io.items()}, len(sd), "keys, e.g.", sorted(sd)[:3])


if __name__ == "__main__":
    main()
