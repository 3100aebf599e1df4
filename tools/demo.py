"""A small labelled demo video set with real face-swap fakes.

Real deepfake datasets cannot be downloaded here, so this module makes one
from the face photos that installed packages ship.  A *real* clip is a
virtual camera drifting over one photo (pan, zoom, a little rotation,
brightness flicker, sensor noise).  A *fake* clip replays the same camera
path and noise over a copy of the photo whose inner face was replaced by
another person's face, degraded the way face-swap generators degrade it
(low resolution, then upscaled) and blended in with ``cv2.seamlessClone``.

Layout written by :func:`make_demo_videos`::

    out_dir/real/<prefix>_r000.mp4
    out_dir/fake/<prefix>_f000.mp4
    out_dir/metadata.json   {"real/x.mp4": {"label": "REAL"},
                             "fake/y.mp4": {"label": "FAKE", "original": "x.mp4"}}
"""

import dataclasses
import functools
import json
import logging
import pathlib
import zlib

import cv2
import numpy as np

from common.core.errors import UserError
from common.core.files import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

REAL_LABEL = "REAL"
FAKE_LABEL = "FAKE"
METADATA_NAME = "metadata.json"
VIDEO_FOURCC = "mp4v"
MIN_FRAME_SIDE = 128
DEFAULT_SIZE = (256, 256)

# How a camera path may move, as fractions of the frame's shorter side.
FACE_WIDTH_RANGE = (0.34, 0.42)
PAN_AMPLITUDE = 0.07
ZOOM_AMPLITUDE = 0.07
ROTATION_DEGREES = 5.0
COLOUR_GAIN_RANGE = (0.88, 1.12)
BRIGHTNESS_JITTER = 0.025
NOISE_SIGMA_RANGE = (1.5, 4.0)

# How a face swap degrades the donor face: the face width, in pixels, at
# the generator's working resolution (frames show faces about twice as wide).
SWAP_RESOLUTION_RANGE = (36.0, 52.0)
MASK_SCALE_RANGE = (0.95, 1.08)

_REAL_STREAM = 0
_FAKE_STREAM = 1


@dataclasses.dataclass(frozen=True)
class FacePhoto:
    """A still photo of one person, with its face box and five landmarks."""

    name: str
    image: np.ndarray  # RGB uint8, H x W x 3
    box: tuple[int, int, int, int]  # x, y, width, height
    landmarks: np.ndarray  # 5 x 2 (x, y): left eye, right eye, nose, mouth left, mouth right
    grayscale: bool = False
    frontal: bool = True  # only frontal faces make convincing donors

    @property
    def face_center(self):
        x, y, w, h = self.box
        return np.array([x + w / 2.0, y + h / 2.0])


@dataclasses.dataclass(frozen=True)
class CameraPath:
    """Per-frame camera state: pan offset (pixels of the frame), zoom, angle."""

    offsets: np.ndarray  # n x 2
    zooms: np.ndarray  # n
    angles: np.ndarray  # n, degrees


@dataclasses.dataclass(frozen=True)
class RealClipPlan:
    """Everything needed to render one real clip deterministically."""

    name: str
    photo_index: int
    face_width: float  # face width in output pixels at zoom 1
    path: CameraPath
    flip: bool
    colour_gains: np.ndarray  # 3, RGB
    brightness: np.ndarray  # n, per-frame gain
    noise_sigma: float
    noise_seed: int


@dataclasses.dataclass(frozen=True)
class FakeClipPlan:
    """A face swap applied to the photo of one real clip."""

    name: str
    real: RealClipPlan
    donor_index: int
    swap_resolution: float  # face width in pixels at the generator's resolution
    mask_scale: float


# Boxes and landmarks as MTCNN finds them on the untouched photos
# (tests/test_demo.py checks that MTCNN still agrees).
_GRACE_HOPPER_BOX = (178, 110, 173, 220)
_GRACE_HOPPER_LANDMARKS = [(220, 190), (308, 186), (268, 237), (232, 277), (304, 273)]
_ASTRONAUT_BOX = (182, 64, 83, 107)
_ASTRONAUT_LANDMARKS = [(204, 100), (245, 102), (224, 126), (202, 139), (244, 140)]
_CAMERA_BOX = (197, 116, 58, 81)
_CAMERA_LANDMARKS = [(234, 147), (251, 149), (250, 167), (228, 179), (243, 180)]


def grace_hopper_path():
    """Path of the Grace Hopper portrait shipped with matplotlib."""
    import matplotlib

    return pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def read_rgb_image(path):
    """Read an image file as RGB uint8."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@functools.lru_cache(maxsize=1)
def load_face_photos():
    """The three face photos the demo is made from (loaded once)."""
    from skimage import data as skimage_data

    camera = skimage_data.camera()
    return (
        FacePhoto(
            "grace_hopper",
            read_rgb_image(grace_hopper_path()),
            _GRACE_HOPPER_BOX,
            np.array(_GRACE_HOPPER_LANDMARKS, dtype=np.float32),
        ),
        FacePhoto(
            "astronaut",
            np.ascontiguousarray(skimage_data.astronaut()),
            _ASTRONAUT_BOX,
            np.array(_ASTRONAUT_LANDMARKS, dtype=np.float32),
        ),
        FacePhoto(
            "camera",
            np.ascontiguousarray(np.stack([camera] * 3, axis=-1)),
            _CAMERA_BOX,
            np.array(_CAMERA_LANDMARKS, dtype=np.float32),
            grayscale=True,
            frontal=False,
        ),
    )


def align_donor_face(donor, target):
    """Warp the donor photo so its landmarks land on the target's (similarity transform)."""
    matrix, _ = cv2.estimateAffinePartial2D(donor.landmarks, target.landmarks, method=cv2.LMEDS)
    if matrix is None:
        raise RuntimeError(f"cannot align {donor.name} onto {target.name}")
    height, width = target.image.shape[:2]
    return cv2.warpAffine(
        donor.image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def degrade_resolution(image, factor):
    """Downscale by ``factor`` (< 1) and upscale back: a generator's resolution loss."""
    if factor >= 1.0:
        return image
    height, width = image.shape[:2]
    small = cv2.resize(
        image, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


Ellipse = tuple[tuple[int, int], tuple[int, int], float]  # center, half axes, angle in degrees


def inner_face_ellipse(photo, scale=1.0):
    """Ellipse covering eyes, nose and mouth, sized from the landmarks and the face box."""
    left_eye, right_eye, _, mouth_left, mouth_right = photo.landmarks
    eyes_mid = (left_eye + right_eye) / 2.0
    mouth_mid = (mouth_left + mouth_right) / 2.0
    center = photo.landmarks.mean(axis=0)
    eye_to_mouth = float(np.linalg.norm(mouth_mid - eyes_mid))
    half_width = 0.37 * photo.box[2] * scale
    half_height = 0.85 * eye_to_mouth * scale
    eye_line = right_eye - left_eye
    angle = float(np.degrees(np.arctan2(eye_line[1], eye_line[0])))
    return (round(center[0]), round(center[1])), (round(half_width), round(half_height)), angle


def inner_face_mask(photo, scale=1.0):
    """uint8 mask (255 inside) of the inner-face ellipse, same size as the photo."""
    mask = np.zeros(photo.image.shape[:2], dtype=np.uint8)
    center, axes, angle = inner_face_ellipse(photo, scale)
    cv2.ellipse(mask, center, axes, angle, 0, 360, 255, thickness=-1)
    return mask


def swap_face(target, donor, degrade_factor, mask_scale=1.0):
    """The target photo with its inner face replaced by the donor's, degraded and blended."""
    aligned = degrade_resolution(align_donor_face(donor, target), degrade_factor)
    if target.grayscale:
        gray = cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY)
        aligned = np.stack([gray] * 3, axis=-1)
    mask = inner_face_mask(target, mask_scale)
    x, y, w, h = cv2.boundingRect(mask)
    center = (x + w // 2, y + h // 2)
    return cv2.seamlessClone(aligned, target.image, mask, center, cv2.NORMAL_CLONE)


def smooth_random_curve(rng, times, amplitude, n_waves=3):
    """A smooth random curve over ``times`` (seconds), never beyond +-``amplitude``."""
    frequencies = rng.uniform(0.05, 0.45, size=n_waves)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=n_waves)
    weights = rng.normal(size=n_waves)
    waves = np.sin(2.0 * np.pi * frequencies[:, None] * times[None, :] + phases[:, None])
    return amplitude * (weights @ waves) / np.abs(weights).sum()


def random_camera_path(rng, n_frames, fps, frame_side):
    """Random smooth pan / zoom / rotation for ``n_frames`` frames."""
    times = np.arange(n_frames) / fps
    pan = PAN_AMPLITUDE * frame_side
    offsets = np.stack([smooth_random_curve(rng, times, pan), smooth_random_curve(rng, times, pan)], axis=1)
    zooms = 1.0 + smooth_random_curve(rng, times, ZOOM_AMPLITUDE)
    angles = smooth_random_curve(rng, times, ROTATION_DEGREES)
    return CameraPath(offsets=offsets, zooms=zooms, angles=angles)


def view_center(
    photo_size,
    face_center,
    offset,
    scale,
    size,
):
    """Photo point shown mid-frame: the face panned by ``offset`` (frame pixels),
    moved where needed so the frame stays inside the photo (``photo_size`` is width, height)."""
    photo_extent = np.asarray(photo_size, dtype=np.float64)
    half_window = np.asarray(size, dtype=np.float64) / (2.0 * scale)
    wanted = face_center - np.asarray(offset) / scale
    fits = half_window <= photo_extent - half_window
    return np.where(fits, np.clip(wanted, half_window, photo_extent - half_window), photo_extent / 2.0)


def camera_matrix(center, scale, angle, size):
    """2x3 affine matrix from photo pixels to frame pixels, ``center`` landing mid-frame."""
    width, height = size
    rotation = cv2.getRotationMatrix2D((0.0, 0.0), angle, scale)[:, :2]
    translation = np.array([width / 2.0, height / 2.0]) - rotation @ center
    return np.hstack([rotation, translation[:, None]])


def apply_colour(frame, gains, noise):
    """Multiply channels by ``gains`` and add ``noise``; clip to uint8."""
    return np.clip(frame.astype(np.float32) * gains + noise, 0, 255).astype(np.uint8)


def render_clip(image, photo, plan, size):
    """RGB frames of the camera ``plan`` moving over ``image`` (``photo`` or an edited copy)."""
    base_scale = plan.face_width / photo.box[2]
    noise_rng = np.random.default_rng(plan.noise_seed)
    width, height = size
    frames = []
    photo_size = (image.shape[1], image.shape[0])
    for index in range(len(plan.brightness)):
        scale = base_scale * plan.path.zooms[index]
        center = view_center(photo_size, photo.face_center, plan.path.offsets[index], scale, size)
        matrix = camera_matrix(center, scale, plan.path.angles[index], size)
        frame = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        if plan.flip:
            frame = frame[:, ::-1]
        noise = noise_rng.normal(0.0, plan.noise_sigma, size=(height, width, 1)).astype(np.float32)
        frames.append(apply_colour(frame, plan.colour_gains * plan.brightness[index], noise))
    return frames


def clip_rng(seed, prefix, stream, index):
    """Independent, reproducible random generator for one clip."""
    return np.random.default_rng([seed, zlib.crc32(prefix.encode("utf-8")), stream, index])


def smallest_face_width_filling_frame(photo, size):
    """Face width (frame pixels) below which a zoomed-out frame would be wider or taller than the photo."""
    photo_height, photo_width = photo.image.shape[:2]
    smallest_scale = max(size[0] / photo_width, size[1] / photo_height) / (1.0 - ZOOM_AMPLITUDE)
    return smallest_scale * photo.box[2]


def real_clip_name(prefix, index):
    return f"{prefix}_r{index:03d}.mp4"


def fake_clip_name(prefix, index):
    return f"{prefix}_f{index:03d}.mp4"


def plan_real_clip(index, n_frames, fps, size, seed, prefix):
    """Random but reproducible camera, colour and noise for real clip ``index``."""
    rng = clip_rng(seed, prefix, _REAL_STREAM, index)
    photos = load_face_photos()
    photo_index = index % len(photos)
    frame_side = min(size)
    face_width = rng.uniform(*FACE_WIDTH_RANGE) * frame_side
    return RealClipPlan(
        name=real_clip_name(prefix, index),
        photo_index=photo_index,
        face_width=max(face_width, smallest_face_width_filling_frame(photos[photo_index], size)),
        path=random_camera_path(rng, n_frames, fps, frame_side),
        flip=bool(rng.integers(2)),
        colour_gains=rng.uniform(*COLOUR_GAIN_RANGE, size=3).astype(np.float32),
        brightness=(1.0 + rng.normal(0.0, BRIGHTNESS_JITTER, size=n_frames)).astype(np.float32),
        noise_sigma=float(rng.uniform(*NOISE_SIGMA_RANGE)),
        noise_seed=int(rng.integers(2**63 - 1)),
    )


def plan_fake_clip(real, fake_index, variant, seed, prefix):
    """Donor and swap settings for fake ``fake_index``, the ``variant``-th fake of ``real``."""
    rng = clip_rng(seed, prefix, _FAKE_STREAM, fake_index)
    photos = load_face_photos()
    donors = [i for i, photo in enumerate(photos) if photo.frontal and i != real.photo_index]
    first = int(rng.integers(len(donors)))
    return FakeClipPlan(
        name=fake_clip_name(prefix, fake_index),
        real=real,
        donor_index=donors[(first + variant) % len(donors)],
        swap_resolution=float(rng.uniform(*SWAP_RESOLUTION_RANGE)),
        mask_scale=float(rng.uniform(*MASK_SCALE_RANGE)),
    )


def render_real_clip(plan, size):
    """RGB frames of a real clip."""
    photo = load_face_photos()[plan.photo_index]
    return render_clip(photo.image, photo, plan, size)


def render_fake_clip(plan, size):
    """RGB frames of a fake clip: same camera and noise as its real clip, swapped face."""
    photos = load_face_photos()
    target = photos[plan.real.photo_index]
    degrade_factor = plan.swap_resolution / target.box[2]
    swapped = swap_face(target, photos[plan.donor_index], degrade_factor, plan.mask_scale)
    return render_clip(swapped, target, plan.real, size)


def write_video(path, frames, fps):
    """Write RGB frames as an mp4v video, atomically (temporary file, then rename)."""
    height, width = frames[0].shape[:2]
    with atomic_path(path) as tmp_path:
        fourcc = cv2.VideoWriter_fourcc(*VIDEO_FOURCC)
        writer = cv2.VideoWriter(str(tmp_path), fourcc, float(fps), (width, height))
        try:
            if not writer.isOpened():
                raise RuntimeError(f"cv2.VideoWriter cannot open {tmp_path} with fourcc {VIDEO_FOURCC}")
            for frame in frames:
                writer.write(np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)))
        finally:
            writer.release()


def write_metadata(path, entries):
    """Write metadata.json atomically."""
    atomic_write_text(path, json.dumps(entries, indent=2) + "\n")


def read_existing_metadata(path):
    """Entries of an existing metadata.json whose videos still exist ({} if none)."""
    if not path.exists():
        return {}
    entries = json.loads(path.read_text(encoding="utf-8"))
    return {key: value for key, value in entries.items() if (path.parent / key).exists()}


def ensure_video(
    path,
    render,
    fps,
    progress,
):
    """Render and write ``path`` unless it exists; report to ``progress``; True if written."""
    written = not path.exists()
    if written:
        write_video(path, render(), fps)
    log.debug("%s %s", "wrote" if written else "kept existing", path)
    if progress is not None:
        progress(path, written)
    return written


def validate_demo_arguments(
    n_real,
    fakes_per_real,
    seconds,
    fps,
    size,
    seed,
    prefix,
):
    """Raise ``UserError`` naming the first bad argument."""
    if n_real < 1:
        raise UserError(f"n_real must be >= 1, got {n_real}")
    if fakes_per_real < 0:
        raise UserError(f"fakes_per_real must be >= 0, got {fakes_per_real}")
    if fps <= 0:
        raise UserError(f"fps must be > 0, got {fps}")
    if round(seconds * fps) < 1:
        raise UserError(f"seconds * fps must give at least one frame, got {seconds} s at {fps} fps")
    if len(size) != 2 or min(size) < MIN_FRAME_SIDE:
        raise UserError(f"size must be (width, height) with both >= {MIN_FRAME_SIDE}, got {size}")
    if seed < 0:
        raise UserError(f"seed must be >= 0, got {seed}")
    if not prefix or any(char in prefix for char in "/\\") or prefix.startswith("."):
        raise UserError(f"prefix must be a plain file-name part, got {prefix!r}")


def demo_video_count(n_real, fakes_per_real=1):
    """How many videos :func:`make_demo_videos` writes."""
    return n_real * (1 + fakes_per_real)


def make_demo_videos(
    out_dir,
    n_real=24,
    seed=0,
    seconds=4.0,
    fps=10.0,
    size=DEFAULT_SIZE,
    prefix="demo",
    fakes_per_real=1,
    progress=None,
):
    """Write the real/fake demo videos and metadata.json under ``out_dir``; return metadata.json's path.

    Videos that already exist are kept (skipped).  ``progress(path, written)``
    is called once per video, ``written`` False for a skipped one.
    """
    size = (int(size[0]), int(size[1]))
    validate_demo_arguments(n_real, fakes_per_real, seconds, fps, size, seed, prefix)
    out_dir = pathlib.Path(out_dir)
    real_dir, fake_dir = out_dir / "real", out_dir / "fake"
    real_dir.mkdir(parents=True, exist_ok=True)
    fake_dir.mkdir(parents=True, exist_ok=True)
    n_frames = round(seconds * fps)
    metadata_path = out_dir / METADATA_NAME
    metadata = read_existing_metadata(metadata_path)
    n_written = 0
    for index in range(n_real):
        real = plan_real_clip(index, n_frames, fps, size, seed, prefix)
        render_real = functools.partial(render_real_clip, real, size)
        n_written += ensure_video(real_dir / real.name, render_real, fps, progress)
        metadata[f"real/{real.name}"] = {"label": REAL_LABEL}
        for variant in range(fakes_per_real):
            fake = plan_fake_clip(real, index * fakes_per_real + variant, variant, seed, prefix)
            render_fake = functools.partial(render_fake_clip, fake, size)
            n_written += ensure_video(fake_dir / fake.name, render_fake, fps, progress)
            metadata[f"fake/{fake.name}"] = {"label": FAKE_LABEL, "original": real.name}

    write_metadata(metadata_path, metadata)
    total = demo_video_count(n_real, fakes_per_real)
    log.info("demo videos: %d written, %d already there, in %s", n_written, total - n_written, out_dir)
    return metadata_path
