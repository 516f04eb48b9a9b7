"""The near-copy of an image used by the curation benchmarks (bench_curate_dedup.py,
bench_curate_dedup_ceiling.py, make_curation_pool.py): a random crop of 80–95 % of the side
resized back, a brightness/contrast jitter of ±30 %, a rotation of ±8°, a JPEG re-encoding at
quality 30–90, each with probability 1/2 and at least one, drawn from the numpy RandomState rs.

NEAR_COPY_STRENGTH (environment, default 1) scales every change towards none: at s the crop
keeps 1 − 0.20·s … 1 − 0.05·s of the side, the jitter is ±30·s %, the rotation ±8·s°, the
JPEG quality 90 − 60·s … 90 (the same draws, so s = 1 gives the copies above, byte for byte)."""
import io
import os

from PIL import Image, ImageEnhance


STRENGTH = float(os.environ.get("NEAR_COPY_STRENGTH", "1"))


def near_copy(img, rs, s=STRENGTH):
    crop = (0.80, 0.95) if s == 1 else (1 - 0.20 * s, 1 - 0.05 * s)
    jitter = (0.7, 1.3) if s == 1 else (1 - 0.3 * s, 1 + 0.3 * s)
    ops = [rs.rand() < 0.5 for _ in range(4)]
    if not any(ops):
        ops[rs.randint(4)] = True
    w, h = img.size
    if ops[0]:
        f = rs.uniform(*crop)
        cw, ch = int(w * f), int(h * f)
        x, y = rs.randint(0, w - cw + 1), rs.randint(0, h - ch + 1)
        img = img.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BICUBIC)
    if ops[2]:
        img = ImageEnhance.Brightness(img).enhance(rs.uniform(*jitter))
        img = ImageEnhance.Contrast(img).enhance(rs.uniform(*jitter))
    if ops[3]:
        img = img.rotate(rs.uniform(-8 * s, 8 * s), resample=Image.BICUBIC)
    if ops[1]:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rs.randint(30 if s == 1 else round(90 - 60 * s), 91)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img
