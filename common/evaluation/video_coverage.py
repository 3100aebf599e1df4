"""The ``video_coverage`` block of the metrics: how many of the listed videos the figures cover, and it in
words."""


def video_coverage(listed, scored, no_face, listed_from):
    """How many of the ``listed`` videos (ids; ``listed_from`` says where the list comes from) the figures
    cover: ``{"listed", "scored", "no_face", "not_scored_otherwise", "listed_from"}``, ``no_face``: listed
    videos in which no face was found (ids in ``no_face``), ``not_scored_otherwise``: the other listed videos
    without a score (unreadable images, a video that failed)."""
    listed = set(listed)
    scored, no_face = set(scored) & listed, (set(no_face) & listed) - set(scored)
    return {
        "listed": len(listed),
        "scored": len(scored),
        "no_face": len(no_face),
        "not_scored_otherwise": len(listed - scored - no_face),
        "listed_from": listed_from,
    }


def coverage_line(coverage):
    """``video_coverage`` in words, one line."""
    line = (
        f"{coverage['listed']} videos listed ({coverage['listed_from']}): {coverage['scored']} scored, "
        f"{coverage['no_face']} without a face, {coverage['not_scored_otherwise']} not scored otherwise"
    )
    if coverage["scored"] < coverage["listed"]:
        line += f"; the figures cover {coverage['scored']} of the {coverage['listed']} listed videos"
    return line
