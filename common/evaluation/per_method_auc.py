"""The ``by_method`` block of the metrics: AUC per manipulation method (FaceForensics++), with intervals."""

from common.evaluation.intervals import intervals_of
from common.evaluation.metrics import binary_metrics
from common.evaluation.uncertainty import auc


def auc_by_method(frames, videos, resamples=0, seed=0):
    """``{method: {frame_auc, video_auc, fake_videos}}``: every real sample against the fakes of one
    manipulation method (how FaceForensics++ results are reported per method). With ``resamples`` above 0,
    ``intervals`` of both AUCs by the bootstrap over videos of ``bootstrap_intervals`` (same ``resamples``
    and ``seed``) on those samples: the frames resampled by whole videos, the videos one row each."""

    def chosen(table, method):
        return table[(table["label"] == 0) | (table["method"] == method)]

    def auc_of(table, score):
        return binary_metrics(table["label"], table[score])["auc"] if table["label"].nunique() == 2 else None

    methods = sorted(set(videos.loc[videos["label"] == 1, "method"].fillna("")) - {""})
    result = {}
    for method in methods:
        method_frames, method_videos = chosen(frames, method), chosen(videos, method)
        result[method] = {
            "frame_auc": auc_of(method_frames, "p_fake"),
            "video_auc": auc_of(method_videos, "fake_probability"),
            "fake_videos": int(((videos["label"] == 1) & (videos["method"] == method)).sum()),
        }
        if resamples:
            result[method]["intervals"] = {
                **intervals_of(
                    {"frame_auc": (auc, method_frames["p_fake"])},
                    method_frames["label"],
                    method_frames["video"],
                    resamples,
                    seed,
                ),
                **intervals_of(
                    {"video_auc": (auc, method_videos["fake_probability"])},
                    method_videos["label"],
                    method_videos["video"],
                    resamples,
                    seed,
                ),
            }
    return result
