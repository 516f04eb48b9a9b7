#!/usr/bin/env python3
"""Makes the reference fixtures of DinoVision's tests from torchvision and PIL.

Every transform of the data pipeline is run here by torchvision on PIL images (the way the
official DINO, DINOv2 and DINOv3 code runs it), with fixed crop boxes and fixed factors, and
the results are written under Tests/DinoVisionTests/Fixtures/vision. The Swift tests compare
against these files and never need Python.

Also written: small image files for the decoder tests (JPEG baseline / progressive / gray /
CMYK / EXIF-rotated, PNG in every colour type and bit depth, WebP, TIFF, BMP, PPM, PGM) with
PIL's decoding of each, and the bad files the dataset code must skip.

Setup (CPU-only torch 2.13 is assumed installed; torchvision is installed without deps so
pip does not replace torch):

    pip install "torchvision==0.28.*" --no-deps pillow
    python3 scripts/make_vision_fixtures.py            # photos from ../shared/datasets/photos

The fixtures were made with Pillow 13.0.0. Pillow 13 runs the vertical resampling pass first
when the height shrinks by more than twice as many pixels as the width (python-pillow/Pillow
#9549); earlier versions always ran the horizontal pass first, so a few resize fixtures differ
by a grey level or more under Pillow <= 12. The Swift port follows Pillow 13.

PyPI's torchvision wheel is built against CUDA torch, so with CPU-only torch its compiled
extension fails to load; that only matters for detection ops. The import below skips the
registration of those ops' fake kernels, which is what fails.

Layout: manifest.json lists the cases; images are raw 8-bit RGB (HWC) in *.rgb files,
float tensors raw little-endian float32 in *.f32 files.
"""

import argparse
import io
import json
import os
import struct
import zlib

import numpy as np
import torch
import torch.library

_register_fake = torch.library.register_fake
torch.library.register_fake = lambda *a, **k: (lambda f: f)
import torchvision  # noqa: E402
torch.library.register_fake = _register_fake
from PIL import Image, ImageFilter, ImageOps  # noqa: E402
from torchvision import transforms  # noqa: E402
from torchvision.transforms import InterpolationMode  # noqa: E402
from torchvision.transforms import functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class Writer:
    def __init__(self, out):
        self.out = out
        os.makedirs(out, exist_ok=True)
        self.cases = []
        self.images = {}
        self.decode = []
        self.bad = []

    def image(self, name, img):
        """Stores an RGB PIL image (or HWC uint8 array) and returns its descriptor."""
        arr = np.asarray(img.convert("RGB") if isinstance(img, Image.Image) else img, dtype=np.uint8)
        assert arr.ndim == 3 and arr.shape[2] == 3
        path = f"{name}.rgb"
        with open(os.path.join(self.out, path), "wb") as f:
            f.write(arr.tobytes())
        return {"file": path, "width": int(arr.shape[1]), "height": int(arr.shape[0])}

    def case(self, name, op, source, params, result):
        desc = self.image(f"out_{name}", result)
        self.cases.append({"name": name, "op": op, "input": source, "params": params, "output": desc})

    def raw(self, name, data):
        with open(os.path.join(self.out, name), "wb") as f:
            f.write(data)
        return name

    def finish(self):
        manifest = {
            "generator": "scripts/make_vision_fixtures.py",
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "pillow": Image.__version__,
            "inputs": self.images,
            "cases": self.cases,
            "decode": self.decode,
            "bad": self.bad,
        }
        with open(os.path.join(self.out, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)


def transform_cases(w, photos):
    astronaut = Image.open(os.path.join(photos, "astronaut.png")).convert("RGB")
    chelsea = Image.open(os.path.join(photos, "chelsea.png")).convert("RGB")
    rng = np.random.default_rng(0)
    inputs = {
        "photo": astronaut.crop((180, 60, 180 + 61, 60 + 47)),      # 61×47 face detail
        "cat": chelsea.resize((120, 80), Image.BILINEAR),            # 120×80 whole scene
        "noise": Image.fromarray(rng.integers(0, 256, (29, 37, 3), dtype=np.uint8)),
    }
    for key, img in inputs.items():
        w.images[key] = w.image(f"in_{key}", img)

    modes = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}
    # Resize to exact sizes: up, down, mixed, large shrink (antialias matters).
    for src in ("photo", "noise", "cat"):
        img = inputs[src]
        for mode_name, mode in modes.items():
            for (ow, oh) in [(83, 61), (23, 17), (90, 20), (9, 7), (img.width, 13)]:
                out = F.resize(img, [oh, ow], interpolation=mode, antialias=True)
                w.case(f"resize_{src}_{mode_name}_{ow}x{oh}", "resize", src,
                       {"width": ow, "height": oh, "filter": mode_name}, out)
    # Resize of the shorter side, then centre crop (the evaluation transform).
    for src in ("photo", "cat"):
        for size in (32, 50):
            out = transforms.Resize(size, interpolation=InterpolationMode.BICUBIC)(inputs[src])
            w.case(f"resize_short_{src}_{size}", "resize_shorter", src, {"size": size, "filter": "bicubic"}, out)
        out = transforms.CenterCrop((21, 30))(inputs[src])
        w.case(f"center_crop_{src}", "center_crop", src, {"width": 30, "height": 21}, out)
    # Crop boxes then resize, as RandomResizedCrop applies them.
    boxes = [(5, 7, 30, 40, 24), (0, 0, 47, 61, 96), (10, 20, 17, 9, 16), (1, 2, 44, 33, 32)]
    for (top, left, h, wd, size) in boxes:
        for mode_name, mode in modes.items():
            out = F.resized_crop(inputs["photo"], top, left, h, wd, [size, size], interpolation=mode, antialias=True)
            w.case(f"resized_crop_{top}_{left}_{h}_{wd}_{size}_{mode_name}", "resized_crop", "photo",
                   {"top": top, "left": left, "height": h, "width": wd, "size": size, "filter": mode_name}, out)
    out = F.resized_crop(inputs["cat"], 11, 30, 60, 75, [32, 32], interpolation=InterpolationMode.BICUBIC)
    w.case("resized_crop_cat", "resized_crop", "cat",
           {"top": 11, "left": 30, "height": 60, "width": 75, "size": 32, "filter": "bicubic"}, out)
    for src in ("photo", "noise"):
        img = inputs[src]
        w.case(f"hflip_{src}", "hflip", src, {}, F.hflip(img))
        for f in (0.0, 0.6, 1.4, 1.9):
            w.case(f"brightness_{src}_{f}", "brightness", src, {"factor": f}, F.adjust_brightness(img, f))
        for f in (0.0, 0.6, 1.4):
            w.case(f"contrast_{src}_{f}", "contrast", src, {"factor": f}, F.adjust_contrast(img, f))
        for f in (0.0, 0.8, 1.2, 2.5):
            w.case(f"saturation_{src}_{f}", "saturation", src, {"factor": f}, F.adjust_saturation(img, f))
        for f in (-0.5, -0.1, -0.033, 0.05, 0.1, 0.5):
            w.case(f"hue_{src}_{f}", "hue", src, {"factor": f}, F.adjust_hue(img, f))
        w.case(f"grayscale_{src}", "grayscale", src, {}, F.rgb_to_grayscale(img, num_output_channels=3))
        w.case(f"solarize_{src}", "solarize", src, {"threshold": 128}, F.solarize(img, 128))
        for sigma in (0.1, 0.7, 2.0):
            out = F.gaussian_blur(img, [9, 9], [sigma, sigma])
            w.case(f"blur_tv_{src}_{sigma}", "blur_torchvision", src, {"sigma": sigma, "kernel": 9}, out)
        for sigma in (0.1, 1.0, 2.0):
            out = img.filter(ImageFilter.GaussianBlur(radius=sigma))
            w.case(f"blur_pil_{src}_{sigma}", "blur_pil", src, {"sigma": sigma}, out)
    # ToTensor + Normalize with ImageNet statistics.
    t = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))(F.to_tensor(inputs["photo"]))
    w.cases.append({"name": "normalize_photo", "op": "normalize", "input": "photo",
                    "params": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
                    "output": {"file": w.raw("out_normalize_photo.f32", t.numpy().astype("<f4").tobytes()),
                               "shape": list(t.shape)}})


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(width, height, color_type, bit_depth, rows, palette=None, trns=None):
    """A minimal PNG writer (filter 0 on every row), for colour types PIL cannot write."""
    raw = b"".join(b"\x00" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
    if palette is not None:
        out += png_chunk(b"PLTE", palette)
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    return out + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")


def decode_cases(w, photos):
    """Encoded files with the expected RGB decoding."""
    rng = np.random.default_rng(1)
    chelsea = Image.open(os.path.join(photos, "chelsea.png")).convert("RGB").resize((45, 30), Image.BILINEAR)
    camera = Image.open(os.path.join(photos, "camera.png")).resize((33, 33), Image.BILINEAR)   # gray

    def add(name, data, expected, note, tolerance=0):
        path = w.raw(f"dec_{name}", data)
        w.decode.append({"file": path, "expected": w.image(f"exp_{name}", expected), "note": note,
                         "tolerance": tolerance})

    def pil_decode(data):
        return ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")

    def saved(img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        return b.getvalue()

    for name, data in [
        ("baseline.jpg", saved(chelsea, "JPEG", quality=90)),
        ("progressive.jpg", saved(chelsea, "JPEG", quality=85, progressive=True)),
        ("gray.jpg", saved(camera, "JPEG", quality=90)),
        ("cmyk.jpg", saved(chelsea.convert("CMYK"), "JPEG", quality=95)),
        ("subsampling444.jpg", saved(chelsea, "JPEG", quality=90, subsampling=0)),
    ]:
        add(name, data, pil_decode(data), "PIL decoding")
    # EXIF orientation 6 (rotate 90° clockwise to view) and 3 (180°) and 8.
    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = saved(chelsea, "JPEG", quality=90, exif=exif.tobytes())
        add(f"exif{orientation}.jpg", data, pil_decode(data), "PIL decoding after exif_transpose")

    # PNG: all colour types and depths; expected = high byte, alpha dropped, palette expanded.
    h, wd = 7, 11
    g8 = rng.integers(0, 256, (h, wd), dtype=np.uint8)
    g16 = rng.integers(0, 65536, (h, wd), dtype=np.uint16)
    rgb8 = rng.integers(0, 256, (h, wd, 3), dtype=np.uint8)
    rgb16 = rng.integers(0, 65536, (h, wd, 3), dtype=np.uint16)
    a8 = rng.integers(0, 256, (h, wd), dtype=np.uint8)
    a16 = rng.integers(0, 65536, (h, wd), dtype=np.uint16)
    pal = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    idx = rng.integers(0, 16, (h, wd), dtype=np.uint8)

    def rows(arr):
        return [arr[y].astype(arr.dtype.newbyteorder(">")).tobytes() for y in range(arr.shape[0])]

    gray3 = lambda g: np.dstack([g, g, g])  # noqa: E731
    add("gray8.png", write_png(wd, h, 0, 8, rows(g8)), gray3(g8), "gray 8-bit")
    add("gray16.png", write_png(wd, h, 0, 16, rows(g16)), gray3((g16 >> 8).astype(np.uint8)), "gray 16-bit: high byte")
    add("gray_alpha8.png", write_png(wd, h, 4, 8, rows(np.dstack([g8, a8]))), gray3(g8), "gray+alpha: alpha dropped")
    add("gray_alpha16.png", write_png(wd, h, 4, 16, rows(np.dstack([g16, a16]))), gray3((g16 >> 8).astype(np.uint8)),
        "gray+alpha 16-bit")
    add("rgb8.png", write_png(wd, h, 2, 8, rows(rgb8)), rgb8, "RGB 8-bit")
    add("rgb16.png", write_png(wd, h, 2, 16, rows(rgb16)), (rgb16 >> 8).astype(np.uint8), "RGB 16-bit: high byte")
    add("rgba8.png", write_png(wd, h, 6, 8, rows(np.dstack([rgb8, a8]))), rgb8, "RGBA: alpha dropped")
    add("rgba16.png", write_png(wd, h, 6, 16, rows(np.dstack([rgb16, a16[..., None]]))), (rgb16 >> 8).astype(np.uint8),
        "RGBA 16-bit")
    add("palette.png", write_png(wd, h, 3, 8, rows(idx), palette=pal.tobytes(), trns=bytes([0, 128])), pal[idx],
        "palette with tRNS: expanded, transparency dropped")
    g1 = (g8 >> 7).astype(np.uint8)
    packed = [np.packbits(g1[y]).tobytes() for y in range(h)]
    add("gray1.png", write_png(wd, h, 0, 1, packed), gray3(g1 * 255), "gray 1-bit scaled to 0/255")
    for name in ("gray8.png", "rgb8.png", "rgba8.png", "palette.png", "gray1.png"):
        entry = next(e for e in w.decode if e["file"] == f"dec_{name}")
        pil = np.asarray(Image.open(os.path.join(w.out, entry["file"])).convert("RGB"))
        ours = np.fromfile(os.path.join(w.out, entry["expected"]["file"]), dtype=np.uint8).reshape(pil.shape)
        assert (pil == ours).all(), f"PIL disagrees with the expected decoding of {name}"

    # Other containers, lossless, so PIL's decoding is the source image.
    small = chelsea.resize((13, 9), Image.BILINEAR)
    add("lossless.webp", saved(small, "WEBP", lossless=True), small, "WebP lossless")
    add("rgb.tif", saved(small, "TIFF"), small, "TIFF uncompressed")
    add("lzw.tif", saved(small, "TIFF", compression="tiff_lzw"), small, "TIFF LZW")
    add("rgb.bmp", saved(small, "BMP"), small, "BMP 24-bit")
    add("rgb.ppm", saved(small, "PPM"), small, "PPM binary")
    add("gray.pgm", saved(small.convert("L"), "PPM"), small.convert("L").convert("RGB"), "PGM binary")

    # Bad files, each with the reason the decoder must give.
    good_jpeg = saved(chelsea, "JPEG", quality=90)
    good_png = write_png(wd, h, 2, 8, rows(rgb8))
    huge_png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
    for name, data, reason in [
        ("empty.jpg", b"", "empty"),
        ("truncated.jpg", good_jpeg[: len(good_jpeg) // 2], "corrupt"),
        ("text.png", b"this is not an image, only text\n", "unknownFormat"),
        ("huge.png", huge_png, "tooLarge"),
        ("png_named.jpg", good_png, "mislabelled"),
        ("truncated.png", good_png[: len(good_png) - 30], "corrupt"),
    ]:
        w.bad.append({"file": w.raw(f"bad_{name}", data), "reason": reason})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default=os.path.join(ROOT, "..", "shared", "datasets", "photos"))
    parser.add_argument("--out", default=os.path.join(ROOT, "Tests", "DinoVisionTests", "Fixtures", "vision"))
    args = parser.parse_args()
    w = Writer(args.out)
    transform_cases(w, args.photos)
    decode_cases(w, args.photos)
    w.finish()
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"{len(w.cases)} transform cases, {len(w.decode)} decode cases, {len(w.bad)} bad files, "
          f"{total / 1e6:.2f} MB in {args.out}")


if __name__ == "__main__":
    main()
