"""A folder of 224×224 JPEG photographs for `convnet bench --loader`: random crops of
scikit-image's colour sample photographs, resized with Pillow and saved at quality 90 (4:2:0), in
one class folder per source photograph. Deterministic (seeded).

    /work/venv-img/bin/python benchmarks/make_photo_folder.py /tmp/photos224 --per-class 128
"""
import argparse
import os

import numpy as np
from PIL import Image
from skimage import data

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--per-class", type=int, default=128)
ap.add_argument("--size", type=int, default=224)
args = ap.parse_args()
rng = np.random.default_rng(0)
for name in ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina"]:
    arr = getattr(data, name)()
    im = Image.fromarray(arr).convert("RGB")
    w, h = im.size
    os.makedirs(os.path.join(args.out, name), exist_ok=True)
    for i in range(args.per_class):
        side = int(rng.integers(min(w, h) // 3, min(w, h) + 1))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        crop = im.crop((x, y, x + side, y + side)).resize((args.size, args.size), Image.Resampling.BILINEAR)
        crop.save(os.path.join(args.out, name, f"{i:04d}.jpg"), quality=90)
print("wrote", args.out)
