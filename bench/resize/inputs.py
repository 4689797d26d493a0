#!/usr/bin/env python3
"""Deterministic inputs for make bench-resize, written with the `vips` CLI (Debian libvips-tools).

usage: inputs.py DIR [--variants N]

One photo-like base (colour blobs at three scales, grain and a light gradient: JPEG and PNG
encoders see real-photo statistics, not flat areas) is built once from fixed seeds; every
variant is a crop of it at a different offset with a slightly different gain, so no two inputs
share bytes or pixels and no cache (OS page cache aside) helps. Written under DIR:

  jpeg12/NN.jpg   4000x3000 JPEG q90 (12 MP)
  jpeg3/NN.jpg    2040x1356 JPEG q75
  png/NN.png      1920x1080 PNG
  webp/NN.webp    1000x1000 WebP q90
  prog/NN.jpg     4000x3000 progressive JPEG q90 (the slow-input set; a quarter as many)

DIR/STAMP records the generator version and count; an existing complete set is kept.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

VERSION = "1"
BASE_W, BASE_H = 4160, 3120  # 4000x3000 plus room for the crop offsets
SETS = [
    # name, width, height, extension, save options
    ("jpeg12", 4000, 3000, "jpg", "[Q=90]"),
    ("jpeg3", 2040, 1356, "jpg", "[Q=75]"),
    ("png", 1920, 1080, "png", "[compression=6]"),
    ("webp", 1000, 1000, "webp", "[Q=90]"),
    ("prog", 4000, 3000, "jpg", "[Q=90,interlace]"),
]


def vips(*args):
    subprocess.run(["vips", *[str(a) for a in args]], check=True, stdout=subprocess.DEVNULL)


def noise(tmp, name, w, h, sigma, seed, upscale=1):
    """Gaussian noise of w x h, blown up by upscale with a smooth kernel (blobs of that size)."""
    path = os.path.join(tmp, name + ".v")
    if upscale == 1:
        vips("gaussnoise", path, w, h, "--sigma", sigma, "--mean", 0, "--seed", seed)
        return path
    small = os.path.join(tmp, name + "-small.v")
    vips("gaussnoise", small, w // upscale + 2, h // upscale + 2, "--sigma", sigma, "--mean", 0,
         "--seed", seed)
    big = os.path.join(tmp, name + "-big.v")
    vips("resize", small, big, upscale, "--kernel", "cubic")
    vips("crop", big, path, 0, 0, w, h)
    return path


def build_base(tmp):
    """A 3-band uchar image: per-band large blobs, shared mid and fine detail, a gradient, grain."""
    w, h = BASE_W, BASE_H
    bands = []
    mid = noise(tmp, "mid", w, h, 22, 11, upscale=12)
    fine = noise(tmp, "fine", w, h, 10, 12, upscale=3)
    grain = noise(tmp, "grain", w, h, 4, 13)
    detail = os.path.join(tmp, "detail.v")
    vips("sum", f"{mid} {fine} {grain}", detail)
    grad = os.path.join(tmp, "grad.v")
    xyz = os.path.join(tmp, "xyz.v")
    vips("xyz", xyz, w, h)
    vips("linear", xyz, grad, "0.012 0.02", "0")  # x*0.012 + y*0.02 per band, then summed
    gsum = os.path.join(tmp, "gsum.v")
    band0, band1 = os.path.join(tmp, "xb0.v"), os.path.join(tmp, "xb1.v")
    vips("extract_band", grad, band0, 0)
    vips("extract_band", grad, band1, 1)
    vips("add", band0, band1, gsum)
    for b, seed in enumerate((21, 22, 23)):
        blobs = noise(tmp, f"blob{b}", w, h, 45, seed, upscale=160)
        band = os.path.join(tmp, f"band{b}.v")
        vips("sum", f"{blobs} {detail} {gsum}", band)
        bands.append(band)
    joined = os.path.join(tmp, "joined.v")
    vips("bandjoin", " ".join(bands), joined)
    shifted = os.path.join(tmp, "shifted.v")
    vips("linear", joined, shifted, 1, "70 80 60")
    base = os.path.join(tmp, "base.v")
    vips("cast", shifted, base, "uchar")  # clips to 0..255
    rgb = os.path.join(tmp, "base-srgb.v")
    vips("copy", base, rgb, "--interpretation", "srgb")
    return rgb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--variants", type=int, default=32)
    args = ap.parse_args()
    stamp = os.path.join(args.dir, "STAMP")
    want = f"{VERSION} {args.variants}\n"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return 0
    tmp = tempfile.mkdtemp(prefix="rail-bench-inputs-")
    try:
        base = build_base(tmp)
        for name, w, h, ext, opts in SETS:
            out = os.path.join(args.dir, name)
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            count = max(4, args.variants // 4) if name == "prog" else args.variants
            # Crop a region of the base with the output's aspect ratio, then scale it down.
            scale = min((BASE_W - 128) / w, (BASE_H - 96) / h, 1.0)
            cw, ch = int(w * scale), int(h * scale)
            for i in range(count):
                x, y = (i * 37) % (BASE_W - cw + 1), (i * 23) % (BASE_H - ch + 1)
                crop = os.path.join(tmp, "crop.v")
                vips("crop", base, crop, x, y, cw, ch)
                sized = crop
                if (cw, ch) != (w, h):
                    sized = os.path.join(tmp, "sized.v")
                    vips("resize", crop, sized, w / cw, "--vscale", h / ch, "--kernel", "lanczos3")
                gain = 0.94 + 0.12 * i / max(1, count - 1)
                tuned = os.path.join(tmp, "tuned.v")
                vips("linear", sized, tuned, gain, 0, "--uchar")
                vips("copy", tuned, os.path.join(out, f"{i:02d}.{ext}{opts}"))
        with open(stamp, "w") as f:
            f.write(want)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
