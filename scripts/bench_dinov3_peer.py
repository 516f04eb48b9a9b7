#!/usr/bin/env python3
"""PyTorch peer of `dino train --method dinov3` for the speed comparison of issue 12 (docs/dinov3.md).

A plain PyTorch training loop around the official DINOv3 code, run unchanged from a checkout of
facebookresearch/dinov3 (`--dinov3 PATH`; nothing of it is copied here):

  backbone    dinov3/models/vision_transformer.py DinoVisionTransformer with the sizes of
              swift-dino's `dinov3_vit_nano_patch4` (128 wide, 6 blocks, 4 heads, patch 4, 32 px,
              RoPE base 100 with separate normalisation and rescale 2 in training, 4 storage
              tokens, LayerScale, masked key bias, drop path 0.1 on a batch subset)
  heads       dinov3/layers/dino_head.py DINOHead ×2 (DINO and iBOT, 2048 hidden, 256 bottleneck,
              1024 prototypes), as swift-dino resolves them for this model and data
  step        SSLMetaArch.forward_backward, get_teacher_output, get_student_output,
              get_gram_teacher_output, compute_losses, update_ema and gram_load_ema_teacher, taken
              out of dinov3/train/ssl_meta_arch.py with `ast` and run on a stand-in module that
              holds the official DINOLoss, iBOTPatchLoss, KoLeoLoss and GramLoss (SSLMetaArch
              itself needs CUDA and FSDP; its __init__ is replaced by the attributes it sets)
  masks       dinov3/data/masking.py MaskingGenerator and dinov3/data/collate.py
              collate_data_and_cast (exact-count masks, max_num_patches as train.py)
  optimiser   train.py's loop: param groups of dinov3/train/param_groups.py (layer decay 0.9,
              patch-embed lr ×0.2, no decay on biases, norms and gammas), fused as
              multi_tensor_optim does, AdamW, apply_optim_scheduler, gradient clipping at 3 per
              module, teacher EMA
  crops       2 × 32 px (scale 0.32–1) and 6 × 16 px (scale 0.05–0.32), DINO's distortions as PIL
              operations (scripts/bench_dino_peer.py: torchvision is not importable on the
              benchmark machine), ImageNet normalisation; `--gram`: the Gram teacher sees the
              global crops (gram_teacher_crops_size = the global size), loaded from the EMA teacher
              before step 0 (gram.it_load_ema_teacher 0)

iBOT's Sinkhorn-Knopp module is compiled by the reference (`module.compile()`); here it runs
eagerly unless `--compile-sk` is given, so that the loop is PyTorch eager throughout.

Timing: steps `--warmup` (default 2) are not counted; the next `--steps` (default 12) are,
loader waits included (one worker process by default, as swift-dino's loader runs beside the
step). Prints one JSON object: images/s, seconds, steps, threads. `--profile` instead runs
torch.profiler over the `--steps` steps after `--warmup`, by phase (the loss's backward is
taken out of forward_backward, which then only computes the loss, and run as its own phase
right after it) and by op, as scripts/bench_dino_peer.py does, for scripts/bench_profile_join.py.

Usage: python3 scripts/bench_dinov3_peer.py --dinov3 PATH --train DIR [--batch-size 64]
       [--threads N] [--workers 1] [--warmup 2] [--steps 12] [--gram] [--compile-sk]
       [--profile --profile-json FILE]
"""

import argparse
import contextlib
import json
import os
import sys
import time
from types import SimpleNamespace

import torch
import torch.distributed as dist
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_dino_peer as peer  # noqa: E402  (the PIL multi-crop and image folder)
from make_dinov3_fixtures import load_function, load_module  # noqa: E402  (one function of a file, with `ast`)


class MultiCropDINOv3(torch.utils.data.Dataset):
    """The reference's sample layout ({"global_crops", "local_crops"[, "gram_teacher_crops"]}, label)."""

    def __init__(self, items, gram):
        self.crops = peer.MultiCrop(items, 32, 16, 6, global_scale=(0.32, 1.0), local_scale=(0.05, 0.32))
        self.gram = gram

    def __len__(self):
        return len(self.crops)

    def __getitem__(self, i):
        views = self.crops[i]
        sample = {"global_crops": views[:2], "local_crops": views[2:]}
        if self.gram:
            sample["gram_teacher_crops"] = views[:2]
        return sample, 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dinov3", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--gram", action="store_true")
    p.add_argument("--compile-sk", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--profile-json", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    v3 = os.path.abspath(a.dinov3)
    sys.path.insert(0, v3)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # forward_backward moves its batch with .cuda()
    if not dist.is_initialized():  # iBOT's Sinkhorn-Knopp all-reduces its sample count: one process
        dist.init_process_group("gloo", init_method="tcp://127.0.0.1:29541", rank=0, world_size=1)
    from dinov3.layers.dino_head import DINOHead
    from dinov3.loss import DINOLoss, GramLoss, iBOTPatchLoss, KoLeoLoss
    from dinov3.models.vision_transformer import DinoVisionTransformer
    groups = load_module(v3, "dinov3/train/param_groups.py")
    masking = load_module(v3, "dinov3/data/masking.py")
    collate = load_module(v3, "dinov3/data/collate.py").collate_data_and_cast
    apply_optim_scheduler = load_function(v3, "dinov3/train/train.py", "apply_optim_scheduler")
    # Decorators are dropped by load_function; torch.no_grad goes back where the reference has it.
    methods = {name: load_function(v3, "dinov3/train/ssl_meta_arch.py", name, "SSLMetaArch")
               for name in ("forward_backward", "get_teacher_output", "get_student_output", "get_gram_teacher_output",
                            "compute_losses", "backprop_loss", "update_ema", "gram_load_ema_teacher")}

    K, P, D = 1024, 4, 128

    def backbone():
        return DinoVisionTransformer(img_size=32, patch_size=P, embed_dim=D, depth=6, num_heads=4, ffn_ratio=4,
                                     pos_embed_rope_base=100, pos_embed_rope_normalize_coords="separate",
                                     pos_embed_rope_rescale_coords=2, pos_embed_rope_dtype="fp32",
                                     drop_path_rate=0.1, layerscale_init=1.0, norm_layer="layernorm",
                                     n_storage_tokens=4, mask_k_bias=True)

    def head():
        return DINOHead(in_dim=D, out_dim=K, hidden_dim=2048, bottleneck_dim=256, nlayers=3)

    class Meta(nn.Module):  # what SSLMetaArch.__init__ sets, for this model and recipe
        def __init__(self):
            super().__init__()
            self.student = nn.ModuleDict(dict(backbone=backbone(), dino_head=head(), ibot_head=head()))
            self.teacher = nn.ModuleDict(dict(backbone=backbone(), dino_head=head(), ibot_head=head()))
            for m in (*self.student.values(), *self.teacher.values()):
                m.init_weights()
            self.teacher.load_state_dict(self.student.state_dict())
            self.teacher.requires_grad_(False)
            self.model_ema = self.teacher
            self.dino_loss, self.ibot_patch_loss, self.koleo_loss = DINOLoss(K), iBOTPatchLoss(K), KoLeoLoss()
            if not a.compile_sk:
                self.ibot_patch_loss.sinkhorn_knopp_teacher._compiled_call_impl = None
            self.cfg = SimpleNamespace(dino=SimpleNamespace(reweight_dino_local_loss=False),
                                       student=SimpleNamespace(patch_size=P))
            self.n_local_crops, self.is_distillation_enabled = 6, False
            self.dino_global_ignore_diagonal, self.dino_loss_weight = True, 1.0
            self.dino_koleo_loss_weight, self.ibot_loss_weight = 0.1, 1.0
            self.ema_params_lists = None
            self.gram_use_loss = self.has_gram_teacher = a.gram
            self.gram_ema_teacher, self.gram_teacher_initialized = False, False
            if a.gram:
                self.gram_teacher = nn.ModuleDict(dict(backbone=backbone()))
                self.gram_teacher.requires_grad_(False)
                self.gram_loss = GramLoss(apply_norm=True, remove_only_teacher_neg=False, remove_neg=False)
                self.gram_loss_weight, self.gram_loss_schedule = 1.0, None
                self.gram_img_level, self.gram_tokens_used, self.gram_compute_stats = False, "all", False
                self.gram_global_teacher_resize_method, self.gram_global_teacher_resize_antialias = "bicubic", False

        def train(self, mode=True):
            super().train(mode)
            self.teacher.eval()
            if self.has_gram_teacher:
                self.gram_teacher.eval()
            return self

    for name, f in methods.items():
        if name in ("get_teacher_output", "gram_load_ema_teacher"):
            f = torch.no_grad()(f)
        setattr(Meta, name, f)
    if a.profile:  # the backward as a phase of its own, right after forward_backward returns
        Meta.backprop_loss = lambda self, loss: None
    model = Meta()
    model.train()
    if a.gram:
        model.gram_load_ema_teacher()  # gram.it_load_ema_teacher = 0

    param_groups = []
    for m in model.student.values():
        param_groups += groups.fuse_params_groups(groups.get_params_groups_with_decay_fsdp(
            model=m, lr_decay_rate=0.9, patch_embed_lr_mult=0.2, dino_head_wd_multiplier=1.0))
    for g in param_groups:
        g["foreach"] = True
        g["fused"] = True
    optimizer = torch.optim.AdamW(param_groups, betas=(0.9, 0.999))

    items, _ = peer.image_folder(a.train) if any(os.path.isdir(os.path.join(a.train, d)) for d in os.listdir(a.train)) \
        else ([(os.path.join(a.train, f), 0) for f in sorted(os.listdir(a.train)) if f.lower().endswith(peer.EXTENSIONS)], None)
    generator = masking.MaskingGenerator(input_size=(8, 8), max_num_patches=0.5 * 32 // P * 32 // P)
    collate_fn = lambda samples: collate(samples, mask_ratio_tuple=(0.1, 0.5), mask_probability=0.5,
                                         dtype=torch.float32, n_tokens=64, mask_generator=generator)
    loader = torch.utils.data.DataLoader(MultiCropDINOv3(items, a.gram), batch_size=a.batch_size, shuffle=True,
                                         drop_last=True, num_workers=a.workers, collate_fn=collate_fn,
                                         worker_init_fn=peer.seed_worker, persistent_workers=a.workers > 0)
    total = a.warmup + a.steps
    it, start, profiler = 0, None, None

    def phase(name):
        return torch.profiler.record_function("phase: " + name) if profiler is not None else contextlib.nullcontext()

    batches = iter(loader)
    while it < total:
        if it == a.warmup:
            start = time.perf_counter()
            if a.profile:
                profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                profiler.__enter__()
        with phase("data"):
            try:
                data = next(batches)
            except StopIteration:
                batches = iter(loader)
                data = next(batches)
        data["global_batch_size"] = a.batch_size
        apply_optim_scheduler(optimizer, 0.001, 0.04, 0.0)  # last layer frozen at the start, as the reference
        with phase("zero grad"):
            optimizer.zero_grad(set_to_none=True)
        with phase("forward"):
            loss, _ = model.forward_backward(data, teacher_temp=0.006, iteration=it)
        if a.profile:
            with phase("backward"):
                loss.backward()
        with phase("gradient clipping"):
            for m in model.student.values():
                torch.nn.utils.clip_grad_norm_(m.parameters(), max_norm=3.0)
        with phase("optimizer"):
            optimizer.step()
        with phase("EMA, centre, monitors"):
            model.update_ema(0.99)
        it += 1
    seconds = time.perf_counter() - start
    if profiler is not None:
        profiler.__exit__(None, None, None)
        peer.write_profile(profiler, a.steps, a.profile_json)
    print(json.dumps({"side": "pytorch", "method": "dinov3", "gram": a.gram, "steps": a.steps, "seconds": round(seconds, 2),
                      "images_per_second": round(a.steps * a.batch_size / seconds, 2), "threads": a.threads,
                      "torch": torch.__version__, "loss": round(float(loss.detach()), 4)}))



if __name__ == "__main__":
    main()
