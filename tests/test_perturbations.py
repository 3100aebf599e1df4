"""Tests for common.io.perturbations: the DeeperForensics-1.0 perturbations at levels 1-5."""

import zlib

import cv2
import numpy as np
import pytest

from common.core.errors import UserError
from common.io import perturbations

FRAME_PERTURBATIONS = sorted(set(perturbations.LEVELS) - perturbations.WHOLE_VIDEO)


def textured_frame(size=(96, 128), seed=0):
    """An (H, W, 3) uint8 RGB frame of colour gradients, shapes and fine noise, like a small photo."""
    height, width = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (height + width) + 64], -1)
    frame = frame + rng.integers(-20, 21, frame.shape)
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    cv2.circle(frame, (width // 3, height // 2), height // 4, (220, 40, 60), -1)
    cv2.rectangle(frame, (width // 2, 10), (width - 10, height // 2), (30, 200, 90), -1)
    return frame


def run(name, frame, level, seed=0):
    """One perturbation of one frame (a video perturbation gets a one-frame video)."""
    rng = np.random.default_rng(seed)
    if name in perturbations.WHOLE_VIDEO:
        return perturbations.PERTURBATIONS.get(name)([frame], level, rng)[0]
    return perturbations.PERTURBATIONS.get(name)(frame, level, rng)


def mean_error(frame, perturbed):
    return float(np.abs(perturbed.astype(float) - frame).mean())


def sharpness(frame):
    """Variance of the Laplacian of the grey image: falls as a frame gets blurrier."""
    return float(cv2.Laplacian(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


@pytest.mark.parametrize("name", sorted(perturbations.LEVELS))
@pytest.mark.parametrize("level", [1, 5])
def test_every_perturbation_changes_the_frame_and_keeps_shape_and_dtype(name, level):
    frame = textured_frame()
    before = frame.copy()
    perturbed = run(name, frame, level)
    assert perturbed.shape == frame.shape and perturbed.dtype == np.uint8
    assert mean_error(frame, perturbed) > 0.5
    np.testing.assert_array_equal(frame, before)  # the input frame is not modified


def test_all_seven_are_registered_with_five_levels():
    assert set(perturbations.PERTURBATIONS.names()) == set(perturbations.LEVELS)
    assert len(perturbations.LEVELS) == 7
    assert all(len(parameters) == 5 for _, parameters in perturbations.LEVELS.values())


@pytest.mark.parametrize("name", sorted(perturbations.LEVELS))
def test_the_change_grows_with_the_level(name):
    """Each level perturbs more than the one before (mean absolute error against the frame)."""
    frame = textured_frame(size=(128, 128))
    errors = [mean_error(frame, run(name, frame, level)) for level in range(1, 6)]
    assert errors == sorted(errors) and errors[0] < errors[-1], errors


def test_blur_loses_detail_with_the_level():
    frame = textured_frame(size=(128, 160))
    detail = [sharpness(perturbations.gaussian_blur(frame, level)) for level in range(1, 6)]
    assert detail == sorted(detail, reverse=True) and detail[0] < sharpness(frame) / 10, detail


def test_saturation_level_5_is_the_luma_grey_and_contrast_scales_values():
    frame = textured_frame()
    grey = perturbations.color_saturation(frame, 5)
    assert (grey.max(axis=2) - grey.min(axis=2) <= 1).all()
    luma = frame.astype(float) @ [0.299, 0.587, 0.114]
    assert np.abs(grey[..., 0] - luma).max() <= 0.5 + 1e-9
    darker = perturbations.color_contrast(frame, 1)
    np.testing.assert_array_equal(darker, np.rint(frame * 0.85).astype(np.uint8))


def test_block_wise_draws_grey_8x8_blocks_by_the_frame_size():
    """A black 512x300 frame: shorter side 300 // 256 = 1, so level 2 draws 32 blocks; 600x520: 2 x 32."""
    for (height, width), count in (((300, 512), 32), ((520, 600), 64)):
        frame = np.zeros((height, width, 3), np.uint8)
        out = perturbations.block_wise(frame, 2, np.random.default_rng(0))
        assert set(np.unique(out)) == {0, 128}
        grey_pixels = int((out[..., 0] == 128).sum())
        assert 64 < grey_pixels <= count * 64  # blocks may overlap
        assert (out[-1] == 0).all() and (out[:, -1] == 0).all()


def test_noise_has_the_standard_deviation_of_their_code():
    """On a mid-grey frame (no clipping) the luma of the noise has standard deviation
    sqrt(variance) x 255 x 255/219: 9.39 grey levels at level 1."""
    frame = np.full((256, 256, 3), 128, np.uint8)
    noisy = perturbations.gaussian_noise(frame, 1, np.random.default_rng(0)).astype(float)
    luma = noisy @ [0.299, 0.587, 0.114]
    assert luma.std() == pytest.approx(np.sqrt(0.001) * 255 * 255 / 219, rel=0.03)


@pytest.mark.parametrize("name", ["block_wise", "gaussian_noise"])
def test_same_seed_same_frames_other_seed_other_frames(name):
    frames = [textured_frame(seed=i) for i in range(3)]
    again = lambda seed: perturbations.perturb_frames(frames, name, 3, np.random.default_rng(seed))
    first, second, other = again(5), again(5), again(6)
    for a, b, c in zip(first, second, other):
        np.testing.assert_array_equal(a, b)
        assert (a != c).any()
    assert (first[0] != first[1]).any()  # frames of one video get different draws


def test_video_compression_is_deterministic_and_keeps_every_frame_of_an_odd_size():
    frames = [np.roll(textured_frame(size=(67, 91)), shift, axis=1) for shift in range(0, 12, 2)]
    once = perturbations.perturb_frames(frames, "video_compression", 2, np.random.default_rng(0))
    twice = perturbations.perturb_frames(frames, "video_compression", 2, np.random.default_rng(1))
    assert len(once) == len(frames)
    assert all(frame.shape == (67, 91, 3) and frame.dtype == np.uint8 for frame in once)
    for a, b in zip(once, twice):
        np.testing.assert_array_equal(a, b)
    assert 0.5 < mean_error(frames[3], once[3]) < 40
    assert perturbations.video_compression([], 1) == []


@pytest.mark.parametrize("level", [0, 6, -1, 2.0, "3", True])
def test_a_level_out_of_range_is_refused(level):
    with pytest.raises(UserError, match="level must be an integer from 1 to 5"):
        perturbations.gaussian_blur(textured_frame(), level)


def test_a_frame_of_the_wrong_kind_is_refused():
    with pytest.raises(ValueError, match="uint8 RGB"):
        perturbations.jpeg(textured_frame().astype(np.float32), 1)


def test_parse_name_and_level():
    assert perturbations.parse_perturbation("jpeg:3") == ("jpeg", 3)
    assert perturbations.parse_perturbation(" gaussian_blur:5 ") == ("gaussian_blur", 5)
    for text, message in (
        ("jpeg", "takes NAME:LEVEL"),
        ("jpg:3", "unknown perturbation 'jpg' for --perturb; known: block_wise"),
        ("jpeg:9", "from 1 to 5"),
        ("jpeg:high", "from 1 to 5"),
        ("jpeg:", "from 1 to 5"),
    ):
        with pytest.raises(UserError, match=message) as raised:
            perturbations.parse_perturbation(text)
        assert "\n" not in str(raised.value)


def test_stage_05_hook_perturbs_frame_by_frame_as_decoded_with_the_draws_of_the_whole_video():
    frames = [textured_frame(seed=i) for i in range(4)]
    pulled = []

    def decoded():  # as stage 05's decoder hands frames over, BGR
        for index, frame in enumerate(frames):
            pulled.append(index)
            yield index * 10, np.ascontiguousarray(frame[..., ::-1])

    hook = perturbations.perturb_indexed_bgr(decoded(), "gaussian_noise", 3, seed=7, video="a.mp4")
    first = next(hook)
    assert pulled == [0]  # one frame decoded, not the whole video
    out = [first, *hook]
    rng = np.random.default_rng([7, zlib.crc32(b"a.mp4")])
    expected = perturbations.perturb_frames(frames, "gaussian_noise", 3, rng)
    assert [index for index, _ in out] == [0, 10, 20, 30]
    for (_, bgr), rgb in zip(out, expected):
        np.testing.assert_array_equal(bgr[..., ::-1], rgb)
    compressed = list(perturbations.perturb_indexed_bgr(decoded(), "video_compression", 1, 7, "a.mp4"))
    assert [index for index, _ in compressed] == [0, 10, 20, 30]
