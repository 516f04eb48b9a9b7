"""The near-copy of an image used by the curation benchmarks (bench_curate_dedup.py,
bench_curate_dedup_ceiling.py, make_curation_pool.py): a random crop of 80–95 % of the side
resized back, a brightness/contrast jitter of ±30 %, a rotation of ±8°, a JPEG re-encoding at
quality 30–90, each with probability 1/2 and at least one, drawn from the numpy RandomState rs."""
import io

from PIL import Image, ImageEnhance


def near_copy(img, rs):
    ops = [rs.rand() < 0.5 for _ in range(4)]
    if not any(ops):
        ops[rs.randint(4)] = True
    w, h = img.size
    if ops[0]:
        f = rs.uniform(0.80, 0.95)
        cw, ch = int(w * f), int(h * f)
        x, y = rs.randint(0, w - cw + 1), rs.randint(0, h - ch + 1)
        img = img.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BICUBIC)
    if ops[2]:
        img = ImageEnhance.Brightness(img).enhance(rs.uniform(0.7, 1.3))
        img = ImageEnhance.Contrast(img).enhance(rs.uniform(0.7, 1.3))
    if ops[3]:
        img = img.rotate(rs.uniform(-8, 8), resample=Image.BICUBIC)
    if ops[1]:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rs.randint(30, 91)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img
