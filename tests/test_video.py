import threading

import cv2
import numpy as np
import pytest
from conftest import write_video

from common.core.config import DEFAULTS
from common.core.errors import VideoError
from common.io.video import (
    VideoInfo,
    describe_sampling,
    pick_frames,
    prefetched,
    probe_video,
    read_frames,
    sample_frame_indices,
    scale_for_width,
)


@pytest.mark.parametrize(
    "width, scale",
    [(160, 2.0), (299, 2.0), (300, 1.0), (1000, 1.0), (1001, 0.5), (1900, 0.5), (1901, 0.33), (1920, 0.33)],
)
def test_resize_rule_by_frame_width(width, scale):
    assert scale_for_width(width) == scale


def test_sampling_rate_and_cap_spread_frames_evenly():
    ten_seconds = VideoInfo(frame_count=300, fps=30.0, width=640, height=480)
    indices = sample_frame_indices(ten_seconds, fps=1.0)
    assert len(indices) == 10
    assert np.all(np.diff(indices) == 30)  # one per second, evenly spaced
    assert len(sample_frame_indices(ten_seconds, fps=2.0)) == 20
    capped = sample_frame_indices(ten_seconds, fps=2.0, max_frames=4)
    assert len(capped) == 4 and capped[0] < 75 and capped[-1] > 225  # spread over the whole video
    assert sample_frame_indices(VideoInfo(5, 30.0, 64, 64), fps=1.0) == [
        2
    ]  # a short clip still gives a frame


def test_a_fixed_number_of_frames_per_video_whatever_its_length():
    """``video.sampling: frames``: N evenly spaced frames, as DeepfakeBench samples (32); ``fps`` by length."""
    rule = {**DEFAULTS["video"], "sampling": "frames", "frames": 4}
    for seconds in (2, 10, 60):
        info = VideoInfo(frame_count=30 * seconds, fps=30.0, width=640, height=480)
        indices = pick_frames(info, rule)
        assert len(indices) == 4 and np.all(np.diff(indices) == 30 * seconds // 4)
        assert len(pick_frames(info, {**rule, "sampling": "fps"})) == seconds  # 1 per second
    assert pick_frames(VideoInfo(3, 30.0, 64, 64), rule) == [0, 1, 2]  # a shorter clip: every frame
    saved_before_sampling = {"fps": 2.0, "max_frames": 0}  # a model file's video section from before the key
    assert len(pick_frames(VideoInfo(300, 30.0, 64, 64), saved_before_sampling)) == 20
    assert describe_sampling(rule) == "4 evenly spaced frames per video"
    assert describe_sampling(DEFAULTS["video"]) == "frames at 1 per second of video"


def test_frames_read_are_the_frames_asked_for(tmp_path):
    path = write_video(tmp_path / "ramp.mp4", frames=20)
    info = probe_video(path)
    assert (info.frame_count, info.width, info.height) == (20, 160, 120)
    for index, frame in read_frames(path, [3, 11, 19]):
        assert abs(frame.mean() - 10 * index) < 4  # frame i was written with brightness 10 * i


def test_frames_past_a_short_end_come_back_empty(tmp_path):
    path = write_video(tmp_path / "short.mp4", frames=5)
    frames = dict(read_frames(path, [2, 40]))
    assert frames[2] is not None and frames[40] is None


@pytest.mark.parametrize(("resize", "width"), [("width_rule", 640), ("none", 1280)])
def test_stage_01_and_stage_05_read_frames_at_the_configured_resolution(tmp_path, resize, width):
    from common.core.manifest import REAL
    from common.data.adapters import VideoRecord
    from common.inference.frames_and_faces import video_frames
    from common.io.video import extract_video

    video = write_video(tmp_path / "wide.mp4", frames=4, size=(1280, 720))
    settings = {**DEFAULTS["video"], "fps": 10.0, "resize": resize}
    rows = extract_video(VideoRecord("wide", video, REAL), tmp_path / "out", settings)
    assert {row["width"] for row in rows} == {width} and {row["scale"] for row in rows} == {width / 1280}
    ((_, frame),) = video_frames(video, {"sampling": "frames", "frames": 1}, 95, resize)
    assert frame.shape[1] == width


def test_prefetched_gives_every_item_in_order_and_raises_the_producers_error_in_the_caller():
    assert list(prefetched(iter(range(50)), depth=4)) == list(range(50))

    def breaks_after_two():
        yield 1
        yield 2
        raise VideoError("truncated")

    got = []
    with pytest.raises(VideoError, match="truncated"):
        got.extend(prefetched(breaks_after_two(), depth=1))
    assert got == [1, 2]


def test_leaving_a_prefetched_loop_early_stops_the_reader_and_closes_it():
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield np.zeros(3)
        finally:
            closed.set()

    for count, _ in enumerate(prefetched(endless(), depth=2)):
        if count == 5:
            break
    assert closed.wait(5)
    assert not any(thread.name == "prefetch" for thread in threading.enumerate())


def write_numbered_video(path, frames, size=(96, 64)):
    """An mp4v video whose frame i shows i in binary: 12 stripes, white for a 1 bit."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, size)
    try:
        for index in range(frames):
            image = np.zeros((size[1], size[0], 3), np.uint8)
            for bit in range(12):
                if index >> bit & 1:
                    image[:, bit * 8 : bit * 8 + 8] = 255
            writer.write(image)
    finally:
        writer.release()
    return path


def number_shown(frame):
    stripes = frame[:, :96].reshape(frame.shape[0], 12, 8, 3).mean(axis=(0, 2, 3))
    return int(sum(1 << bit for bit in range(12) if stripes[bit] > 128))


def test_far_apart_frames_are_reached_by_seeking_and_are_exactly_the_frames_asked_for(tmp_path):
    from common.io.video import Timeline, _read_frames_opencv

    path = write_numbered_video(tmp_path / "long.mp4", frames=1200)
    wanted = [5, 250, 251, 700, 1100, 1199]
    timeline = Timeline.of(path)
    assert len(timeline.timestamps) == 1200 and len(timeline.keyframes) > 10  # mp4v: a keyframe every 12
    frames = dict(timeline.read(wanted))
    assert [number_shown(frames[index]) for index in wanted] == wanted
    assert timeline.decoded < 200  # out of 1200: it jumped, it did not read through
    sequential = dict(_read_frames_opencv(path, wanted))
    assert all(np.array_equal(frames[index], sequential[index]) for index in wanted)


def test_a_video_without_timestamps_is_read_in_order(tmp_path):
    from common.io.video import Timeline

    path = write_numbered_video(tmp_path / "plain.mp4", frames=120)
    timeline = Timeline(path, timestamps=[], keyframes=[])  # as for a container without usable timestamps
    wanted = [3, 60, 119, 500]
    frames = dict(timeline.read(wanted))
    assert [number_shown(frames[index]) for index in wanted[:3]] == wanted[:3] and frames[500] is None
    assert timeline.decoded == 120


def write_numbered_h264(path, frames, size=(96, 64), rotation=0, container_format=None):
    """As ``write_numbered_video``, in H.264 with B-frames (x264's default GOP structure), via PyAV; with
    ``rotation`` (degrees, counter-clockwise) as display rotation metadata, as phones write it;
    ``container_format`` "h264": a raw elementary stream, no container."""
    import av

    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=30, options={"preset": "fast", "bf": "3"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for index in range(frames):
            image = np.zeros((size[1], size[0], 3), np.uint8)
            for bit in range(12):
                if index >> bit & 1:
                    image[:, bit * 8 : bit * 8 + 8] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_h264_frames_that_nothing_refers_to_are_skipped_unless_sampled_and_the_rest_are_exact(tmp_path):
    from common.io.video import Timeline, _read_frames_opencv

    path = write_numbered_h264(tmp_path / "b_frames.mp4", frames=90)
    timeline = Timeline.of(path)
    assert 20 <= len(timeline.disposable) < 90  # the B-frames no other frame refers to
    wanted = [1, 2, 3, 40, 41, 88, 89]  # some of them among the wanted
    frames = dict(timeline.read(wanted))
    assert [number_shown(frames[index]) for index in wanted] == wanted
    assert timeline.decoded <= 90 - len(timeline.disposable) + len(wanted)
    sequential = dict(_read_frames_opencv(path, wanted))
    assert all(np.array_equal(frames[index], sequential[index]) for index in wanted)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_phone_video_with_rotation_metadata_is_read_the_right_way_up_as_opencv_shows_it(tmp_path, rotation):
    from common.io.video import _read_frames_opencv

    path = write_numbered_h264(tmp_path / "phone.mp4", frames=12, size=(96, 64), rotation=rotation)
    info = probe_video(path)
    frames = dict(read_frames(path, [0, 5, 11], info.timeline))
    upright = dict(_read_frames_opencv(path, [0, 5, 11]))  # OpenCV applies the rotation itself
    for index in (0, 5, 11):
        assert frames[index].shape[:2] == (info.height, info.width) == upright[index].shape[:2]
        assert np.array_equal(frames[index], upright[index])
    assert (info.width, info.height) == ((64, 96) if rotation % 180 else (96, 64))


@pytest.mark.parametrize("pixels, codec, suffix", [("rgba", "png", "mov"), ("gray", "ffv1", "mkv")])
def test_four_channel_and_grey_videos_give_three_channel_frames_as_opencv_reads_them(
    tmp_path, pixels, codec, suffix
):
    import av

    from common.io.video import _read_frames_opencv

    path = tmp_path / f"{pixels}.{suffix}"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pixels
        for index in range(6):
            image = np.full((48, 64, 4) if pixels == "rgba" else (48, 64), 20 * index, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format=pixels)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frames = dict(read_frames(path, [0, 3, 5], probe_video(path).timeline))
    expected = dict(_read_frames_opencv(path, [0, 3, 5]))
    for index in (0, 3, 5):
        assert frames[index].shape == (48, 64, 3) and np.array_equal(frames[index], expected[index])


def test_a_raw_h264_stream_without_a_frame_count_or_timestamps_is_counted_and_read(tmp_path):
    """An elementary .h264 stream: OpenCV reports a meaningless frame count and the packets carry no
    timestamps; its frames are counted from its packets (before: 'no decodable frames') and read in order."""
    from common.io.video import _read_frames_opencv

    path = write_numbered_h264(tmp_path / "camera.h264", frames=30, container_format="h264")
    info = probe_video(path)
    assert info.frame_count == 30 and not info.timeline.timestamps
    frames = dict(read_frames(path, [0, 14, 29], info.timeline))
    assert [number_shown(frames[index]) for index in (0, 14, 29)] == [0, 14, 29]
    expected = dict(_read_frames_opencv(path, [0, 14, 29]))
    assert all(np.array_equal(frames[index], expected[index]) for index in (0, 14, 29))
