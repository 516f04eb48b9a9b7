#!/usr/bin/env python3
"""Parity fixtures for DinoModels: small reference models in every checkpoint layout.

For each case a reference model is built with the official code (facebookresearch/dino,
dinov2, dinov3), timm or Hugging Face transformers at depth 2 and width 32, every parameter
is set to random values (LayerScale and norms included, so no block is negligible), and
it is run on random images. Written to Tests/DinoModelsTests/Fixtures/parity/:

  <case>.safetensors     the state dict exactly as that library saves it (its key layout)
  <case>.io.safetensors  inputs and outputs; metadata "config" (our model config as JSON)
                         and "layout" (official | timm | transformers)

Outputs per input `<x>`: `<x>.cls` (B, D) normalised class token, `<x>.patch` (B, N, D)
normalised patch tokens, `<x>.reg` (B, R, D) normalised register tokens where the model has
them; some cases add masked inputs, intermediate blocks and last-block attention.

The Swift tests (ParityTests) load each checkpoint through our layout conversion and
compare within 1e-4 relative error. Nothing of the reference code is committed.

Usage:
    pip install timm transformers --no-deps   (+ huggingface_hub, pillow, ... as imports ask)
    python3 scripts/make_model_fixtures.py --dino PATH --dinov2 PATH --dinov3 PATH
where PATH are checkouts of the official repositories.
"""
import argparse
import importlib.abc
import importlib.machinery
import json
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/DinoModelsTests/Fixtures/parity"
D, HEADS, DEPTH, BATCH = 32, 2, 2, 2


def stub_torchvision():
    """timm imports torchvision at import time, for features these fixtures do not use.
    A CPU build of torchvision matching the installed torch is not always available, so
    any `torchvision.*` import gets an empty stand-in module."""

    class _Meta(type):
        def __getattr__(cls, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return f"{cls.__name__}.{attr}"

    class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name == "torchvision" or name.startswith("torchvision."):
                return importlib.machinery.ModuleSpec(name, self, is_package=True)

        def create_module(self, spec):
            m = types.ModuleType(spec.name)
            m.__path__ = []

            def getattr_(attr):
                if attr.startswith("__"):
                    raise AttributeError(attr)
                return _Meta(attr, (torch.nn.Module,), {})

            m.__getattr__ = getattr_
            return m

        def exec_module(self, module):
            pass

    finder = _Finder()
    sys.meta_path.insert(0, finder)
    return finder


def _torchvision_installed():
    """Whether a torchvision distribution is installed (broken or not); then the stand-in
    stays, so that transformers never imports the real one."""
    import importlib.metadata
    try:
        importlib.metadata.version("torchvision")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def unstub_torchvision(finder):
    """Removes the stand-in again (transformers probes torchvision's version when present)."""
    sys.meta_path.remove(finder)
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]


def randomize(model, seed):
    """Random values for every parameter and the saved buffers that are weights."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if p.ndim >= 2 and not any(t in name for t in ("token", "pos", "position")):
                fan_in = p[0].numel()
                p.copy_(r / fan_in ** 0.5)
            elif any(t in name for t in ("gamma", "lambda1")):
                p.copy_(0.5 + 0.2 * r)
            elif name.endswith("weight") and p.ndim == 1:   # norms
                p.copy_(1 + 0.2 * r)
            else:                                          # biases, tokens, position embeddings
                p.copy_(0.3 * r)
    model.eval()
    return model


def images(seed, h, w):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, 3, h, w, generator=g)


def save_case(name, state_dict, layout, config, io):
    OUT.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().contiguous().clone() for k, v in state_dict.items()}
    save_file(sd, str(OUT / f"{name}.safetensors"))
    tensors = {k: v.detach().contiguous().float() for k, v in io.items()}
    save_file(tensors, str(OUT / f"{name}.io.safetensors"),
              metadata={"config": json.dumps(config), "layout": layout})
    size = sum((OUT / f).stat().st_size for f in (f"{name}.safetensors", f"{name}.io.safetensors"))
    print(f"{name:28s} {layout:13s} {len(sd):4d} keys  {size / 1024:7.1f} KiB")


# --- our configs (JSON as VisionTransformerConfig decodes it) ---------------------------

def cfg_v1(img, patch):
    return dict(family="dino", img_size=img, patch_size=patch, embed_dim=D, depth=DEPTH, num_heads=HEADS,
                norm_eps=1e-6, mask_token=False, learned_position=dict(interpolate_offset=0.1, interpolate_antialias=False))


def cfg_v2(img, patch, registers=0, swiglu=False, offset=0.1, antialias=False, mask_token=True):
    c = dict(family="dinov2", img_size=img, patch_size=patch, embed_dim=D, depth=DEPTH, num_heads=HEADS,
             layerscale_init=1.0, norm_eps=1e-6, num_register_tokens=registers, mask_token=mask_token,
             learned_position=dict(interpolate_offset=offset, interpolate_antialias=antialias))
    if swiglu:
        c.update(ffn_layer="swiglu", swiglu_layout="packed")
    return c


def cfg_v3(img, patch, ffn_ratio=4, swiglu=False, registers=4):
    c = dict(family="dinov3", img_size=img, patch_size=patch, embed_dim=D, depth=DEPTH, num_heads=HEADS,
             ffn_ratio=ffn_ratio, layerscale_init=1e-5, norm_eps=1e-5, num_register_tokens=registers,
             mask_token=True, rope=dict(base=100, normalize_coords="separate", rescale_coords=2),
             mask_k_bias=True)
    if swiglu:
        c.update(ffn_layer="swiglu", swiglu_layout="split")
    return c


# --- reference forward passes -----------------------------------------------------------

def official_v2_io(model, inputs, registers, masks_for=None, blocks_for=None):
    io = {}
    for key, x in inputs.items():
        io[key] = x
        out = model.forward_features(x)
        io[f"{key}.cls"] = out["x_norm_clstoken"]
        io[f"{key}.patch"] = out["x_norm_patchtokens"]
        if registers:
            io[f"{key}.reg"] = out["x_norm_regtokens"]
    if masks_for:
        x = inputs[masks_for]
        n = io[f"{masks_for}.patch"].shape[1]
        g = torch.Generator().manual_seed(99)
        masks = torch.rand(BATCH, n, generator=g) < 0.4
        out = model.forward_features(x, masks=masks)
        io["masks"] = masks.float()
        io["masked.cls"] = out["x_norm_clstoken"]
        io["masked.patch"] = out["x_norm_patchtokens"]
    if blocks_for:
        outs = model.get_intermediate_layers(inputs[blocks_for], n=2, return_class_token=True, norm=True)
        for i, (patch, cls) in enumerate(outs):
            io[f"block{i}.patch"] = patch
            io[f"block{i}.cls"] = cls
    return io


def official_v3_io(model, inputs, masks_for=None):
    io = {}
    for key, x in inputs.items():
        io[key] = x
        out = model.forward_features(x)
        io[f"{key}.cls"] = out["x_norm_clstoken"]
        io[f"{key}.patch"] = out["x_norm_patchtokens"]
        io[f"{key}.reg"] = out["x_storage_tokens"]
    if masks_for:
        x = inputs[masks_for]
        n = io[f"{masks_for}.patch"].shape[1]
        g = torch.Generator().manual_seed(99)
        masks = torch.rand(BATCH, n, generator=g) < 0.4
        out = model.forward_features(x, masks=masks)
        io["masks"] = masks.float()
        io["masked.cls"] = out["x_norm_clstoken"]
        io["masked.patch"] = out["x_norm_patchtokens"]
    return io


def split_tokens(tokens, registers):
    return tokens[:, 0], tokens[:, 1:1 + registers], tokens[:, 1 + registers:]


class _Evil:
    """Pickles as a call to os.system: a checkpoint our unpickler must refuse, never run."""

    def __reduce__(self):
        import os
        return (os.system, ("echo this must never run",))


def torch_checkpoints():
    """Small `.pth` files for the restricted unpickler (Fixtures/pth/), with the expected
    tensors as float32 in `expected.safetensors`."""
    import argparse as ap_module
    out = ROOT / "Tests/DinoModelsTests/Fixtures/pth"
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    base = torch.randn(3, 4, generator=g)
    tensors = {
        "float": base,
        "half": torch.randn(5, generator=g).half(),
        "bfloat16": torch.randn(2, 3, generator=g).bfloat16(),
        "double": torch.randn(4, generator=g).double(),
        "long": torch.tensor([1, -2, 3_000_000_000]),
        "int": torch.tensor([[7, -8]], dtype=torch.int32),
        "bool": torch.tensor([True, False, True]),
        "transposed": base.t(),               # strided view of the same storage as "float"
        "row": base[1],                       # offset view of the same storage
        "scalar": torch.tensor(2.5),
    }
    expected = {k: v.float().contiguous().clone() for k, v in tensors.items()}
    expected["long"] = tensors["long"].double().float()
    torch.save(tensors, out / "tensors.pth")
    save_file(expected, str(out / "expected.safetensors"))
    # A DINO-style training checkpoint: wrapped sub-dicts, DDP and backbone prefixes, argparse args.
    weights = {"module.backbone.cls_token": base[:1].clone(), "module.backbone.norm.weight": torch.ones(4),
               "module.head.last_layer.weight": torch.zeros(2, 4)}
    torch.save({"teacher": weights, "student": {"module.backbone.cls_token": torch.zeros(1, 4)}, "epoch": 3,
                "args": ap_module.Namespace(lr=0.1), "optimizer": {"param_groups": [{"lr": 0.5, "nesterov": False,
                                                                                     "betas": (0.9, 0.999), "name": None}]}},
               out / "training.pth")
    # A DINOv2-style training checkpoint: one "model" dict with teacher./student. prefixes.
    torch.save({"model": {"teacher.backbone.cls_token": base[:1].clone(), "teacher.dino_head.w": torch.ones(2),
                          "student.backbone.cls_token": torch.zeros(1, 4)}, "iteration": 10}, out / "dinov2_training.pth")
    torch.save({"weights": torch.ones(2), "payload": _Evil()}, out / "malicious.pth")
    print(f"pth fixtures: {sum(f.stat().st_size for f in out.iterdir()) / 1024:.1f} KiB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dino", required=True)
    ap.add_argument("--dinov2", required=True)
    ap.add_argument("--dinov3", required=True)
    args = ap.parse_args()
    sys.path[:0] = [args.dino, args.dinov2, args.dinov3]
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)   # bit-identical outputs from run to run
    torch_checkpoints()

    import vision_transformer as dino_vits
    from dinov2.models import vision_transformer as v2vits
    from dinov3.models.vision_transformer import DinoVisionTransformer as V3ViT
    finder = stub_torchvision()
    import timm
    if not _torchvision_installed():
        unstub_torchvision(finder)   # transformers probes the version of a torchvision it finds
    from transformers.models.dinov2.configuration_dinov2 import Dinov2Config
    from transformers.models.dinov2.modeling_dinov2 import Dinov2Model
    from transformers.models.dinov2_with_registers.configuration_dinov2_with_registers import Dinov2WithRegistersConfig
    from transformers.models.dinov2_with_registers.modeling_dinov2_with_registers import Dinov2WithRegistersModel
    from transformers.models.dinov3_vit.configuration_dinov3_vit import DINOv3ViTConfig
    from transformers.models.dinov3_vit.modeling_dinov3_vit import DINOv3ViTModel

    # DINO v1: 32 px, patch 8 (4×4 grid); interpolation to 48×40 (6×5, non-square).
    m = randomize(dino_vits.VisionTransformer(img_size=[32], patch_size=8, embed_dim=D, depth=DEPTH, num_heads=HEADS,
                                              qkv_bias=True, norm_layer=lambda d: torch.nn.LayerNorm(d, eps=1e-6)), 1)
    io = {}
    for key, (h, w) in {"native": (32, 32), "resized": (48, 40)}.items():
        x = images(10 + h, h, w)
        tokens = m.get_intermediate_layers(x, n=1)[0]
        io[key], io[f"{key}.cls"], io[f"{key}.patch"] = x, tokens[:, 0], tokens[:, 1:]
    io["native.attention"] = m.get_last_selfattention(io["native"])
    save_case("dino_official", m.state_dict(), "official", cfg_v1(32, 8), io)
    torch.save(m.state_dict(), ROOT / "Tests/DinoModelsTests/Fixtures/pth/dino_official.pth")   # for `dino convert`

    # DINOv2: img 56, patch 14 (4×4), offset-0.1 interpolation to 70×84 (5×6), masks, blocks.
    def v2(**kw):
        base = dict(img_size=56, patch_size=14, embed_dim=D, depth=DEPTH, num_heads=HEADS, init_values=1.0, block_chunks=0)
        base.update(kw)
        return v2vits.DinoVisionTransformer(**base)

    inputs = {"native": images(20, 56, 56), "resized": images(21, 70, 84)}
    m = randomize(v2(), 2)
    save_case("dinov2_official", m.state_dict(), "official", cfg_v2(56, 14),
              official_v2_io(m, inputs, 0, masks_for="native", blocks_for="native"))

    # DINOv2 with registers: antialiased interpolation, 42×98 (3×7: shrinks one axis, grows the other).
    inputs_reg = {"native": images(22, 56, 56), "resized": images(23, 42, 98)}
    m = randomize(v2(num_register_tokens=4, interpolate_antialias=True, interpolate_offset=0.0), 3)
    save_case("dinov2_reg_official", m.state_dict(), "official", cfg_v2(56, 14, 4, offset=0, antialias=True),
              official_v2_io(m, inputs_reg, 4, masks_for="native"))

    # DINOv2 giant-style packed SwiGLU.
    m = randomize(v2(ffn_layer="swiglufused"), 4)
    save_case("dinov2_swiglu_official", m.state_dict(), "official", cfg_v2(56, 14, swiglu=True),
              official_v2_io(m, {"native": inputs["native"]}, 0))

    # DINOv3: img 32, patch 8, RoPE at 32×32 and 48×40, 4 storage tokens, masked key bias.
    def v3(**kw):
        base = dict(img_size=32, patch_size=8, embed_dim=D, depth=DEPTH, num_heads=HEADS, pos_embed_rope_base=100,
                    pos_embed_rope_normalize_coords="separate", pos_embed_rope_rescale_coords=2,
                    pos_embed_rope_dtype="fp32", layerscale_init=1e-5, norm_layer="layernormbf16",
                    n_storage_tokens=4, mask_k_bias=True, qkv_bias=True)
        base.update(kw)
        m = V3ViT(**base)
        m.init_weights()    # periods and bias_mask
        return m

    inputs3 = {"native": images(30, 32, 32), "resized": images(31, 48, 40)}
    m = randomize(v3(), 5)
    save_case("dinov3_official", m.state_dict(), "official", cfg_v3(32, 8), official_v3_io(m, inputs3, masks_for="native"))
    m = randomize(v3(ffn_ratio=6, ffn_layer="swiglu"), 6)
    save_case("dinov3_swiglu_official", m.state_dict(), "official", cfg_v3(32, 8, 6, swiglu=True),
              official_v3_io(m, {"native": inputs3["native"]}))

    # timm, at the native size only (timm resizes position embeddings its own way).
    def timm_case(name, arch, config, registers, seed, x, **kw):
        m = randomize(timm.create_model(arch, pretrained=False, num_classes=0, embed_dim=D, depth=DEPTH,
                                        num_heads=HEADS, **kw), seed)
        tokens = m.forward_features(x)
        cls, reg, patch = split_tokens(tokens, registers)
        io = {"native": x, "native.cls": cls, "native.patch": patch}
        if registers:
            io["native.reg"] = reg
        save_case(name, m.state_dict(), "timm", config, io)

    timm_case("dinov2_timm", "vit_small_patch14_dinov2", cfg_v2(56, 14), 0, 7, inputs["native"], img_size=56)
    timm_case("dinov2_reg_timm", "vit_small_patch14_reg4_dinov2", cfg_v2(56, 14, 4, offset=0, antialias=True),
              4, 8, inputs["native"], img_size=56)
    timm_case("dinov3_timm", "vit_small_patch16_dinov3", cfg_v3(32, 8), 4, 9, inputs3["native"],
              img_size=32, patch_size=8)
    timm_case("dinov3_swiglu_timm", "vit_small_plus_patch16_dinov3_qkvb", cfg_v3(32, 8, 6, swiglu=True), 4, 10,
              inputs3["native"], img_size=32, patch_size=8)

    # Hugging Face transformers.
    def hf_io(m, inputs, registers):
        io = {}
        for key, x in inputs.items():
            tokens = m(pixel_values=x).last_hidden_state
            cls, reg, patch = split_tokens(tokens, registers)
            io[key], io[f"{key}.cls"], io[f"{key}.patch"] = x, cls, patch
            if registers:
                io[f"{key}.reg"] = reg
        return io

    def hf_saved_names(sd):
        """transformers 5 in-memory names back to the names saved on the hub (DINOv2 giant's
        SwiGLU as one packed `weights_in` = [gate; up] and `weights_out`)."""
        out = {}
        for k, v in sd.items():
            k = (k.replace("attention.q_proj", "attention.attention.query")
                  .replace("attention.k_proj", "attention.attention.key")
                  .replace("attention.v_proj", "attention.attention.value")
                  .replace("attention.o_proj", "attention.output.dense")
                  .replace("mlp.down_proj", "mlp.weights_out"))
            if "mlp.gate_proj" in k:
                k_up = k.replace("mlp.gate_proj", "mlp.up_proj")
                out[k.replace("mlp.gate_proj", "mlp.weights_in")] = torch.cat([v, sd[k_up]], dim=0)
                continue
            if "mlp.up_proj" in k:
                continue
            out[k] = v
        return out

    hf = dict(hidden_size=D, num_hidden_layers=DEPTH, num_attention_heads=HEADS, image_size=56, patch_size=14,
              layerscale_value=1.0)
    m = randomize(Dinov2Model(Dinov2Config(**hf)), 11)
    save_case("dinov2_transformers", hf_saved_names(m.state_dict()), "transformers",
              cfg_v2(56, 14, offset=0, antialias=False), hf_io(m, inputs, 0))
    m = randomize(Dinov2Model(Dinov2Config(use_swiglu_ffn=True, **hf)), 15)
    save_case("dinov2_swiglu_transformers", hf_saved_names(m.state_dict()), "transformers",
              cfg_v2(56, 14, swiglu=True, offset=0, antialias=False), hf_io(m, {"native": inputs["native"]}, 0))
    m = randomize(Dinov2WithRegistersModel(Dinov2WithRegistersConfig(num_register_tokens=4, **hf)), 12)
    save_case("dinov2_reg_transformers", m.state_dict(), "transformers",
              cfg_v2(56, 14, 4, offset=0, antialias=True), hf_io(m, inputs_reg, 4))
    hf3 = dict(hidden_size=D, num_hidden_layers=DEPTH, num_attention_heads=HEADS, intermediate_size=4 * D,
               image_size=32, patch_size=8, num_register_tokens=4)
    m = randomize(DINOv3ViTModel(DINOv3ViTConfig(**hf3)), 13)
    saved = {k.removeprefix("model."): v for k, v in m.state_dict().items()}
    save_case("dinov3_transformers", saved, "transformers", cfg_v3(32, 8), hf_io(m, inputs3, 4))
    # Gated: intermediate = int(6 · D · 2/3) for our ffn_ratio 6; SiLU as the released configs
    # (transformers' default hidden_act is gelu).
    hf3.update(intermediate_size=128, use_gated_mlp=True, hidden_act="silu")
    m = randomize(DINOv3ViTModel(DINOv3ViTConfig(**hf3)), 14)
    save_case("dinov3_swiglu_transformers", m.state_dict(), "transformers", cfg_v3(32, 8, 6, swiglu=True),
              hf_io(m, {"native": inputs3["native"]}, 4))

    total = sum(f.stat().st_size for f in OUT.iterdir())
    print(f"total {total / 1024 / 1024:.2f} MiB in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
