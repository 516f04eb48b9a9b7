#!/usr/bin/env python3
"""Fixture for fine-tuning a ConvNeXt: timm's layer-wise lr decay groups of its ConvNeXt.

Builds `timm.models.convnext.ConvNeXt` from a checkout of huggingface/pytorch-image-models
(nothing of it is committed here) at the `test_convnext` size (depths [1, 1, 2, 1], dims
[8, 16, 24, 32], 5 classes), runs `timm.optim._param_groups.param_groups_layer_decay` (layer
decay 0.75, weight decay 0.05; 1-D tensors without weight decay) and writes every parameter's
lr scale and weight decay to Tests/DinoEvalTests/Fixtures/convnext_layer_decay.json, under the
DINOv3 ConvNeXt's names (dinov3/models/convnext.py) that the timm names map to one to one:

  stem.{0,1}                      downsample_layers.0.{0,1}   (conv, then norm)
  stages.i.downsample.{0,1}       downsample_layers.i.{0,1}   (norm, then conv), i = 1…3
  stages.i.blocks.j.conv_dw       stages.i.j.dwconv
  stages.i.blocks.j.norm / gamma  stages.i.j.norm / gamma
  stages.i.blocks.j.mlp.fc1/fc2   stages.i.j.pwconv1 / pwconv2
  head.norm                       norm                          (the final norm, on the pooled map)
  head.fc                         head                          (the classifier's linear head)

torchvision is not needed by that code; when it is not installed a stand-in module is used.

Usage:
    python3 scripts/make_convnext_finetune_fixtures.py --timm PATH
"""
import argparse
import json
import re
import sys
from pathlib import Path

import torchvision_stub

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/DinoEvalTests/Fixtures/convnext_layer_decay.json"


def dinov3_name(name):
    rules = [
        (r"^stem\.(\d)\.", r"downsample_layers.0.\1."),
        (r"^stages\.(\d)\.downsample\.(\d)\.", r"downsample_layers.\1.\2."),
        (r"^stages\.(\d)\.blocks\.(\d+)\.conv_dw\.", r"stages.\1.\2.dwconv."),
        (r"^stages\.(\d)\.blocks\.(\d+)\.mlp\.fc1\.", r"stages.\1.\2.pwconv1."),
        (r"^stages\.(\d)\.blocks\.(\d+)\.mlp\.fc2\.", r"stages.\1.\2.pwconv2."),
        (r"^stages\.(\d)\.blocks\.(\d+)\.", r"stages.\1.\2."),
        (r"^head\.norm\.", "norm."),
        (r"^head\.fc\.", "head."),
    ]
    for pattern, repl in rules:
        if re.match(pattern, name):
            return re.sub(pattern, repl, name)
    raise ValueError(f"unmapped timm name {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timm", required=True, help="checkout of huggingface/pytorch-image-models")
    args = ap.parse_args()
    sys.path.insert(0, args.timm)
    torchvision_stub.install()
    from timm.models.convnext import ConvNeXt
    from timm.optim._param_groups import param_groups_layer_decay

    model = ConvNeXt(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32), num_classes=5)
    groups = param_groups_layer_decay(model, weight_decay=0.05, layer_decay=0.75)
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for g in groups:
        for p in g["params"]:
            out[dinov3_name(names[id(p)])] = {"lr_scale": g["lr_scale"], "weight_decay": g["weight_decay"]}
    OUT.write_text(json.dumps({"layer_decay": 0.75, "weight_decay": 0.05, "depths": [1, 1, 2, 1],
                               "groups": dict(sorted(out.items()))}, indent=1) + "\n")
    print(len(out), "parameters,", len(groups), "groups")


if __name__ == "__main__":
    main()
