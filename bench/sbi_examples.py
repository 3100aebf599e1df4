#!/usr/bin/env python3
"""The README's picture of self-blended pseudo-fakes (``--pseudo-fakes sbi``). Run by hand:

    python bench/sbi_examples.py --output docs/sbi_examples.png

Each row is one face crop, cut with stage 02's 30 % margin from a photo that an installed package ships
(the demo's Grace Hopper, astronaut and camera man), made into a pseudo-fake with one seed: the crop with
the face mesh's points (or "ellipse" when the mesh found no face), the blend weights, the pseudo-fake, and
the difference between the two, amplified. Also prints the time of one mesh and one blend per face.
"""

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def face_crops():
    """``(name, BGR crop)`` of each demo photo's face, cut as stage 02 cuts it."""
    from common.core.config import default
    from common.faces.detection import crop_with_margin
    from tools.demo import load_face_photos

    crops = []
    for photo in load_face_photos():
        x0, y0, x1, y1 = crop_with_margin(photo.box, photo.image.shape, default("preprocess.margin"))
        crops.append((photo.name, cv2.cvtColor(photo.image[y0:y1, x0:x1], cv2.COLOR_RGB2BGR)))
    return crops


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=Path("docs/sbi_examples.png"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 3], help="one row per face and seed")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from common.core.files import atomic_path
    from common.faces.facemesh import FaceMesh
    from common.training.sbi import self_blend

    mesh = FaceMesh()
    rows, mesh_seconds, blend_seconds = [], [], []
    for name, crop in face_crops():
        started = time.perf_counter()
        points, presence = mesh.find(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
        mesh_seconds.append(time.perf_counter() - started)
        for seed in args.seeds:
            started = time.perf_counter()
            fake, weights = self_blend(crop, points, np.random.default_rng(seed))
            blend_seconds.append(time.perf_counter() - started)
            rows.append((name, seed, crop, points, presence, fake, weights))
    print(
        f"{len(mesh_seconds)} faces: face mesh {1000 * np.median(mesh_seconds):.1f} ms, self-blend "
        f"{1000 * np.median(blend_seconds):.1f} ms a face (medians)"
    )

    figure, axes = plt.subplots(len(rows), 4, figsize=(7.5, 2.3 * len(rows)), squeeze=False)
    for axis_row, (name, seed, crop, points, presence, fake, weights) in zip(axes, rows):
        difference = np.abs(fake.astype(np.float32) - crop.astype(np.float32)).max(axis=2)
        panels = [
            (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), f"{name}: mesh {presence:.2f}"),
            (weights, f"blend weights (max {weights.max():.2f})"),
            (cv2.cvtColor(fake, cv2.COLOR_BGR2RGB), f"pseudo-fake, seed {seed}"),
            (np.clip(difference * 4, 0, 255).astype(np.uint8), "|fake - source| x4"),
        ]
        for axis, (image, title) in zip(axis_row, panels):
            axis.imshow(image, cmap="gray", vmin=0, vmax=1 if image.dtype != np.uint8 else 255)
            axis.set_title(title, fontsize=8)
            axis.axis("off")
        if points is not None:
            axis_row[0].scatter(points[:, 0], points[:, 1], s=0.3, c="lime")
        else:
            axis_row[0].set_title(f"{name}: ellipse (mesh {presence:.2f})", fontsize=8)
    figure.tight_layout()
    figure.set_dpi(72)
    figure.canvas.draw()
    picture = Image.fromarray(np.asarray(figure.canvas.buffer_rgba())[..., :3])
    plt.close(figure)
    with atomic_path(args.output) as temporary:  # 256 colours: a third of the bytes, no visible change
        picture.quantize(256, dither=Image.Dither.NONE).save(temporary, optimize=True)
    print(f"-> {args.output}")


if __name__ == "__main__":
    main()
