"""Face tracks: the detections of one video's sampled frames linked by box overlap, one track per person.

Stage 02 writes each face's ``track_id`` into its manifest, and stage 05 links the faces it crops the same
way, so "track 0" is one person across frames (``face_index`` is only the detector's order in a frame).
A video's verdict is taken per track (``common.aggregate.track_scores``).
"""

TRACK_MIN_IOU = 0.2  # box overlap that continues a track; frames are sampled seconds apart


def iou(a, b):
    """Intersection over union of two ``(x, y, width, height)`` boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    overlap = width * height
    union = aw * ah + bw * bh - overlap
    return overlap / union if union > 0 else 0.0


def link_tracks(boxes_per_frame, min_iou=TRACK_MIN_IOU):
    """Track ids for the boxes of consecutive frames: ``[[track_id, ...] per frame]``, ids from 0 in order
    of first appearance.

    Each box continues the track whose last box overlaps it most (at least ``min_iou``), one box per track
    and frame, pairs taken best overlap first; a box that continues none starts a track. A track survives
    frames where its face was not found.
    """
    last_box = []  # track id -> its latest box
    ids_per_frame = []
    for boxes in boxes_per_frame:
        pairs = sorted(
            ((iou(box, last), b, t) for b, box in enumerate(boxes) for t, last in enumerate(last_box)),
            reverse=True,
        )
        ids = [-1] * len(boxes)
        taken = set()
        for overlap, b, t in pairs:
            if overlap < min_iou:
                break
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
