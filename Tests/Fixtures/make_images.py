"""Image-decoding fixtures: small PNG and JPEG files made from scikit-image's sample photographs,
with Pillow's decoding of each, so ConvNet's decoders can be checked against Pillow (PNG exactly,
JPEG within ±2 per channel).

Writes Tests/ConvNetTests/Resources/images/:
  <name>.<png|jpg>     the image file
  <name>.rgb           Pillow's np.asarray(Image.open(f).convert("RGB")) as raw H·W·3 bytes
  <name>.l             Pillow's convert("L") as raw H·W bytes (the luma ConvNet's --channels 1 uses)
  <name>.rgba          for files with transparency: convert("RGBA"), raw H·W·4 bytes
  manifest.txt         one line per file: name width height kind
  chelsea_palette.resize_<W>x<H>.rgb   Pillow's resize((W, H), BILINEAR) of chelsea_palette.png as RGB

Except for 16-bit greyscale: Pillow opens it as mode "I;16" and convert("L") / convert("RGB") clip
every value above 255 to 255; ConvNet keeps the high byte (as Pillow itself does for 16-bit RGB), so the reference
there is (value >> 8), computed with numpy.

Deterministic for fixed package versions. Regenerate from the repository root with
    python3 -m venv /work/venv-img && /work/venv-img/bin/pip install scikit-image pillow numpy pypng
    /work/venv-img/bin/python Tests/Fixtures/make_images.py
"""
import io
import os

import numpy as np
import png  # pypng: writes interlaced and 1/2/4/16-bit files, which Pillow cannot
from PIL import Image
from skimage import data

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ConvNetTests", "Resources", "images")
os.makedirs(OUT, exist_ok=True)
manifest = []


def photo(name, box, size):
    """A crop (left, top, right, bottom) of a sample photograph, resized to `size`."""
    arr = getattr(data, name)()
    im = Image.fromarray(arr)
    return im.crop(box).resize(size, Image.Resampling.LANCZOS)


def reference(name, path, kind, gray16=None):
    im = Image.open(path)
    im.load()
    w, h = im.size
    rgb = np.asarray(im.convert("RGB"), dtype=np.uint8) if gray16 is None else np.stack([gray16] * 3, axis=-1)
    with open(os.path.join(OUT, name + ".rgb"), "wb") as f:
        f.write(rgb.astype(np.uint8).tobytes())
    l = gray16 if gray16 is not None else np.asarray(im.convert("L"), dtype=np.uint8)
    with open(os.path.join(OUT, name + ".l"), "wb") as f:
        f.write(l.astype(np.uint8).tobytes())
    if "transparency" in im.info or im.mode in ("RGBA", "LA", "PA"):
        with open(os.path.join(OUT, name + ".rgba"), "wb") as f:
            f.write(np.asarray(im.convert("RGBA"), dtype=np.uint8).tobytes())
    manifest.append(f"{os.path.basename(path)} {w} {h} {kind}")


def jpeg(name, im, kind, **opts):
    path = os.path.join(OUT, name + ".jpg")
    im.save(path, "JPEG", **opts)
    reference(name, path, kind)


def pypng_write(name, rows, kind, gray16=None, **opts):
    path = os.path.join(OUT, name + ".png")
    with open(path, "wb") as f:
        png.Writer(**opts).write(f, rows)
    reference(name, path, kind, gray16)


# JPEG: baseline 4:2:0, 4:4:4, progressive (odd size: partial MCUs), greyscale, 4:2:2
jpeg("astronaut_420", photo("astronaut", (100, 0, 356, 256), (96, 96)), "jpeg-baseline-420", quality=90, subsampling=2)
jpeg("coffee_444", photo("coffee", (100, 50, 500, 350), (80, 60)), "jpeg-baseline-444", quality=95, subsampling=0)
jpeg("chelsea_progressive", photo("chelsea", (50, 0, 401, 300), (91, 67)), "jpeg-progressive-420",
     quality=85, subsampling=2, progressive=True)
jpeg("camera_gray", photo("camera", (100, 50, 356, 306), (64, 64)), "jpeg-gray", quality=90)
jpeg("rocket_422", photo("rocket", (150, 0, 477, 427), (50, 66)), "jpeg-baseline-422", quality=80, subsampling=1)

# PNG with Pillow: RGBA with a gradient alpha, palette (4-bit, 16 colours) with tRNS, 8-bit palette
rgba = photo("astronaut", (0, 0, 512, 512), (48, 40)).convert("RGBA")
alpha = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (40, 1))
rgba.putalpha(Image.fromarray(alpha))
rgba.save(os.path.join(OUT, "astronaut_rgba.png"))
reference("astronaut_rgba", os.path.join(OUT, "astronaut_rgba.png"), "png-rgba-8")

pal = photo("coffee", (0, 0, 600, 400), (45, 30)).quantize(16)
pal.info["transparency"] = bytes([0, 128, 255] + [255] * 13)
pal.save(os.path.join(OUT, "coffee_palette16.png"), bits=4, transparency=bytes([0, 128, 255] + [255] * 13))
reference("coffee_palette16", os.path.join(OUT, "coffee_palette16.png"), "png-palette-4-trns")

pal8 = photo("chelsea", (0, 0, 451, 300), (40, 27)).quantize(200)
pal8.save(os.path.join(OUT, "chelsea_palette.png"))
reference("chelsea_palette", os.path.join(OUT, "chelsea_palette.png"), "png-palette-8")

# PNG with pypng: interlaced RGB (Adam7, a size where some passes are narrow), 16-bit RGB,
# 16-bit grey, 1-, 2- and 4-bit grey (one interlaced), grey + alpha, grey with a tRNS key
chelsea = np.asarray(photo("chelsea", (0, 0, 451, 300), (37, 29)))
pypng_write("chelsea_interlaced", chelsea.reshape(29, -1), "png-rgb-8-adam7", width=37, height=29, greyscale=False,
            interlace=True)
astro = np.asarray(photo("astronaut", (0, 0, 512, 512), (30, 22))).astype(np.uint16)
rng = np.random.default_rng(0)
astro16 = astro * 257 + rng.integers(0, 200, size=astro.shape).astype(np.uint16) - 100 * (astro > 0)
pypng_write("astronaut_rgb16", astro16.reshape(22, -1), "png-rgb-16", width=30, height=22, greyscale=False, bitdepth=16)
cam = np.asarray(photo("camera", (0, 0, 512, 512), (33, 25))).astype(np.uint16)
cam16 = cam * 257 + rng.integers(0, 256, size=cam.shape).astype(np.uint16) * (cam < 255)
pypng_write("camera_gray16", cam16, "png-gray-16", width=33, height=25, greyscale=True, bitdepth=16,
            gray16=(cam16 >> 8))
cam8 = np.asarray(photo("camera", (0, 0, 512, 512), (27, 21)))
for bits, interlace in [(1, False), (2, True), (4, False)]:
    pypng_write(f"camera_gray{bits}", (cam8 >> (8 - bits)), f"png-gray-{bits}" + ("-adam7" if interlace else ""),
                width=27, height=21, greyscale=True, bitdepth=bits, interlace=interlace)
ga = np.stack([cam8, np.flipud(cam8)], axis=-1)
pypng_write("camera_gray_alpha", ga.reshape(21, -1), "png-gray-alpha-8", width=27, height=21, greyscale=True, alpha=True)
pypng_write("camera_gray_trns", cam8, "png-gray-8-trns", width=27, height=21, greyscale=True, transparent=int(cam8[0, 0]))

# Pillow's bilinear resize (what torchvision's Resize does to a PIL image): shrinking (antialiased),
# enlarging, and one axis each way, from the decoded palette photo; raw RGB bytes named by size
src = Image.open(os.path.join(OUT, "chelsea_palette.png")).convert("RGB")
for w, h in [(17, 13), (70, 50), (23, 40)]:
    with open(os.path.join(OUT, f"chelsea_palette.resize_{w}x{h}.rgb"), "wb") as f:
        f.write(np.asarray(src.resize((w, h), Image.Resampling.BILINEAR), dtype=np.uint8).tobytes())

with open(os.path.join(OUT, "manifest.txt"), "w") as f:
    f.write("\n".join(manifest) + "\n")
print("\n".join(manifest))
