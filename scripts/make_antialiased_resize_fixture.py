"""Golden fixture for resizeBilinearAntialiased (Sources/DinoSSL/Methods/Distill/AntialiasedResize.swift):
torch.nn.functional.interpolate(x, scale_factor=1/s, mode="bilinear", antialias=True), as
facebookresearch/dinov3 multidist_meta_arch.py shrinks the global crops by
crops.teacher_to_student_resolution_scale.

    python3 -m pip install torch numpy
    python3 scripts/make_antialiased_resize_fixture.py
"""
import json
import torch

torch.manual_seed(0)
cases = []
for (n, c, h, w, s) in [(2, 3, 8, 8, 2.0), (1, 2, 12, 12, 1.5), (1, 1, 16, 8, 4.0), (1, 1, 6, 6, 1.0)]:
    x = torch.randn(n, c, h, w, dtype=torch.float64)
    y = torch.nn.functional.interpolate(x, scale_factor=1.0 / s, mode="bilinear", antialias=True)
    cases.append({"shape": [n, c, h, w], "scale": s, "input": x.flatten().tolist(),
                  "output_shape": list(y.shape), "output": y.flatten().tolist()})
with open("Tests/DinoSSLTests/Fixtures/antialiased_resize.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
