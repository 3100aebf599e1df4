"""Face tracks: the detections of one video's sampled frames linked by place, one track per person.

Stage 02 writes each face's ``track_id`` into its manifest, and stage 05 links the faces it crops the same
way, so "track 0" is one person across frames (``face_index`` is only the detector's order in a frame).
A video's verdict is taken per track (``common.evaluation.aggregate.track_scores``).
"""

import math

TRACK_MIN_IOU = 0.2  # box overlap that continues a track; frames are sampled seconds apart
# Without overlap, a box continues a track whose last box has about its size (widths within this ratio) and
# whose centre lies within this many box widths: frames seconds apart catch a person who moved a box width or
# two (FF++ c40 at 2 frames/s: about 100 px for a 95 px face), while two people side by side each have their
# own box nearer still, and the nearest pair links first.
TRACK_MAX_SHIFT = 2.0
TRACK_MAX_SIZE_RATIO = 1.5


def iou(a, b):
    """Intersection over union of two ``(x, y, width, height)`` boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    overlap = width * height
    union = aw * ah + bw * bh - overlap
    return overlap / union if union > 0 else 0.0


def shift(a, b):
    """How far apart the centres of two ``(x, y, width, height)`` boxes are, in widths of the wider box."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    distance = math.hypot(ax + aw / 2 - bx - bw / 2, ay + ah / 2 - by - bh / 2)
    width = max(aw, bw)
    return distance / width if width > 0 else math.inf


def continues(a, b, min_iou=TRACK_MIN_IOU):
    """Whether box ``b`` may continue the track whose last box is ``a``: they overlap by ``min_iou``, or they
    have about the same size and ``b``'s centre is within ``TRACK_MAX_SHIFT`` box widths of ``a``'s."""
    if iou(a, b) >= min_iou:
        return True
    widths = sorted((a[2], b[2]))
    similar = widths[0] > 0 and widths[1] / widths[0] <= TRACK_MAX_SIZE_RATIO
    return similar and shift(a, b) <= TRACK_MAX_SHIFT


def link_tracks(boxes_per_frame, min_iou=TRACK_MIN_IOU):
    """Track ids for the boxes of consecutive frames: ``[[track_id, ...] per frame]``, ids from 0 in order
    of first appearance.

    Each box continues a track whose last box it may continue (``continues``), one box per track and frame,
    pairs taken best first: most overlap, then nearest centres; a box that continues none starts a track. A
    track survives frames where its face was not found.
    """
    last_box = []  # track id -> its latest box
    ids_per_frame = []
    for boxes in boxes_per_frame:
        pairs = sorted(
            (-iou(box, last), shift(box, last), b, t)
            for b, box in enumerate(boxes)
            for t, last in enumerate(last_box)
            if continues(last, box, min_iou)
        )
        ids = [-1] * len(boxes)
        taken = set()
        for _, _, b, t in pairs:
            if ids[b] == -1 and t not in taken:
                ids[b] = t
                taken.add(t)
        for b, box in enumerate(boxes):
            if ids[b] == -1:
                ids[b] = len(last_box)
                last_box.append(box)
            else:
                last_box[ids[b]] = box
        ids_per_frame.append(ids)
    return ids_per_frame
