#!/usr/bin/env python3
"""Golden fixture for a ConvNeXt student of distillation: what its heads read, and its gradients.

Loads `dinov3/models/convnext.py` from a checkout of facebookresearch/dinov3 (nothing of it is
committed here), builds the `test_convnext` size (depths [1, 1, 2, 1], dims [8, 16, 24, 32])
with the pseudo `patch_size=4` of a 4-px teacher, loads the weights of the committed parity
fixture (Tests/DinoModelsTests/Fixtures/parity/convnext_official.safetensors, written by
make_convnext_fixtures.py), and on random 64 × 64 images (a 2 × 2 final map; a 16 × 16 teacher
grid) takes

    cls, patches = get_intermediate_layers(x, n=1, return_class_token=True, norm=True)

that is LN(mean of the final map) and LN(the final map resized with F.interpolate(bilinear,
antialias=True) to 16 × 16), the global token and the patch tokens a ConvNeXt student feeds the
DINO and iBOT heads. It then backpropagates L = Σ cls·R_c + Σ patches·R_p (fixed random R) and
writes every parameter's gradient. Output, Tests/DinoSSLTests/Fixtures/convnext_student.safetensors:

  images (1, 3, 64, 64), r_cls (1, 32), r_patch (1, 256, 32),
  cls (1, 32), patches (1, 256, 32), grad.<state-dict name> for every parameter,
  weight.<state-dict name> the weights (without the reference's `norms.3` alias of `norm`)

Usage:
    python3 -m pip install torch numpy safetensors
    python3 scripts/make_convnext_student_fixtures.py --convnext PATH/dinov3/models/convnext.py
"""
import argparse
import importlib.util
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "Tests/DinoModelsTests/Fixtures/parity/convnext_official.safetensors"
OUT = ROOT / "Tests/DinoSSLTests/Fixtures/convnext_student.safetensors"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--convnext", required=True, help="path of dinov3/models/convnext.py")
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("convnext_ref", args.convnext)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)

    model = ref.ConvNeXt(in_chans=3, depths=[1, 1, 2, 1], dims=[8, 16, 24, 32], drop_path_rate=0.0,
                         layer_scale_init_value=1e-6, patch_size=4)
    model.load_state_dict(load_file(str(WEIGHTS)))
    model.train()  # no dropout or drop path at rate 0: the same as eval
    torch.manual_seed(1)
    images = torch.randn(1, 3, 64, 64)
    r_cls = torch.randn(1, 32)
    r_patch = torch.randn(1, 256, 32)
    ((patches, cls),) = model.get_intermediate_layers(images, n=1, return_class_token=True, norm=True)
    assert patches.shape == (1, 256, 32) and cls.shape == (1, 32)
    loss = (cls * r_cls).sum() + (patches * r_patch).sum()
    loss.backward()
    out = {"images": images, "r_cls": r_cls, "r_patch": r_patch,
           "cls": cls.detach().contiguous(), "patches": patches.detach().contiguous()}
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad.contiguous()
    # The weights too (a test target reads only its own fixtures), without the `norms.3` alias.
    for name, t in model.state_dict().items():
        if not name.startswith("norms."):
            out["weight." + name] = t.contiguous()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(OUT), metadata={"preset": "test_convnext", "patch_size": "4"})
    print({k: list(v.shape) for k, v in out.items() if "." not in k}, len(out) - 5, "gradients and weights")


if __name__ == "__main__":
    main()
