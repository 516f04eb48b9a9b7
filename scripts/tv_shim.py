"""Make torchvision importable next to a torch it was not built for. Import this before torchvision.

The benchmark machine has torch 2.13.0+cpu and torchvision 0.28.0+cu130 from PyPI. torchvision's
C++ extension (_C.so, the detection ops nms, roi_align, deform_conv2d, …) cannot be loaded
against that torch, which torchvision tolerates (`extension._has_ops()` becomes False), but
`torchvision/_meta_registrations.py` then registers fake/meta kernels for those ops
unconditionally and fails with `RuntimeError: operator torchvision::nms does not exist`.

This module only declares the schemas of the 13 operators that _meta_registrations.py registers
(copied from the schema strings in torchvision 0.28's _C.so), with no kernels, so that those
registrations succeed. Everything in torchvision that is pure Python (transforms v1/v2,
tv_tensors, datasets, models) then works as usual; the C++ ops still raise torchvision's own
"Couldn't load custom C++ ops" error if called, exactly as with any torchvision whose extension
failed to load. Nothing in site-packages is changed.

If torchvision's extension does load (a matching build), this module does nothing.

    import tv_shim  # noqa: F401  (scripts/ on sys.path, before `import torchvision`)
    import torchvision
"""

import importlib.util
import os

import torch

SCHEMAS = [
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width,"
    " int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height,"
    " SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width,"
    " int sampling_ratio, bool aligned) -> Tensor",
    "qroi_align(Tensor input, Tensor rois, float input_scale, int input_zero_point, float rois_scale,"
    " int rois_zero_point, float spatial_scale, SymInt pooled_height, SymInt pooled_width,"
    " int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width,"
    " int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale,"
    " SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, SymInt channels,"
    " SymInt height, SymInt width) -> Tensor",
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width)"
    " -> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, SymInt pooled_height,"
    " SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width)"
    " -> (Tensor, Tensor)",
    "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale,"
    " SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height,"
    " SymInt width) -> Tensor",
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h,"
    " SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups,"
    " SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask,"
    " Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h,"
    " SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask)"
    " -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
]

# The Library object must stay alive: its definitions are removed when it is destroyed.
_lib = None
active = False


def _extension_loads():
    """Whether torchvision's own _C extension loads next to this torch (then no shim is needed)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True                      # no torchvision: nothing to do
    for root in spec.submodule_search_locations:
        for name in os.listdir(root):
            if name.startswith("_C.") and name.endswith((".so", ".pyd")):
                try:
                    torch.ops.load_library(os.path.join(root, name))
                    return True
                except (OSError, ImportError, RuntimeError):
                    return False
    return False


def _install():
    global _lib, active
    if "torchvision" in __import__("sys").modules or _extension_loads():
        return
    _lib = torch.library.Library("torchvision", "FRAGMENT")
    for schema in SCHEMAS:
        name = schema.split("(", 1)[0]
        try:
            getattr(torch.ops.torchvision, name)
            continue                     # already defined by someone else
        except (AttributeError, RuntimeError):
            pass
        _lib.define(schema)
    active = True


_install()
