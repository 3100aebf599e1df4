"""Reading videos and sampling frames. No TensorFlow here: stage 01 must start fast."""

import bisect
import dataclasses
import functools
import itertools
import logging
import math
import queue
import threading
from pathlib import Path

import av
import cv2
import numpy as np

from common.core.errors import VideoError
from common.core.files import safe_name, write_jpeg
from common.core.manifest import LABEL_NAMES

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    frame_count: int
    fps: float
    width: int
    height: int
    timeline: "Timeline | None" = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def duration(self):
        return self.frame_count / self.fps


WIDTH_RULE = "x2 under 300 px wide, x1 to 1000, x0.5 to 1900, x0.33 above"  # scale_for_width, in words


def scale_for_width(width):
    """Resize factor by frame width (``WIDTH_RULE``)."""
    if width < 300:
        return 2.0
    if width <= 1000:
        return 1.0
    if width <= 1900:
        return 0.5
    return 0.33


def resize_frame(frame, scale):
    if scale == 1.0:
        return frame
    height, width = frame.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(frame, size, interpolation=interpolation)


def probe_video(path):
    """Open ``path`` and read its frame count, frame rate and size; ``VideoError`` if it is no video.

    The frame count is the number of frames the stream holds (its packets, counted without decoding) when the
    container's own figure is missing or larger (a truncated file), so that frames are sampled over the frames
    that are really there. Likewise the frame rate comes from the frames' timestamps when the container
    reports none (0, NaN) or one more than twice off them (a variable-rate phone video claiming 1000).
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError("file not found")
    if path.stat().st_size == 0:
        raise VideoError("empty file")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError("cannot open as a video")
        reported = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = capture.get(cv2.CAP_PROP_FPS)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()
    try:
        timeline = Timeline.of(path)
    except (av.error.FFmpegError, IndexError):  # IndexError: no video stream
        timeline = None
    frame_count = reported
    counted = timeline.packets if timeline is not None else 0
    if counted and (reported <= 0 or counted < reported):
        if reported > 0:
            log.warning(
                "%s reports %d frames but holds %d (truncated?): sampling over those", path, reported, counted
            )
        frame_count = counted
    if frame_count <= 0 or width <= 0 or height <= 0:
        raise VideoError("no decodable frames")
    measured = timeline.frame_rate() if timeline is not None else None
    reported_ok = bool(fps) and math.isfinite(fps) and fps > 0
    if measured and (not reported_ok or not 0.5 <= fps / measured <= 2):
        log.warning("%s reports %s frames/s but its timestamps say %.3g: using those", path, fps, measured)
        fps = measured
    elif not reported_ok:
        log.warning("%s reports no frame rate and no timestamps; assuming 30 fps", path)
        fps = 30.0
    return VideoInfo(frame_count=frame_count, fps=fps, width=width, height=height, timeline=timeline)


def evenly_spaced(frame_count, count):
    """``count`` frame indices spread evenly over ``frame_count`` frames (centres of equal slices)."""
    count = max(1, min(count, frame_count))
    return sorted({int(i) for i in (np.arange(count) + 0.5) * frame_count / count})


def sample_frame_indices(info, fps, max_frames=0):
    """Indices of the frames to keep: ``fps`` per second of video, at most ``max_frames`` (0 = no cap)."""
    count = max(1, round(info.duration * fps))
    if max_frames:
        count = min(count, max_frames)
    return evenly_spaced(info.frame_count, count)


def pick_frames(info, video):
    """Indices of the frames to keep by the sampling rule of a ``video`` config section: ``sampling``
    ``frames``: ``frames`` evenly spaced over the video; ``fps``: ``fps`` per second of video, at most
    ``max_frames``. Stage 01 samples by it, and stage 05 by the section its model's training frames had (one
    saved before ``sampling`` existed was sampled by ``fps``)."""
    if video.get("sampling", "fps") == "frames":
        return evenly_spaced(info.frame_count, video["frames"])
    return sample_frame_indices(info, video["fps"], video.get("max_frames", 0))


def describe_sampling(video):
    """The sampling rule of a ``video`` config section in words, for reports."""
    if video.get("sampling", "fps") == "frames":
        return f"{video['frames']} evenly spaced frames per video"
    cap = f", at most {video['max_frames']} per video" if video.get("max_frames") else ""
    return f"frames at {video['fps']:g} per second of video{cap}"


# Seek only when it skips at least this many frames: a seek restarts the decoder's threads.
SEEK_MIN_SKIP = 48


def read_frames(path, indices, timeline=None):
    """Yield ``(index, frame_bgr or None)`` for the wanted indices (frame ``i`` = the i-th frame in display
    order), in increasing order. A frame that cannot be decoded (or lies past a truncated end) is ``None``.

    Decoded by FFmpeg through PyAV with frame threading. Frames are identified by their timestamps, taken from
    the container's packets (no decoding), so reading can jump to the keyframe before a far-away frame instead
    of decoding every frame in between (a one-hour video), and still lands on exactly the frame asked for.
    Files PyAV cannot open are read by OpenCV, frame by frame. ``timeline``: ``probe_video``'s, if at hand.
    """
    wanted = sorted(set(indices))
    try:
        timeline = timeline if timeline is not None else Timeline.of(path)
    except (av.error.FFmpegError, IndexError):
        yield from _read_frames_opencv(path, wanted)
        return
    yield from timeline.read(wanted)


@dataclasses.dataclass
class Timeline:
    """A video stream's frames in display order: their timestamps, which are keyframes, and which no other
    frame refers to (so need not be decoded unless wanted)."""

    path: Path
    timestamps: list  # frame index -> pts; empty when the container gives no usable timestamps
    keyframes: list  # indices of keyframes, increasing
    disposable: frozenset = frozenset()  # pts of frames no other frame refers to (H.264 in MP4/MOV/MKV)
    decoded: int = 0  # frames decoded so far (a benchmark and test probe)
    time_base: float = 0.0  # seconds per timestamp unit; 0 when unknown
    packets: int = 0  # the stream's packets, one a frame: its frame count even without timestamps

    @classmethod
    def of(cls, path):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            time_base = float(stream.time_base) if stream.time_base else 0.0
            length_size = _h264_length_size(stream.codec_context)
            packets = [
                (packet.pts, packet.is_keyframe, bool(length_size) and _unreferenced(packet, length_size))
                for packet in container.demux(stream)
                if packet.size
            ]
        timestamps = sorted(pts for pts, _, _ in packets if pts is not None)
        if len(timestamps) < len(packets) or len(set(timestamps)) < len(timestamps):
            return cls(Path(path), [], [], packets=len(packets))  # no timestamps to trust: decode in order
        index_of = {pts: index for index, pts in enumerate(timestamps)}
        keyframes = sorted(index_of[pts] for pts, key, _ in packets if key)
        disposable = frozenset(pts for pts, _, unreferenced in packets if unreferenced)
        return cls(Path(path), timestamps, keyframes, disposable, time_base=time_base, packets=len(packets))

    def frame_rate(self):
        """Frames per second as the timestamps space them (a mean over the stream); None when unknown."""
        if len(self.timestamps) < 2 or not self.time_base:
            return None
        span = (self.timestamps[-1] - self.timestamps[0]) * self.time_base
        return (len(self.timestamps) - 1) / span if span > 0 else None

    @functools.cached_property
    def index_of(self):
        return {pts: index for index, pts in enumerate(self.timestamps)}

    def keyframe_before(self, index):
        position = bisect.bisect_right(self.keyframes, index)
        return self.keyframes[position - 1] if position else 0

    def read(self, wanted):
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames, position = None, 0  # position: index of the next frame ``frames`` gives
            held = None  # a frame read past a missing target: it may be the next target
            for target in wanted:
                keyframe = self.keyframe_before(target) if self.timestamps else 0
                if keyframe - position >= SEEK_MIN_SKIP:
                    container.seek(self.timestamps[keyframe], stream=stream)
                    frames, position, held = None, keyframe, None
                if frames is None:
                    frames = self._decode(
                        container, stream, {self.timestamps[i] for i in wanted if i < len(self.timestamps)}
                    )
                image = None
                for index, frame in itertools.chain([held] if held else [], self._indexed(frames, position)):
                    held = None
                    position = index + 1
                    if index == target:
                        image = upright(frame)
                    if index >= target:
                        held = (index, frame) if index > target else None
                        break
                yield target, image

    def _indexed(self, frames, position):
        """``(index, frame)`` pairs: indices from the timestamps, or counted from ``position``."""
        for frame in frames:
            index = self.index_of.get(frame.pts) if self.timestamps else position
            if index is not None:
                position = index + 1
                yield index, frame

    def _decode(self, container, stream, wanted):
        """Frames from the container's position on. A frame no other frame refers to is not decoded unless it
        is ``wanted`` (pts): skipping it changes no other frame (H.264: half the frames of a DFDC clip)."""
        skip = self.disposable - wanted
        try:
            for packet in container.demux(stream):
                if packet.pts in skip:
                    continue
                for frame in packet.decode():  # the last, empty packet flushes the decoder
                    self.decoded += 1
                    yield frame
        except av.error.FFmpegError as error:  # a damaged stream: the frames after it count as unreadable
            log.debug("%s: decoding stopped: %s", self.path, error)


def upright(frame):
    """A decoded PyAV frame as BGR pixels the way it is meant to be seen: its display rotation (a phone
    video's metadata, counter-clockwise degrees) applied, as OpenCV applies it (and reports the size)."""
    image = frame.to_ndarray(format="bgr24")
    turns = round(frame.rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def _h264_length_size(codec):
    """Bytes of the length before each NAL unit of an H.264 stream stored as in MP4 (its extradata an avcC
    record); 0 for any other stream (other codecs, or H.264 with start codes, where frames are not skipped)."""
    extradata = codec.extradata or b""
    if codec.name != "h264" or len(extradata) < 7 or extradata[0] != 1:
        return 0
    return (extradata[4] & 3) + 1


def _unreferenced(packet, length_size):
    """Whether an H.264 packet holds a picture that no other refers to: each of its slices has nal_ref_idc 0."""
    data, offset, slices = memoryview(packet), 0, 0
    while offset + length_size < len(data):
        size = int.from_bytes(data[offset : offset + length_size], "big")
        header = data[offset + length_size]
        if 1 <= header & 0x1F <= 5:  # a slice of a picture
            if header >> 5 & 3:
                return False
            slices += 1
        offset += length_size + size
    return slices > 0


def _read_frames_opencv(path, wanted):
    """Sequential ``grab``: exact for every codec OpenCV reads."""
    capture = cv2.VideoCapture(str(path))
    try:
        position = 0
        for index in wanted:
            frame = None
            while position <= index:
                if not capture.grab():
                    break
                position += 1
                if position - 1 == index:
                    ok, decoded = capture.retrieve()
                    frame = decoded if ok else None
            yield index, frame
    finally:
        capture.release()


def prefetched(items, depth):
    """Iterate over ``items`` while a background thread produces up to ``depth`` of them ahead: a video
    decodes (OpenCV, without the GIL) while the caller detects faces in the frames already decoded. An
    exception of ``items`` is raised here; leaving the loop early stops the thread and closes ``items``."""
    ahead = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(entry):
        while not stop.is_set():
            try:
                ahead.put(entry, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    break
            put((end, None))
        except Exception as error:
            put((end, error))
        finally:
            getattr(items, "close", lambda: None)()

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = ahead.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def scaled_frames(path, pick_indices, resize="width_rule"):
    """Probe a video, choose frames with ``pick_indices(info)`` and read them resized by ``resize``
    (config ``video.resize``): ``width_rule`` (``scale_for_width``) or ``none`` (native resolution).

    Returns ``(info, scale, frames)``; ``frames`` yields ``(index, frame_bgr or None)``, lazily.
    """
    info = probe_video(path)
    scale = scale_for_width(info.width) if resize == "width_rule" else 1.0
    frames = (
        (index, None if frame is None else resize_frame(frame, scale))
        for index, frame in read_frames(path, pick_indices(info), info.timeline)
    )
    return info, scale, frames


def extract_video(record, output, video):
    """Sample (``pick_frames``), resize and save the frames of one video as the ``video`` config section
    says; return one manifest row per sampled frame.

    Pure apart from its own output files: safe to run in a worker process. Frames that cannot be read get a
    row with an ``error`` and no image.
    """
    info, scale, frames = scaled_frames(record.path, lambda info: pick_frames(info, video), video["resize"])
    folder = Path(output) / "frames" / LABEL_NAMES[record.label] / safe_name(record.video_id)
    rows = []
    for index, frame in frames:
        row = {
            "video_id": record.video_id,
            "label": record.label,
            "label_name": LABEL_NAMES[record.label],
            "source_video": record.source_video,
            "group": record.group,
            "official_split": record.official_split,
            "method": record.method,
            "video_path": str(Path(record.path).resolve()),
            "frame_index": index,
            "timestamp": round(index / info.fps, 3),
            "scale": scale,
            "width": 0,
            "height": 0,
            "path": "",
        }
        if frame is None:
            row["error"] = "unreadable frame"
        else:
            path = folder / f"f{index:06d}.jpg"
            write_jpeg(path, frame, video["jpeg_quality"])
            row.update(width=frame.shape[1], height=frame.shape[0], path=path.relative_to(output).as_posix())
        rows.append(row)
    if not any(row["path"] for row in rows):
        raise VideoError("no frame could be decoded")
    return rows
