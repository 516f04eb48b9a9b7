#!/usr/bin/env python3
"""Golden values for the dense evaluations of DinoEval (depth and video), from the reference code.

Runs the official modules themselves, read from source checkouts given on the command line
(nothing of theirs is committed here); writes small JSON fixtures under Tests/DinoEvalTests/Fixtures:

  depth.json   DINOv2's linear depth head (dinov2/hub/depth/decode_heads.py BNHead: lin.1 and lin.4,
               class token concatenated, bilinear x4, 1x1 conv, 256 "UD" bins, "linear" norm);
               DINOv3's LinearHead with batch norm + FeaturesToDepth (train-mode batch statistics,
               then eval mode with the updated running ones); SigLoss of dinov2 (valid mask, max
               depth, warm-up, weight) and of dinov3 on predictions whose ratio to the truth varies
               per pixel, with the gradient; dinov3's GradientLogLoss with a mask and its gradient;
               dinov3 calculate_depth_metrics inside eval.py's per-image handling (range, clamp,
               nanmean); dinov3's WarmupOneCycleLR learning rates.
  davis/       2 clips x 8 frames of videos-dev in the DAVIS-2017 layout (JPEGImages/480p/*.jpg,
               Annotations/480p/*.png palette masks, ImageSets/2017/val.txt); davis-results/ predicted
               masks (the truth shifted, an object dropped, a false blob); davis.json:
               davis2017-evaluation's DAVISEvaluation (semi-supervised) of those predictions per
               object and J&F, one frame's db_eval_iou/db_eval_boundary, db_statistics.
  propagation.json  DINO's eval_video_tracking_davis (its own label_propagation, queue, top-k,
               window, norm_mask, upsampling and PIL resizes) on synthetic features of 6 frames,
               with read_frame / extract_feature / imwrite_indexed replaced by lookups.
  linear_protocol.json  dinov2/eval/linear.py: create_linear_input of (1 | 4 blocks) x (avgpool or
               not), and setup_linear_classifiers' 52 names, scaled rates and input widths.
  depth-nyu/   4 train and 2 val scenes of scenes-dev in the NYU-style layout
               (images/{train,val}/scene/*.png, depth/{train,val}/scene/*.png: 16-bit, mm), and
  depth_layout.json  what PIL reads from each depth PNG (sum, min, max, first row, in mm).

Usage:
  python3 scripts/make_eval_fixtures.py --dinov2 SRC --dinov3 SRC --dino SRC --davis SRC \\
      --scenes ../shared/datasets/scenes-dev --videos ../shared/datasets/videos-dev
where each SRC is a checkout of facebookresearch/dinov2, facebookresearch/dinov3,
facebookresearch/dino and davisvideochallenge/davis2017-evaluation (needs torch, numpy, pillow,
opencv-python-headless, scikit-image, scipy from PyPI).

Where a reference module cannot run on one CPU process as written, the smallest change is made
to its source text before it is executed, and listed here:
  - dinov3 LinearHead: nn.SyncBatchNorm -> nn.BatchNorm2d (the same statistics on one process;
    SyncBatchNorm refuses CPU tensors).
  - dino eval_video_segmentation.py: `.cuda()` calls removed, `tqdm` replaced by the identity,
    the unused `utils` / `vision_transformer` / torchvision imports dropped.
  - registry decorators (@LOSSES.register_module) and relative imports are removed or replaced
    by the imported module's own text.
"""

import argparse
import ast
import json
import math
import os
import sys
import types

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "DinoEvalTests", "Fixtures")


def flat(t):
    """The values of a tensor, row-major, to 10 significant digits (the tests compare in float32)."""
    return [float(f"{x:.10g}") for x in torch.as_tensor(t).detach().reshape(-1).tolist()]


def load_module(name, path, replacements=(), namespace=None):
    """Executes the source at `path` as a module, after the listed text replacements."""
    text = open(path).read()
    for old, new in replacements:
        assert old in text, f"{path}: '{old}' not found"
        text = text.replace(old, new)
    module = types.ModuleType(name)
    if namespace:
        module.__dict__.update(namespace)
    exec(compile(text, path, "exec"), module.__dict__)
    return module


def extract(path, names, namespace):
    """Executes only the named top-level functions/classes of a file (their own text)."""
    text = open(path).read()
    tree = ast.parse(text)
    module = types.ModuleType("extract")
    module.__dict__.update(namespace)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            exec(compile(ast.Module([node], []), path, "exec"), module.__dict__)
    return module


def depth_fixture(dinov2, dinov3):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    out = {}

    # --- DINOv2 BNHead (hub), lin.1 and lin.4 -------------------------------------------------
    ops = load_module("ops", f"{dinov2}/dinov2/hub/depth/ops.py")
    heads = load_module("decode_heads", f"{dinov2}/dinov2/hub/depth/decode_heads.py",
                        [("from .ops import resize", "")], {"resize": ops.resize})
    n, d, h, w = 2, 3, 3, 2
    for layers in (1, 4):
        in_index = list(range(layers))
        head = heads.BNHead(classify=True, n_bins=256, bins_strategy="UD", norm_strategy="linear", upsample=4,
                            in_channels=[d] * layers, in_index=in_index, input_transform="resize_concat",
                            channels=d * layers * 2, align_corners=False, min_depth=0.001, max_depth=10.0,
                            loss_decode=())
        with torch.no_grad():
            head.conv_depth.weight.copy_(torch.randn(head.conv_depth.weight.shape, generator=g) * 0.5)
            head.conv_depth.bias.copy_(torch.randn(256, generator=g) * 0.5)
        patches = [torch.randn(n, d, h, w, generator=g) for _ in range(layers)]
        classes = [torch.randn(n, d, generator=g) for _ in range(layers)]
        y = head([(p, c) for p, c in zip(patches, classes)])
        out[f"dinov2_lin{layers}"] = {
            "shape": [n, h, w, d],
            "patch_tokens": [flat(p.permute(0, 2, 3, 1)) for p in patches],   # (N, h, w, D) per block
            "class_tokens": [flat(c) for c in classes],
            "weight": flat(head.conv_depth.weight.reshape(256, -1)),
            "bias": flat(head.conv_depth.bias),
            "depth_shape": list(y.shape),
            "depth": flat(y),
        }

    # --- DINOv3 LinearHead with batch norm + FeaturesToDepth ------------------------------------
    lin = load_module("linear_head", f"{dinov3}/dinov3/eval/depth/models/linear_head.py",
                      [("nn.SyncBatchNorm(self.channels)", "nn.BatchNorm2d(self.channels)")])
    ftd = extract(f"{dinov3}/dinov3/eval/depth/models/__init__.py", {"FeaturesToDepth"}, {"torch": torch})
    d3 = 4
    head = lin.LinearHead(in_channels=[d3], n_output_channels=256, use_batchnorm=True, use_cls_token=False)
    to_depth = ftd.FeaturesToDepth(min_depth=0.001, max_depth=10.0, bins_strategy="linear", norm_strategy="linear")
    with torch.no_grad():
        head.conv_depth.weight.copy_(torch.randn(head.conv_depth.weight.shape, generator=g) * 0.5)
        head.conv_depth.bias.copy_(torch.randn(256, generator=g) * 0.5)
        head.batchnorm_layer.weight.copy_(1 + 0.1 * torch.randn(d3, generator=g))
        head.batchnorm_layer.bias.copy_(0.1 * torch.randn(d3, generator=g))
    patch = torch.randn(n, d3, h, w, generator=g) * 2 + 1
    head.train()
    y_train = to_depth(head([(patch, torch.zeros(n, d3))]))
    head.eval()
    y_eval = to_depth(head([(patch, torch.zeros(n, d3))]))
    out["dinov3_bn"] = {
        "shape": [n, h, w, d3],
        "patch_tokens": [flat(patch.permute(0, 2, 3, 1))],
        "weight": flat(head.conv_depth.weight.reshape(256, -1)),
        "bias": flat(head.conv_depth.bias),
        "bn_weight": flat(head.batchnorm_layer.weight),
        "bn_bias": flat(head.batchnorm_layer.bias),
        "depth_shape": list(y_train.shape),
        "depth_train": flat(y_train),
        "depth_eval": flat(y_eval),
        "running_mean": flat(head.batchnorm_layer.running_mean),
        "running_var": flat(head.batchnorm_layer.running_var),
    }

    # --- SigLoss (dinov2 and dinov3) -------------------------------------------------------------
    sig2 = load_module("sigloss", f"{dinov2}/dinov2/eval/depth/models/losses/sigloss.py",
                       [("from ...models.builder import LOSSES", ""), ("@LOSSES.register_module()", "")])
    loss3 = load_module("loss3", f"{dinov3}/dinov3/eval/depth/loss.py")
    shape = (2, 1, 6, 5)
    truth = torch.rand(shape, generator=g) * 11 + 0.5
    truth[0, 0, 1, 2] = 0          # unknown
    truth[1, 0, 4, 0] = 0
    truth[1, 0, 2, 3] = 10.7       # beyond max_depth
    ratio = torch.exp(0.4 * torch.randn(shape, generator=g) + 0.1)   # varies per pixel
    pred = (truth.clamp(min=0.3) * ratio).requires_grad_(True)
    values2 = []
    loss = sig2.SigLoss(valid_mask=True, loss_weight=1.0, max_depth=10.0, warm_up=True, warm_iter=2)
    for _ in range(3):
        values2.append(float(loss(pred, truth)))
    full = sig2.SigLoss(valid_mask=True, loss_weight=10.0, max_depth=10.0, warm_up=False)(pred, truth)
    grad, = torch.autograd.grad(full, pred)
    valid = torch.logical_and(truth > 0, truth <= 10.0)
    values3 = []
    loss = loss3.SigLoss(warm_up=True, warm_iter=2)
    for _ in range(3):
        values3.append(float(loss(pred, truth, valid)))
    out["sigloss"] = {
        "shape": list(shape), "truth": flat(truth), "prediction": flat(pred),
        "dinov2_warm_up_2_weight_1_max_10": values2,
        "dinov3_warm_up_2_valid_le_10": values3,
        "dinov2_weight_10_max_10": float(full),
        "dinov2_weight_10_max_10_grad": flat(grad),
    }

    # --- GradientLogLoss (dinov3) ---------------------------------------------------------------
    gshape = (2, 1, 13, 11)
    gt = torch.rand(gshape, generator=g) * 9 + 1
    gp = (gt * torch.exp(0.3 * torch.randn(gshape, generator=g))).requires_grad_(True)
    mask = torch.rand(gshape, generator=g) > 0.15
    gl = loss3.GradientLogLoss()(gp, gt, mask)
    ggrad, = torch.autograd.grad(gl, gp)
    out["gradient_log_loss"] = {"shape": list(gshape), "truth": flat(gt), "prediction": flat(gp),
                                "mask": flat(mask.float()), "loss": float(gl), "grad": flat(ggrad)}

    # --- metrics, as dinov3/eval/depth/eval.py applies them per image ----------------------------
    metrics = load_module("metrics", f"{dinov3}/dinov3/eval/depth/metrics.py")
    dutils = extract(f"{dinov3}/dinov3/eval/depth/datasets/datasets_utils.py", {"make_valid_mask", "_EvalCropType"},
                     {"torch": torch, "Enum": __import__("enum").Enum})
    images = 3
    mh, mw = 5, 7
    gts = torch.rand(images, 1, mh, mw, generator=g) * 11 + 0.2
    gts[0, 0, 0, :3] = 0
    gts[2, 0, 4, 4] = 10.0      # at the range's end: ignored (>= max)
    preds = gts * torch.exp(0.35 * torch.randn(images, 1, mh, mw, generator=g))
    preds[1, 0, 2, 2] = 13.0    # clamped to 10
    preds[1, 0, 3, 3] = 0.0001  # clamped to 0.001
    eval_range = (0.001, 10.0)
    per_image = []
    for i in range(images):
        gt_map = gts[i:i + 1].clone()
        gt_map = torch.where(torch.logical_or(gt_map >= eval_range[1], gt_map <= eval_range[0]), 0.0, gt_map)
        valid_mask = dutils.make_valid_mask(gt_map, eval_crop=dutils._EvalCropType("FULL"), ignored_value=0.0)
        p = preds[i:i + 1].clamp(min=eval_range[0], max=eval_range[1])
        v = metrics.calculate_depth_metrics(gt_map, p, valid_mask)
        per_image.append([float(x) for x in v])
    mean = np.nanmean(np.array(per_image), axis=0)
    out["metrics"] = {"shape": [images, mh, mw], "truth": flat(gts), "prediction": flat(preds),
                      "names": list(metrics.DEPTH_METRICS_NAME), "per_image": per_image,
                      "mean": [float(x) for x in mean]}

    # --- WarmupOneCycleLR ------------------------------------------------------------------------
    sched = load_module("schedulers", f"{dinov3}/dinov3/eval/depth/schedulers.py")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=3e-4, betas=(0.9, 0.99))
    s = sched.WarmupOneCycleLR(opt, total_steps=20, warmup_iters=6, max_lr=3e-4, final_div_factor=1000.0,
                               base_momentum=0.85, max_momentum=0.95)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    out["warmup_one_cycle"] = {"total": 20, "warmup": 6, "max_lr": 3e-4, "lrs": lrs}
    return out


def depth_layout_fixture(scenes):
    """Copies 4 train and 2 val scenes of scenes-dev (images and 16-bit depth PNGs) into the NYU-style
    layout under Fixtures/depth-nyu, and records what PIL reads from each depth PNG."""
    import shutil
    from PIL import Image
    root = os.path.join(OUT, "depth-nyu")
    shutil.rmtree(root, ignore_errors=True)
    record = {}
    for split, names in (("train", ["train00000", "train00001", "train00002", "train00003"]), ("val", ["val00000", "val00001"])):
        for kind, src in (("images", f"{scenes}/{split}/scene"), ("depth", f"{scenes}/depth/{split}/scene")):
            dst = os.path.join(root, kind, split, "scene")
            os.makedirs(dst, exist_ok=True)
            for name in names:
                shutil.copyfile(f"{src}/{name}.png", f"{dst}/{name}.png")
        for name in names:
            mm = np.array(Image.open(f"{scenes}/depth/{split}/scene/{name}.png")).astype(np.int64)
            record[f"{split}/{name}"] = {"shape": list(mm.shape), "sum_mm": int(mm.sum()), "min_mm": int(mm.min()),
                                         "max_mm": int(mm.max()), "first_row_mm": [int(x) for x in mm[0]]}
    return record


def davis_fixture(videos, davis):
    """A DAVIS-2017 fixture from videos-dev (2 clips x 8 frames: JPEGImages/480p/*.jpg,
    Annotations/480p/*.png, ImageSets/2017/val.txt), predicted masks made by perturbing the truth
    (davis-results/), and davis2017-evaluation's scores of those predictions."""
    import shutil
    from PIL import Image
    sys.path.insert(0, davis)
    from davis2017 import metrics as dm
    from davis2017 import utils as du
    from davis2017.evaluation import DAVISEvaluation
    root = os.path.join(OUT, "davis")
    results = os.path.join(OUT, "davis-results")
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(results, ignore_errors=True)
    clips = ["clip000", "clip001"]
    rng = np.random.default_rng(3)
    for c in clips:
        for d in (f"{root}/JPEGImages/480p/{c}", f"{root}/Annotations/480p/{c}", f"{results}/{c}"):
            os.makedirs(d)
        for t in range(8):
            Image.open(f"{videos}/JPEGImages/{c}/{t:05d}.png").convert("RGB").save(
                f"{root}/JPEGImages/480p/{c}/{t:05d}.jpg", quality=90)
            ann = Image.open(f"{videos}/Annotations/{c}/{t:05d}.png")
            ann.save(f"{root}/Annotations/480p/{c}/{t:05d}.png")
            a = np.array(ann)
            # Predictions: the truth shifted a few pixels, object 2 lost on some frames, a false blob.
            p = np.roll(a, shift=(t % 3) - 1, axis=1)
            if c == "clip001" and t in (3, 4):
                p[p == 2] = 0
            if t == 5:
                y, x = rng.integers(5, 50, size=2)
                p[y:y + 6, x:x + 6] = 1
            out = Image.fromarray(p.astype(np.uint8), mode="P")
            out.putpalette(ann.getpalette())
            out.save(f"{results}/{c}/{t:05d}.png")
    os.makedirs(f"{root}/ImageSets/2017")
    with open(f"{root}/ImageSets/2017/val.txt", "w") as f:
        f.write("\n".join(clips) + "\n")
    res = DAVISEvaluation(davis_root=root, task="semi-supervised", gt_set="val").evaluate(results)
    J, F = res["J"], res["F"]
    names = list(J["M_per_object"].keys())
    objects = [{"name": n, "j_mean": float(J["M"][i]), "j_recall": float(J["R"][i]), "j_decay": float(J["D"][i]),
                "f_mean": float(F["M"][i]), "f_recall": float(F["R"][i]), "f_decay": float(F["D"][i])}
               for i, n in enumerate(names)]
    # Per-frame values of one object, straight from the metric functions.
    gt = np.array(Image.open(f"{root}/Annotations/480p/clip001/00004.png")) == 1
    pr = np.array(Image.open(f"{results}/clip001/00004.png")) == 1
    stats = du.db_statistics(np.array([0.9, 0.2, np.nan, 0.7, 0.6, 0.4, 0.8]))
    return {"objects": objects,
            "jf_mean": float((np.mean(J["M"]) + np.mean(F["M"])) / 2),
            "j_mean": float(np.mean(J["M"])), "f_mean": float(np.mean(F["M"])),
            "clip001_00004_object1": {"j": float(dm.db_eval_iou(gt, pr)), "f": float(dm.db_eval_boundary(gt, pr))},
            "statistics_of_0.9_0.2_nan_0.7_0.6_0.4_0.8": [float(x) for x in stats]}


def propagation_fixture(dino):
    """eval_video_tracking_davis of DINO on synthetic features: 6 frames at 96x96 (read at 64, 4-px
    patches: a 16x16 grid), 3 labels, n_last_frames 3, size_mask_neighborhood 3, topk 5."""
    import argparse as ap
    captured = {}
    mod = load_module("evs", f"{dino}/eval_video_segmentation.py",
                      [("import utils\n", ""), ("import vision_transformer as vits\n", ""),
                       ("from tqdm import tqdm", "tqdm = lambda x: x"),
                       ("from torchvision import transforms\n", ""),
                       ("return mask.cuda(non_blocking=True)", "return mask"),
                       ("list_segs = [s.cuda() for s in list_segs]", "list_segs = [s for s in list_segs]"),
                       ("out = model.get_intermediate_layers(frame.unsqueeze(0).cuda(), n=1)[0]",
                        "out = model.get_intermediate_layers(frame.unsqueeze(0), n=1)[0]")])
    g = torch.Generator().manual_seed(5)
    size, grid, patch, d, frames = 96, 16, 4, 8, 6
    # Ground-truth-like labels moving one patch per frame; features = label embedding + noise.
    labels = torch.zeros(frames, grid, grid, dtype=torch.long)
    for t in range(frames):
        labels[t, 3:9, 2 + t:8 + t] = 1
        labels[t, 10:14, 9 - t // 2:14 - t // 2] = 2
    embed = torch.randn(3, d, generator=g)
    feats = embed[labels] + 0.9 * torch.randn(frames, grid, grid, d, generator=g)
    first = labels[0].repeat_interleave(6, 0).repeat_interleave(6, 1).numpy().astype(np.uint8)   # 96x96
    mask_path = "/tmp/_evs_first.png"
    from PIL import Image
    Image.fromarray(first).save(mask_path)

    class Model:
        patch_embed = types.SimpleNamespace(patch_size=patch)

        def get_intermediate_layers(self, frame, n=1):
            t = int(frame.reshape(-1)[0])
            tokens = feats[t].reshape(1, grid * grid, d)
            return [torch.cat([torch.zeros(1, 1, d), tokens], 1)]

    def read_frame(path, scale_size=[480]):
        t = int(os.path.basename(path).split(".")[0])
        return torch.full((3, grid * patch, grid * patch), float(t)), size, size

    mod.read_frame = read_frame
    mod.imwrite_indexed = lambda filename, array, palette: captured.__setitem__(os.path.basename(filename), np.array(array))
    args = ap.Namespace(output_dir="/tmp/_evs_out", n_last_frames=3, size_mask_neighborhood=3, topk=5, patch_size=patch)
    mod.args = args
    first_seg, seg_ori = mod.read_seg(mask_path, patch, scale_size=[64])
    frame_list = [f"/v/{t:05d}.jpg" for t in range(frames)]
    with torch.no_grad():
        mod.eval_video_tracking_davis(args, Model(), frame_list, "/v", first_seg, seg_ori, np.zeros((256, 3), np.uint8))
    predicted = ["".join(str(int(v)) for v in captured[f"{t:05d}.png"].reshape(-1)) for t in range(1, frames)]
    return {"size": size, "grid": grid, "patch": patch, "dimensions": d, "frames": frames,
            "features": flat(feats.reshape(frames, grid * grid, d)),
            "first_mask": "".join(str(int(v)) for v in first.reshape(-1)),
            "first_one_hot_classes": int(first_seg.shape[1]), "first_one_hot": flat(first_seg.reshape(-1)),
            "n_last_frames": 3, "size_mask_neighborhood": 3, "topk": 5, "predicted": predicted}


def linear_fixture(dinov2):
    """dinov2/eval/linear.py: create_linear_input for (1|4 blocks) x (avgpool or not) on random
    block outputs, and setup_linear_classifiers' names, rates (batch 128) and input widths."""
    import torch.nn as nn
    nn.Module.cuda = lambda self, *a, **k: self          # CPU: .cuda() is the identity
    distributed = types.SimpleNamespace(get_global_size=lambda: 1, is_enabled=lambda: False)
    lin = extract(f"{dinov2}/dinov2/eval/linear.py",
                  {"create_linear_input", "LinearClassifier", "AllClassifiers", "scale_lr", "setup_linear_classifiers"},
                  {"torch": torch, "nn": nn, "distributed": distributed})
    g = torch.Generator().manual_seed(7)
    n, p, d = 3, 5, 4
    blocks = [(torch.randn(n, p, d, generator=g), torch.randn(n, d, generator=g)) for _ in range(4)]  # oldest first
    inputs = {}
    for nb in (1, 4):
        for pool in (False, True):
            inputs[f"{nb}_{pool}"] = flat(lin.create_linear_input(blocks, nb, pool))
    classifiers, groups = lin.setup_linear_classifiers(blocks, [1, 4], torch.tensor(
        [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1]), 128, num_classes=6)
    names = list(classifiers.classifiers_dict.keys())
    return {"shape": [n, p, d],
            "patch_tokens": [flat(b[0]) for b in blocks], "class_tokens": [flat(b[1]) for b in blocks],
            "inputs": inputs, "names": names, "lrs": [float(gr["lr"]) for gr in groups],
            "in_dims": [int(c.linear.in_features) for c in classifiers.classifiers_dict.values()]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dinov2", required=True)
    parser.add_argument("--dinov3", required=True)
    parser.add_argument("--dino")
    parser.add_argument("--davis")
    parser.add_argument("--scenes", help="scenes-dev (for the depth-nyu layout fixture)")
    parser.add_argument("--videos", help="videos-dev (for the DAVIS-2017 fixture)")
    args = parser.parse_args()
    torch.set_default_dtype(torch.float64)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "depth.json"), "w") as f:
        json.dump(depth_fixture(args.dinov2, args.dinov3), f)
    print("wrote", os.path.join(OUT, "depth.json"))
    if args.davis and args.videos:
        with open(os.path.join(OUT, "davis.json"), "w") as f:
            json.dump(davis_fixture(args.videos, args.davis), f)
        print("wrote", os.path.join(OUT, "davis"), "davis-results and davis.json")
    with open(os.path.join(OUT, "linear_protocol.json"), "w") as f:
        json.dump(linear_fixture(args.dinov2), f)
    print("wrote", os.path.join(OUT, "linear_protocol.json"))
    if args.dino:
        torch.set_default_dtype(torch.float32)
        with open(os.path.join(OUT, "propagation.json"), "w") as f:
            json.dump(propagation_fixture(args.dino), f)
        torch.set_default_dtype(torch.float64)
        print("wrote", os.path.join(OUT, "propagation.json"))
    if args.scenes:
        with open(os.path.join(OUT, "depth_layout.json"), "w") as f:
            json.dump(depth_layout_fixture(args.scenes), f)
        print("wrote", os.path.join(OUT, "depth-nyu"), "and depth_layout.json")


if __name__ == "__main__":
    main()
