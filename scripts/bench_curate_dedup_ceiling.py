#!/usr/bin/env python3
"""What the planted near-copies of bench_curate_dedup.py allow a global descriptor to reach.

Usage: python3 -m pip install numpy pillow scipy
       python3 scripts/bench_curate_dedup_ceiling.py [RUN]

Builds pool 0 and pool 1 exactly as scripts/bench_curate_dedup.py does with ORIGINALS = 1000
(same seeds, same near-copy recipe), in memory. For each descriptor:
  separability  for every planted copy, is its own original more similar than every other
                original (others naturally identical to its original excluded, see below)?
                No threshold on a global cosine can score pairwise F1 >= 0.9 when this is far
                below 100 %.
  F1            best threshold on pool 0 (k = 64 neighbours, edge when cosine > T, connected
                components, as `dino curate dedup`), scored on pool 1; originals lost as in
                bench_curate_dedup.py.
Ground truth twice: "planted" (every original its own group) and "natural" (originals whose
raw 32-px pixel correlation exceeds 0.99 — metric-compatible typefaces, pixel-identical
glyphs — form one group first).
Descriptors: raw32 (the `pixels` descriptor of `dino curate dedup` at 32 px: grey image,
centred, L2-normalised), down16 (the same box-resized to 16 px), bbox16 (the glyph's ink
bounding box, > 25 % of its max, resized to 16 px: undoes crops that keep the glyph), bbox16
with a search over rotations of the originals (-8..8 degrees, step 2: a matcher, not a
descriptor — separability only), and, when RUN (a `dino train` run folder) is given, its class
token (`dino curate dedup` of $DINO, default the release build: --descriptor cls --image-size 32`) raw and centred.
"""
import json, os, subprocess, sys, tempfile
from collections import Counter, defaultdict
import numpy as np
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from near_copies import near_copy

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
data = os.path.join(root, "../shared/datasets/glyphs-dev")
N = 1000


def images(split):
    out = []
    for c in sorted(os.listdir(f"{data}/{split}")):
        out += [f"{data}/{split}/{c}/{f}" for f in sorted(os.listdir(f"{data}/{split}/{c}"))]
    return out
def build_pool(seed):
    rs = np.random.RandomState(seed); imgs, group = [], []
    for i, src in enumerate(images("train")[:N]):
        img = Image.open(src).convert("RGB"); imgs.append(img); group.append(i)
        for c in range(rs.randint(0, 6)):
            imgs.append(near_copy(img, rs)); group.append(i)
    vals = []
    for j, src in enumerate(images("val")[:400]):
        img = Image.open(src).convert("RGB"); vals.append(img)
        for c in range(1 + rs.randint(0, 2)):
            imgs.append(near_copy(img, rs)); group.append(-1 - j)
    return imgs, np.array(group), vals

def knn(X, k=64):
    S = X @ X.T
    np.fill_diagonal(S, -2)
    idx = np.argpartition(-S, k, axis=1)[:, :k]
    return idx, np.take_along_axis(S, idx, 1)


def comps(nn, T):
    idx, sims = nn
    n, k = idx.shape
    r = np.repeat(np.arange(n), k)
    m = sims.ravel() > T
    A = coo_matrix((np.ones(m.sum()), (r[m], idx.ravel()[m])), shape=(n, n))
    return connected_components(A, directed=False)[1]


def score(lab, truth, n_orig):
    m = truth >= 0; lab = lab[m]; t = truth[m]
    pp = sum(v*(v-1)//2 for v in Counter(lab).values())
    tp = sum(v*(v-1)//2 for v in Counter(t).values())
    cells = Counter(zip(lab, t)); hits = sum(v*(v-1)//2 for v in cells.values())
    P = hits/pp if pp else 1; R = hits/tp
    F = 2*P*R/(P+R) if P+R else 0
    merged = defaultdict(set)
    for g, tt in cells: merged[g].add(tt)
    return F, P, R, sum(len(s)-1 for s in merged.values())/n_orig
def natural_groups(arr, g, thr=0.99):
    # originals: first image of each group id >=0
    ids = sorted(set(g[g >= 0])); first = {i: np.where(g == i)[0][0] for i in ids}
    O = np.stack([arr[first[i]].ravel() for i in ids]); O = O - O.mean(1, keepdims=True)
    O /= np.linalg.norm(O, axis=1, keepdims=True) + 1e-9
    S = O @ O.T
    A = coo_matrix(S > thr); lab = connected_components(A, directed=False)[1]
    remap = {i: lab[j] for j, i in enumerate(ids)}
    return np.array([remap[x] if x >= 0 else x for x in g]), len(set(lab))


def grey(imgs):
    return np.stack([np.asarray(im.convert("L"), dtype=np.float32) for im in imgs])


def norm(X):
    X = X.reshape(len(X), -1).astype(np.float64)
    X = X - X.mean(1, keepdims=True)
    return X / (np.linalg.norm(X, axis=1, keepdims=True) + 1e-9)


def down(arr, s):
    return np.stack([np.asarray(Image.fromarray(a.astype(np.uint8)).resize((s, s), Image.BOX), np.float32) for a in arr])


def bbox(arr, s=16, frac=0.25):
    out = []
    for a in arr:
        ys, xs = np.where(a > a.max() * frac)
        if len(ys) == 0:
            out.append(np.zeros((s, s), np.float32))
            continue
        c = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        out.append(np.asarray(Image.fromarray(c.astype(np.uint8)).resize((s, s), Image.BILINEAR), np.float32))
    return np.stack(out)


def l2(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def cls_tokens(run, imgs, tag):
    tmp = tempfile.mkdtemp(prefix=f"dedup-ceiling-{tag}-")
    paths = []
    for i, im in enumerate(imgs):
        paths.append(f"{tmp}/{i:05d}.png")
        im.save(paths[-1])
    open(f"{tmp}/list.txt", "w").write("\n".join(paths) + "\n")
    subprocess.run([os.environ.get("DINO", os.path.join(root, ".build/release/dino")), "curate", "dedup", "--pool", f"{tmp}/list.txt", "--run", run,
                    "--descriptor", "cls", "--image-size", "32", "--index", "exact", "--out", f"{tmp}/out"], check=True, capture_output=True)
    b = open(f"{tmp}/out/pool_embeddings.safetensors", "rb").read()
    n = int.from_bytes(b[:8], "little")
    h = json.loads(b[8:8 + n])["embeddings"]
    s, e = h["data_offsets"]
    return np.frombuffer(b[8 + n + s:8 + n + e], np.float32).reshape(h["shape"]).astype(np.float64)


pools = []
for seed in (0, 1):
    imgs, g, _ = build_pool(seed)
    pools.append((imgs, grey(imgs), g))
descs = {"raw32": lambda p, s: norm(p[1]), "down16": lambda p, s: norm(down(p[1], 16)), "bbox16": lambda p, s: norm(bbox(p[1], 16))}
if len(sys.argv) > 1:
    cache = {}
    def cls(p, s):
        if s not in cache:
            cache[s] = cls_tokens(sys.argv[1], p[0], s)
        return cache[s]
    descs["cls"] = lambda p, s: l2(cls(p, s))
    descs["cls-centred"] = lambda p, s: l2(cls(p, s) - cls(p, s).mean(0))

Ts = list(np.arange(0.3, 0.995, 0.01))
for name, desc in descs.items():
    X0 = desc(pools[0], 0)
    arr, g = pools[0][1], pools[0][2]
    nat, _ = natural_groups(arr, g)
    first = np.array([i == np.where(g == x)[0][0] if x >= 0 else False for i, x in enumerate(g)])
    cop = (g >= 0) & ~first
    S = X0[cop] @ X0[first].T
    own = S[np.arange(cop.sum()), np.searchsorted(g[first], g[cop])]
    other = np.where(nat[first][None, :] == nat[cop][:, None], -2, S).max(1)
    X1 = desc(pools[1], 1)
    nn0, nn1 = knn(X0), knn(X1)
    line = f"{name}: separability (pool 0) {(own > other).mean() * 100:.1f} %"
    for gt in ("planted", "natural"):
        best = None
        truth = g if gt == "planted" else nat
        for T in Ts:
            F = score(comps(nn0, T), truth, 1000)[0]
            if best is None or F > best[0]:
                best = (F, T)
        truth1 = pools[1][2] if gt == "planted" else natural_groups(pools[1][1], pools[1][2])[0]
        F, P, R, L = score(comps(nn1, best[1]), truth1, 1000)
        line += f"; {gt}: T {best[1]:.2f}, pool 1 F1 {F:.3f} (P {P:.3f}, R {R:.3f}), originals lost {L * 100:.1f} %"
    print(line, flush=True)

# bbox16 with a rotation search over the originals (separability only).
arr, g = pools[0][1], pools[0][2]
nat, _ = natural_groups(arr, g)
first = np.array([i == np.where(g == x)[0][0] if x >= 0 else False for i, x in enumerate(g)])
cop = (g >= 0) & ~first
gal = [norm(bbox(np.stack([np.asarray(Image.fromarray(a.astype(np.uint8)).rotate(r, resample=Image.BICUBIC), np.float32)
                           for a in arr[first]]), 16)) for r in np.arange(-8, 8.1, 2)]
Q = norm(bbox(arr[cop], 16))
S = np.max(np.stack([Q @ G.T for G in gal]), 0)
own = S[np.arange(len(Q)), np.searchsorted(g[first], g[cop])]
other = np.where(nat[first][None, :] == nat[cop][:, None], -2, S).max(1)
print(f"bbox16 + rotation search: separability (pool 0) {(own > other).mean() * 100:.1f} %")
