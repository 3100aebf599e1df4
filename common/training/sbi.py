"""Self-blended images (Shiohara & Yamasaki, CVPR 2022): training fakes made from real faces alone.

A copy of a face crop is changed slightly (colour; blur, sharpening or a resolution loss; scale, rotation
and position) and blended back into the original inside a blurred, randomly deformed face mask at a random
ratio. What is left is what face swaps have in common (a blending boundary, a colour and sharpness mismatch
between the inner face and the rest) without the fingerprint of any one generator, which is why a detector
trained on them holds up better on other datasets. ``04-train-cnn.py --pseudo-fakes sbi`` replaces the train
split's fakes by one self-blended face per real face (``replace_fakes``).
"""

import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from common.core.files import atomic_write_csv, encode_jpeg, write_jpeg
from common.core.manifest import FAKE, LABEL_NAMES, REAL
from common.faces.facemesh import FaceMesh
from common.training.pseudo_fakes import PSEUDO_FAKES, ReplaceTheFakes

log = logging.getLogger(__name__)

FOLDER = "pseudo-fakes"  # in the run directory: the JPEGs and RECORD
RECORD = "pseudo_fakes.csv"  # one row per pseudo-fake: the training row, its source face, mask and ratio
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # as in the paper: a full blend half the time
METHOD = "sbi"  # the ``method`` column of the pseudo-fakes' rows


def hull_mask(shape, points, rng):
    """A 0/1 mask of the convex hull of the mesh points, in one of three variants as SBI varies its masks:
    the whole face (half the time), the face below the forehead (the top fifth of the points left out), or
    the hull shrunk towards its centre."""
    variant = rng.choice(3, p=[0.5, 0.25, 0.25])
    if variant == 1:
        points = points[points[:, 1] >= np.quantile(points[:, 1], 0.2)]
    elif variant == 2:
        centre = points.mean(axis=0)
        points = centre + (points - centre) * rng.uniform(0.8, 0.95)
    mask = np.zeros(shape[:2], np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1.0)
    return mask


def ellipse_mask(shape):
    """The mask when the mesh finds no face: an upright ellipse in the crop's centre, about the face box
    that stage 02's 30 % margin leaves in the middle 1/1.6 of the crop each way."""
    height, width = shape[:2]
    mask = np.zeros((height, width), np.float32)
    axes = (max(1, round(width * 0.28)), max(1, round(height * 0.34)))
    cv2.ellipse(mask, (width // 2, round(height * 0.52)), axes, 0, 0, 360, 1.0, -1)
    return mask


def change_colour(image, rng):
    """Hue, saturation and brightness jitter, then a shift of each channel (float32 BGR in 0..255)."""
    hsv = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180  # OpenCV's hue is 0..180
    hsv[..., 1] *= rng.uniform(0.8, 1.2)
    hsv[..., 2] *= rng.uniform(0.85, 1.15)
    image = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    return image + rng.uniform(-12, 12, 3).astype(np.float32)


def change_sharpness(image, rng):
    """One of: a Gaussian blur, an unsharp mask, or a resolution loss (down- and upscaled)."""
    kind = rng.integers(3)
    if kind == 0:
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
    if kind == 1:
        amount = rng.uniform(0.3, 1.0)
        return cv2.addWeighted(image, 1 + amount, cv2.GaussianBlur(image, (0, 0), 1.0), -amount, 0)
    height, width = image.shape[:2]
    factor = rng.uniform(0.4, 0.8)
    small = cv2.resize(
        image, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def random_affine(shape, rng):
    """A 2x3 matrix: scale 0.95..1.05 and rotation up to 3 degrees about the centre, a shift of up to 3 %
    across and 1.5 % down (the paper's ranges for scale and shift)."""
    height, width = shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), rng.uniform(-3, 3), rng.uniform(0.95, 1.05))
    matrix[:, 2] += [rng.uniform(-0.03, 0.03) * width, rng.uniform(-0.015, 0.015) * height]
    return matrix


def elastic_maps(shape, rng):
    """``cv2.remap`` maps that bend an image by a smooth random field: a 5x5 grid of displacements of up
    to 3 % of the crop, interpolated to every pixel."""
    height, width = shape[:2]
    amplitude = rng.uniform(0.0, 0.03) * max(height, width)
    coarse = rng.uniform(-1, 1, (2, 5, 5)).astype(np.float32)
    shift_x, shift_y = (
        cv2.resize(c, (width, height), interpolation=cv2.INTER_CUBIC) * amplitude for c in coarse
    )
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return grid_x + shift_x, grid_y + shift_y


def blend_weights(mask, rng):
    """Soft weights from a 0/1 mask: grown or shrunk by up to 5 % of the face's size, Gaussian-blurred
    (sigma 1 to 6 % of it), scaled to peak at one of BLEND_RATIOS. Exactly 0 beyond the blur's reach."""
    size = np.sqrt(mask.sum())
    radius = int(round(rng.uniform(0, 0.05) * size))
    if radius:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        morph = cv2.dilate if rng.random() < 0.5 else cv2.erode
        shrunk_or_grown = morph(mask, kernel)
        mask = shrunk_or_grown if shrunk_or_grown.any() else mask
    soft = cv2.GaussianBlur(mask, (0, 0), max(0.5, rng.uniform(0.01, 0.06) * size))
    return soft / soft.max() * rng.choice(BLEND_RATIOS)


def change_look(image, rng):
    """The colour change, then the sharpness change (float32 BGR in 0..255): what makes the two sides of a
    blend differ."""
    return change_sharpness(change_colour(image, rng), rng)


def blend_into(source, target, points, rng):
    """``source`` (float32 BGR) moved and blended into ``target`` (float32 BGR, the same crop) inside a
    deformed face mask: ``(fake uint8, weights)``, ``fake = source * weights + target * (1 - weights)``."""
    shape = target.shape
    mask = hull_mask(shape, points, rng) if points is not None else ellipse_mask(shape)
    matrix, size = random_affine(shape, rng), (shape[1], shape[0])
    source = cv2.warpAffine(source, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    moved = cv2.warpAffine(mask, matrix, size, flags=cv2.INTER_LINEAR)  # the mask follows the moved face
    bent = cv2.remap(moved, *elastic_maps(shape, rng), cv2.INTER_LINEAR)
    mask = (bent > 0.5).astype(np.float32)
    if not mask.any():  # a crop too small for its mask to survive the warps
        mask = ellipse_mask(shape)
    weights = blend_weights(mask, rng)
    fake = source * weights[..., None] + target * (1.0 - weights[..., None])
    return np.clip(np.rint(fake), 0, 255).astype(np.uint8), weights


def self_blend(image_bgr, points, rng):
    """One self-blended fake of a face crop (uint8 BGR) and the blend weights it used (float32 in 0..1, the
    crop's height x width): ``fake = source * weights + image * (1 - weights)``, the source being the crop
    with ``change_look``, so the fake equals the crop wherever the weights are 0 (``once`` mode).
    ``points``: the face mesh's (468, 2) points in the crop, or ``None`` for the centred ellipse."""
    target = image_bgr.astype(np.float32)
    return blend_into(change_look(target, rng), target, points, rng)


def pair_sides(image_bgr, rng):
    """``(source, target)`` of one of the paper's pairs (float32 BGR): ``change_look`` goes to the source or,
    half the time, to the target, and the pair's real face is the target (Shiohara & Yamasaki's
    ``self_blending`` returns the changed target as the real image)."""
    original = image_bgr.astype(np.float32)
    to_source = rng.random() < 0.5
    changed = change_look(original, rng)
    return (changed, original) if to_source else (original, changed)


def blend_pair(image_bgr, points, rng):
    """The paper's pair made from a face crop (``online`` mode): ``(real, fake, weights)``, uint8 BGR for
    the first two. ``real`` is the crop, or the crop with ``change_look`` when the target side was changed;
    ``fake`` is the other side blended into it. ``real`` alone is ``pair_real`` with an equal generator."""
    source, target = pair_sides(image_bgr, rng)
    fake, weights = blend_into(source, target, points, rng)
    return np.clip(np.rint(target), 0, 255).astype(np.uint8), fake, weights


def pair_real(image_bgr, rng):
    """The real face of ``blend_pair``'s pair, without making its fake."""
    return np.clip(np.rint(pair_sides(image_bgr, rng)[1]), 0, 255).astype(np.uint8)


def make_pseudo_fakes(real_rows, output_dir, seed, jpeg_quality, stream=()):
    """One self-blended fake per readable face of ``real_rows`` (rows of ``common.training.inputs.load_split``, with
    ``file``), written as JPEG at ``jpeg_quality`` into ``output_dir`` with RECORD. Face ``i`` is made with
    the random generator of ``(seed, i, *stream)``, so a seed gives the same fakes. Returns the fakes as
    training rows: the source row's columns, label FAKE, method METHOD, ``path`` relative to the run
    directory (``output_dir``'s name under it), ``file``."""
    output_dir = Path(output_dir)
    mesh = FaceMesh()
    rows, unreadable = [], 0
    started = time.perf_counter()
    for position, row in enumerate(
        tqdm(real_rows.to_dict("records"), desc="SBI pseudo-fakes", unit="face", mininterval=1.0)
    ):
        image = cv2.imread(str(row["file"]), cv2.IMREAD_COLOR)
        if image is None:  # training leaves the real face out too, and records it as unreadable
            unreadable += 1
            continue
        rng = np.random.default_rng([seed, position, *stream])
        points, presence = mesh.find(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        fake, weights = self_blend(image, points, rng)
        name = f"{position:06d}_{Path(row['path']).name}"
        write_jpeg(output_dir / name, fake, jpeg_quality)
        rows.append(
            {
                **row,
                "label": FAKE,
                "label_name": LABEL_NAMES[FAKE],
                "method": METHOD,
                "video_id": f"{row['video_id']}#{METHOD}",  # never the same video as its source
                "path": f"{output_dir.name}/{name}",
                "file": output_dir / name,
                "source_path": row["path"],
                "mask": "mesh" if points is not None else "ellipse",
                "mesh_presence": round(float(presence), 4),
                "blend_ratio": round(float(weights.max()), 4),
            }
        )
    seconds = time.perf_counter() - started
    extra = ["source_path", "mask", "mesh_presence", "blend_ratio"]  # in RECORD only
    fakes = pd.DataFrame(rows, columns=[*real_rows.columns, *extra])
    atomic_write_csv(output_dir / RECORD, fakes.drop(columns="file"))
    ellipses = int((fakes["mask"] == "ellipse").sum())
    log.info(
        "%d SBI pseudo-fakes in %.1f s (%.1f ms a face) -> %s; %d with the centred ellipse (the face mesh "
        "found no face)%s",
        len(rows),
        seconds,
        1000 * seconds / max(1, len(real_rows)),
        output_dir,
        ellipses,
        f"; {unreadable} unreadable real face(s) skipped" if unreadable else "",
    )
    return fakes.drop(columns=extra)


def replace_fakes(rows, run_dir, seed, jpeg_quality, folder=FOLDER, stream=()):
    """A split's rows with its fake faces replaced by self-blended ones made once from its real faces, one
    per real face (so the classes stay balanced), in ``run_dir/folder``; no fake image of the split is read.
    ``stream``: more entropy for the faces' random generators (``make_pseudo_fakes``)."""
    reals = rows[rows["label"] == REAL]
    log.info(
        "--pseudo-fakes sbi: the %s split's %d fake faces are left out; self-blending its %d real faces",
        rows["split"].iloc[0] if len(rows) else "?",
        int((rows["label"] == FAKE).sum()),
        len(reals),
    )
    fakes = make_pseudo_fakes(reals, Path(run_dir) / folder, seed, jpeg_quality, stream)
    return pd.concat([reals, fakes], ignore_index=True)


class OnlineBlends:
    """Fresh self-blended pairs every epoch, as the paper trains (``train.sbi.mode: online``).

    ``rows``: the training rows, the real faces of ``real_rows`` that could be read (rows ``0..n-1``) and
    one pseudo-fake row per real face (rows ``n..2n-1``: label FAKE, method METHOD, ``path`` and ``file``
    its source's, ``video_id`` ``<source video>#sbi``). Calling the object with a row's position returns
    that row's image as JPEG bytes (at the crop's size and ``jpeg_quality``, as stage 02 stores faces):
    its k-th call for a row is the k-th epoch's image of that row, made with the random generator of
    ``(seed, source face, k)``, so the real row and the fake row of one face form the paper's pair
    (``blend_pair``: the changed side is the source or the target at random, and the real face is the
    target), new every epoch and the same for a seed. The face mesh runs once per face, here; thread-safe,
    for ``tf.data``'s parallel map (OpenCV releases the GIL).
    """

    def __init__(self, real_rows, seed, jpeg_quality):
        self.seed, self.jpeg_quality = seed, jpeg_quality
        mesh = FaceMesh()
        kept, self.points = [], []
        started = time.perf_counter()
        for position, row in enumerate(real_rows.to_dict("records")):
            image = cv2.imread(str(row["file"]), cv2.IMREAD_COLOR)
            if image is None:  # training leaves it out too, and records it as unreadable
                continue
            kept.append(position)
            self.points.append(mesh.find(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))[0])
        reals = real_rows.iloc[kept].reset_index(drop=True)
        fakes = reals.assign(
            label=FAKE,
            label_name=LABEL_NAMES[FAKE],
            method=METHOD,
            video_id=[f"{video}#{METHOD}" for video in reals["video_id"]],
        )
        self.rows = pd.concat([reals, fakes], ignore_index=True)
        self.files = [str(path) for path in reals["file"]]
        self.draws = np.zeros(len(self.rows), np.int64)
        self.lock = threading.Lock()
        log.info(
            "--pseudo-fakes sbi (online): %d real faces meshed in %.1f s (%d with the centred ellipse%s); a "
            "new pseudo-fake of each, and its pair's real face, every epoch",
            len(reals),
            time.perf_counter() - started,
            sum(points is None for points in self.points),
            f"; {len(real_rows) - len(reals)} unreadable left out" if len(reals) < len(real_rows) else "",
        )

    def __call__(self, position):
        position = int(position)
        with self.lock:
            draw = self.draws[position]
            self.draws[position] += 1
        face = position % len(self.files)
        rng = np.random.default_rng([self.seed, face, draw])
        image = cv2.imread(self.files[face], cv2.IMREAD_COLOR)
        real = position < len(self.files)
        made = pair_real(image, rng) if real else blend_pair(image, self.points[face], rng)[1]
        return encode_jpeg(made, self.jpeg_quality)


VAL_FOLDER = "pseudo-fakes-val"  # in the run directory, with train.sbi.val_fakes: sbi
VAL_STREAM = (1,)  # the val pseudo-fakes' own random streams, apart from the train split's


def training_rows(train_rows, val_rows, settings, run_dir, seed, jpeg_quality):
    """``(train rows, val rows, generate)`` for ``train.pseudo_fakes: sbi``: the train split's fakes
    replaced by pseudo-fakes made from its real faces, online (``generate``: an ``OnlineBlends``, which makes
    every train image anew each epoch) or once (``replace_fakes``; ``generate`` None); with
    ``train.sbi.val_fakes: sbi`` the val split's fakes replaced by pseudo-fakes made once from its real faces
    (a fixed seed: the same every epoch and run). The test split is never touched."""
    generate = None
    if settings["sbi"]["mode"] == "online":
        reals = train_rows[train_rows["label"] == REAL]
        log.info(
            "--pseudo-fakes sbi: the train split's %d fake faces are left out",
            int((train_rows["label"] == FAKE).sum()),
        )
        generate = OnlineBlends(reals, seed, jpeg_quality)
        train_rows = generate.rows
    else:
        train_rows = replace_fakes(train_rows, run_dir, seed, jpeg_quality)
    if settings["sbi"]["val_fakes"] == "sbi":
        val_rows = replace_fakes(val_rows, run_dir, seed, jpeg_quality, VAL_FOLDER, VAL_STREAM)
    return train_rows, val_rows, generate


def selection_data(settings):
    """What model selection's val fakes were (metrics.json ``model_selection.val_fakes``, report.md)."""
    if settings["pseudo_fakes"] == "sbi" and settings["sbi"]["val_fakes"] == "sbi":
        return "SBI pseudo-fakes made once from the val split's real faces (its own fakes left out)"
    return "the val split's own fakes"


class SelfBlendedImages(ReplaceTheFakes):
    """``sbi``: the train split's fakes replaced by self-blended real faces (``training_rows``)."""

    def training_rows(self, train_rows, val_rows, settings, run_dir, seed, jpeg_quality):
        return training_rows(train_rows, val_rows, settings, run_dir, seed, jpeg_quality)

    def selected(self, settings):
        return {"val_fakes": selection_data(settings)}


PSEUDO_FAKES.register("sbi", SelfBlendedImages())
