"""The seven perturbations of DeeperForensics-1.0 at their five levels, as pure functions of RGB frames.

Jiang et al., "DeeperForensics-1.0: A Large-Scale Dataset for Real-World Face Forgery Detection", CVPR 2020.
Every parameter below was read from their released code (github.com/EndlessSora/DeeperForensics-1.0,
``perturbation/add_distortion_to_video.py``, ``get_distortion_parameter``, and
``perturbation/distortions.py``); ``LEVELS`` lists them, level 1 (mildest) to 5. Their code works on BGR
frames from OpenCV; these functions take RGB and give the same result (each operation is either
channel-wise or written for RGB here). Where we depart from their code, the function says so; in every
function the result is rounded to the nearest integer and clipped to 0-255, where theirs truncates with
``astype(np.uint8)`` (a difference under one grey level; for values out of range theirs wraps around).

A frame perturbation is ``function(frame, level, rng) -> frame``: ``frame`` an (H, W, 3) uint8 RGB array
(not modified), ``level`` 1-5, ``rng`` a ``numpy.random.Generator`` (used by the random ones; the same
seed gives the same frame). ``video_compression`` takes and returns a list of frames, because H.264 codes
frames together. ``PERTURBATIONS`` names them all; ``parse_perturbation("jpeg:3")`` reads the
command-line form; ``perturb_frames`` applies one to the frames of a video.

Not reproduced: to build their dataset they wrote the perturbed frames to an XVID ``.avi`` and re-encoded
that with FFmpeg (``--via_xvid``); stage 05 scores the perturbed frames directly.
"""

import logging
import zlib
from fractions import Fraction

import cv2
import numpy as np

from common.core.errors import UserError
from common.core.registry import Registry

log = logging.getLogger(__name__)

PERTURBATIONS = Registry("perturbation", "--perturb", "common.io.perturbations.PERTURBATIONS")
LEVEL_RANGE = (1, 5)
# Their code name, then the parameter of levels 1-5 (get_distortion_parameter in add_distortion_to_video.py).
LEVELS = {
    "color_saturation": ("CS", (0.4, 0.3, 0.2, 0.1, 0.0)),  # chroma scale; smaller is worse
    "color_contrast": ("CC", (0.85, 0.725, 0.6, 0.475, 0.35)),  # intensity scale; smaller is worse
    "block_wise": ("BW", (16, 32, 48, 64, 80)),  # grey 8x8 blocks per 256 px of the shorter side
    "gaussian_noise": ("GNC", (0.001, 0.002, 0.005, 0.01, 0.05)),  # noise variance, on a 0-1 scale
    "gaussian_blur": ("GB", (7, 9, 13, 17, 21)),  # kernel size; sigma = size / 6
    "jpeg": ("JPEG", (2, 3, 4, 5, 6)),  # down- then up-sampling factor (see ``jpeg``)
    "video_compression": ("VC", (30, 32, 35, 38, 40)),  # x264 constant rate factor
}
WHOLE_VIDEO = frozenset({"video_compression"})  # perturbations of a list of frames, not of one frame
BLOCK_SIZE = 8
BLOCK_GREY = 128
# OpenCV's YCrCb conversion (BT.601 full range): luma weights, chroma scales and their inverse.
LUMA = np.array([0.299, 0.587, 0.114])
CR_SCALE, CB_SCALE = 0.713, 0.564
R_FROM_CR, G_FROM_CR, G_FROM_CB, B_FROM_CB = 1.403, -0.714, -0.344, 1.773


def level_parameter(name, level):
    """The parameter of perturbation ``name`` at ``level`` (1-5); ``UserError`` for another level."""
    if isinstance(level, bool) or not isinstance(level, int | np.integer) or not 1 <= level <= 5:
        raise UserError(f"perturbation level must be an integer from 1 to 5, got {level!r}")
    return LEVELS[name][1][level - 1]


def _check_frame(frame):
    """``frame`` if it is an (H, W, 3) uint8 array; ``ValueError`` otherwise."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError("a frame must be an (H, W, 3) uint8 RGB array")
    return frame


def _to_uint8(values):
    """Float pixel values rounded to the nearest integer and clipped to 0-255, as uint8."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _luma(frame):
    """BT.601 luma Y of an RGB frame as float64, shape (H, W, 1)."""
    return (frame.astype(np.float64) @ LUMA)[..., None]


@PERTURBATIONS.register("color_saturation")
def color_saturation(frame, level, rng=None):
    """Colour saturation change (their CS): the chroma components Cb and Cr scaled by 0.4, 0.3, 0.2, 0.1,
    0.0 at levels 1-5 about their neutral value, luma kept; in RGB that is Y + s (RGB - Y), so level 5
    is the grey image of the luma. (Their code also passes through a studio-range rescaling that adds a
    constant under 0.003 grey levels to the chroma; left out.)"""
    scale = level_parameter("color_saturation", level)
    luma = _luma(_check_frame(frame))
    return _to_uint8(luma + scale * (frame - luma))


@PERTURBATIONS.register("color_contrast")
def color_contrast(frame, level, rng=None):
    """Colour contrast change (their CC): every pixel value multiplied by 0.85, 0.725, 0.6, 0.475, 0.35 at
    levels 1-5, as their code does (it scales intensity towards black, not about the mean)."""
    scale = level_parameter("color_contrast", level)
    return _to_uint8(_check_frame(frame) * scale)


@PERTURBATIONS.register("block_wise")
def block_wise(frame, level, rng):
    """Local block-wise distortion (their BW): grey (128) 8x8 blocks at uniformly random places, 16, 32,
    48, 64, 80 of them at levels 1-5 for each 256 pixels of the frame's shorter side, counted as their
    code does (shorter side // 256, times the level's number; blocks may overlap; a block never touches
    the last row or column). Departure: their count is 0 for a frame under 256 pixels, which would leave
    it untouched; here such a frame gets the level's number once."""
    _check_frame(frame)
    height, width = frame.shape[:2]
    if min(height, width) <= BLOCK_SIZE:
        raise ValueError(f"block-wise distortion needs a frame larger than {BLOCK_SIZE} pixels")
    count = max(1, min(height, width) // 256) * level_parameter("block_wise", level)
    lefts = rng.integers(0, width - BLOCK_SIZE, size=count)
    tops = rng.integers(0, height - BLOCK_SIZE, size=count)
    out = frame.copy()
    for top, left in zip(tops, lefts):
        out[top : top + BLOCK_SIZE, left : left + BLOCK_SIZE] = BLOCK_GREY
    return out


@PERTURBATIONS.register("gaussian_noise")
def gaussian_noise(frame, level, rng):
    """White Gaussian noise in the colour components (their GNC): independent noise added to Y, Cb and Cr,
    of variance 0.001, 0.002, 0.005, 0.01, 0.05 at levels 1-5 on a 0-1 scale. Their code adds it after a
    studio-range rescaling (Y to 16-235, chroma to 16-240) and maps back with the full range, which makes
    the noise larger in 8-bit units by 255/219 for Y and 255/224 for Cb and Cr: standard deviation
    sqrt(variance) x 255 x 255/219, i.e. 9.4, 13.3, 21.0, 29.7, 66.4 grey levels of Y (chroma: x 255/224).
    We add noise of those standard deviations, so the images match theirs in distribution, and convert
    back to RGB with OpenCV's YCrCb coefficients."""
    variance = level_parameter("gaussian_noise", level)
    _check_frame(frame)
    spread = np.sqrt(variance) * 255.0
    noise_y, noise_cb, noise_cr = np.moveaxis(rng.standard_normal(frame.shape), -1, 0)
    noise_y = noise_y * spread * 255 / 219
    noise_cb = noise_cb * spread * 255 / 224
    noise_cr = noise_cr * spread * 255 / 224
    rgb_noise = np.stack(
        [
            noise_y + R_FROM_CR * noise_cr,
            noise_y + G_FROM_CR * noise_cr + G_FROM_CB * noise_cb,
            noise_y + B_FROM_CB * noise_cb,
        ],
        axis=-1,
    )
    return _to_uint8(frame + rgb_noise)


@PERTURBATIONS.register("gaussian_blur")
def gaussian_blur(frame, level, rng=None):
    """Gaussian blur (their GB): OpenCV's ``GaussianBlur`` with a square kernel of 7, 9, 13, 17, 21 pixels
    at levels 1-5 and sigma = kernel / 6 (1.17 to 3.5), as their code calls it."""
    size = level_parameter("gaussian_blur", level)
    return cv2.GaussianBlur(_check_frame(frame), (size, size), size / 6)


@PERTURBATIONS.register("jpeg")
def jpeg(frame, level, rng=None):
    """What DeeperForensics-1.0 calls JPEG compression (their JPEG): their released code does not encode a
    JPEG; it shrinks the frame by 2, 3, 4, 5, 6 at levels 1-5 (each side // factor) and enlarges it back,
    both with OpenCV's default bilinear ``resize``, giving the blocky, detail-less look of a heavy JPEG.
    We do the same, so results compare with theirs; we could not confirm from their code or paper how
    these factors map to JPEG qualities, so a true JPEG encoding is not offered."""
    factor = level_parameter("jpeg", level)
    height, width = _check_frame(frame).shape[:2]
    small = cv2.resize(frame, (max(1, width // factor), max(1, height // factor)))
    return cv2.resize(small, (width, height))


@PERTURBATIONS.register("video_compression")
def video_compression(frames, level, rng=None, fps=30):
    """Video compression (their VC): the frames encoded with H.264 (libx264, its default preset) at a
    constant rate factor of 30, 32, 35, 38, 40 at levels 1-5 and decoded back, in memory with PyAV,
    like their ``ffmpeg -i IN -crf CRF OUT.mp4`` (FFmpeg's default encoder for .mp4 is libx264).
    ``frames``: a list of (H, W, 3) uint8 RGB frames of one size; returns a list of as many. The frames
    pass through YUV 4:2:0 (as their H.264 source videos already were); an odd width or height is padded
    by one edge pixel for the encoder and cropped back. ``fps`` (x264's rate control takes the frame rate
    into account) is 30 unless given; theirs was the source video's. ``rng`` is not used: x264 is
    deterministic, so the same frames give the same result."""
    import av

    crf = level_parameter("video_compression", level)
    frames = [_check_frame(frame) for frame in frames]
    if not frames:
        return []
    height, width = frames[0].shape[:2]
    if any(frame.shape != frames[0].shape for frame in frames):
        raise ValueError("video compression needs frames of one size")
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = width + width % 2, height + height % 2
    encoder.pix_fmt = "yuv420p"
    encoder.framerate = Fraction(fps)
    encoder.time_base = 1 / Fraction(fps)
    encoder.options = {"crf": str(crf)}
    decoder = av.CodecContext.create("h264", "r")
    decoded = []

    def decode(packets):
        for packet in packets:  # to arrays at once: a decoded picture's buffer may be reused by the decoder
            decoded.extend(
                picture.to_ndarray(format="rgb24")[:height, :width] for picture in decoder.decode(packet)
            )

    for index, frame in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(np.pad(frame, pad, mode="edge"), format="rgb24")
        picture.pts = index
        decode(encoder.encode(picture.reformat(format="yuv420p")))
    decode(encoder.encode(None))
    decode([None])
    if len(decoded) != len(frames):
        raise RuntimeError(f"H.264 round trip gave {len(decoded)} frames for {len(frames)}")
    return decoded


def parse_perturbation(text):
    """``(name, level)`` from the command-line form "NAME:LEVEL" (``jpeg:3``); ``UserError`` with one line
    naming the known perturbations, or the allowed levels."""
    name, colon, level = str(text).strip().partition(":")
    if not colon:
        raise UserError(f"--perturb takes NAME:LEVEL (e.g. jpeg:3), got {text!r}")
    PERTURBATIONS.get(name)
    if not level.strip().isdigit():
        raise UserError(f"perturbation level must be an integer from 1 to 5, got {level!r} in {text!r}")
    level_parameter(name, int(level))
    return name, int(level)


def perturb_frames(frames, name, level, rng):
    """The frames of one video (a list of (H, W, 3) uint8 RGB arrays) with perturbation ``name`` at
    ``level`` applied: frame by frame, drawing from ``rng`` in frame order, or to the whole list for a
    video perturbation. Returns a new list."""
    function = PERTURBATIONS.get(name)
    level_parameter(name, level)
    if name in WHOLE_VIDEO:
        return function(list(frames), level, rng)
    return [function(frame, level, rng) for frame in frames]


def perturb_indexed_bgr(indexed_frames, name, level, seed, video):
    """Stage 05's hook: the ``(frame_index, frame_bgr)`` pairs of one video's sampled frames, as decoded, with
    perturbation ``name`` at ``level`` applied to each frame in RGB, the random ones drawn from a generator
    seeded by ``seed`` (the config's) and ``video`` (its file name), so the same seed gives the same frames
    of a video wherever it lies and whatever else is scored. An iterator in the same order: a frame
    perturbation goes frame by frame as the frames are decoded (no video is held in memory whole); a video
    perturbation (``WHOLE_VIDEO``) takes every frame first."""
    level_parameter(name, level)
    rng = np.random.default_rng([int(seed), zlib.crc32(str(video).encode())])
    if name in WHOLE_VIDEO:
        indexed_frames = list(indexed_frames)
        rgb = [np.ascontiguousarray(frame[..., ::-1]) for _, frame in indexed_frames]
        perturbed = zip((index for index, _ in indexed_frames), perturb_frames(rgb, name, level, rng))
    else:
        function = PERTURBATIONS.get(name)
        perturbed = (
            (index, function(np.ascontiguousarray(frame[..., ::-1]), level, rng))
            for index, frame in indexed_frames
        )
    for index, frame in perturbed:
        yield index, np.ascontiguousarray(frame[..., ::-1])


def describe_perturbation(name, level):
    """The perturbation in words, for reports: "perturbed: jpeg level 3"."""
    return f"perturbed: {name} level {level}"
