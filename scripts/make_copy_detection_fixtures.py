#!/usr/bin/env python3
"""Golden fixture for DinoCuration's copy-detection descriptor from DINO's own code.

Usage:
    python3 -m pip install numpy torch
    python3 scripts/make_copy_detection_fixtures.py PATH_TO_FACEBOOKRESEARCH_DINO_CHECKOUT

Writes Tests/DinoCurationTests/Fixtures/copy_detection.json: random tokens and features, the
GeM descriptor as `eval_copy_detection.extract_features` computes it (clamp 1e-6, pow 4,
avg_pool2d over the grid, pow 1/4, concatenated after the class token), and the whitened,
normalised similarities as its "Whitening" and "Copy detection" blocks compute them with
`utils.PCA(dim=D, whit=0.5)`. Eigenvectors are only defined up to sign, so the fixture holds
the similarity matrix (sign-free) rather than the whitened vectors. PIL is stubbed: utils.py
imports it for augmentations that are not used here.
"""
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

if len(sys.argv) != 2:
    sys.exit(__doc__)
pil = types.ModuleType("PIL")
pil.ImageFilter = pil.ImageOps = pil.Image = None
sys.modules.setdefault("PIL", pil)
sys.path.insert(0, str(Path(sys.argv[1]).resolve()))
import utils  # noqa: E402  (facebookresearch/dino utils.py)

rng = np.random.RandomState(7)
b, h, w, d = 3, 2, 3, 4
tokens = rng.normal(size=(b, 1 + h * w, d)).astype(np.float32)
feats = torch.tensor(tokens)
cls_output_token = feats[:, 0, :]
g = feats[:, 1:, :].reshape(b, h, w, d).clamp(min=1e-6).permute(0, 3, 1, 2)
g = nn.functional.avg_pool2d(g.pow(4), (h, w)).pow(1. / 4).reshape(b, -1)
descriptor = torch.cat((cls_output_token, g), dim=1)

# Whitening, exactly as eval_copy_detection.py's main block.
dw = 6
whitening = torch.tensor(rng.normal(size=(40, dw)).astype(np.float32) * np.array([3, 2, 1, 1, .5, .2], dtype=np.float32) + 0.3)
database = torch.tensor(rng.normal(size=(5, dw)).astype(np.float32))
queries = torch.tensor(rng.normal(size=(4, dw)).astype(np.float32))
mean_feature = torch.mean(whitening, dim=0)
database = database - mean_feature
queries = queries - mean_feature
pca = utils.PCA(dim=dw, whit=0.5)
cov = torch.mm(whitening.T, whitening) / whitening.shape[0]
pca.train_pca(cov.cpu().numpy())
db_w = nn.functional.normalize(pca.apply(database.clone()), dim=1, p=2)
q_w = nn.functional.normalize(pca.apply(queries.clone()), dim=1, p=2)
similarity = torch.mm(q_w, db_w.T)

def rows(t):
    return [[float(v) for v in r] for r in np.asarray(t, dtype=np.float64)]

out = {
    "tokens": [rows(t) for t in tokens], "grid": [h, w], "descriptor": rows(descriptor),
    "whitening": rows(whitening), "database": rows(database + mean_feature), "queries": rows(queries + mean_feature),
    "similarity": rows(similarity),
}
path = Path(__file__).resolve().parent.parent / "Tests/DinoCurationTests/Fixtures/copy_detection.json"
path.write_text(json.dumps(out) + "\n")
print(f"wrote {path}")
