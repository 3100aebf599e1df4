"""The ``deepfakebench`` block of the metrics: the figures computed as DeepfakeBench's metric code computes
them, with their bootstrap intervals."""

from common.evaluation.intervals import intervals_of
from common.evaluation.metrics import DEEPFAKEBENCH_THRESHOLD, deepfakebench_metrics, nearest_point_error_rate
from common.evaluation.uncertainty import accuracy_above, auc, average_precision, per_resample

DEEPFAKEBENCH_INTERVALS = {  # deepfakebench_metrics' figures as bootstrap metrics (uncertainty's interface)
    "auc": auc,
    "eer": per_resample(nearest_point_error_rate),  # scikit-learn's ROC points: exact, one call a resample
    "average_precision": average_precision,
    "accuracy": accuracy_above(DEEPFAKEBENCH_THRESHOLD),
}


def deepfakebench_block(frames, resamples=0, seed=0):
    """The figures computed as DeepfakeBench's metric code computes them (``deepfakebench_metrics``), beside
    ours: ``frame_level`` from each frame's P(fake), ``video_level`` from the mean of a video's frame
    P(fake). One difference is kept on purpose: DeepfakeBench groups frames into videos by their folder name,
    which on FaceForensics++ merges the fake videos of every method that share a pair name (``000_003``), so
    its 700 test videos (140 real, 4 x 140 fake) count as 280; here every video stays one video.

    With ``resamples`` above 0, each level gets ``intervals`` of its four figures, defined as DeepfakeBench
    defines them, by the bootstrap over videos of ``bootstrap_intervals`` (same ``resamples`` and ``seed``):
    frames resampled by whole videos, videos one row each."""
    videos = frames.groupby("video", sort=True).agg(p_fake=("p_fake", "mean"), label=("label", "first"))
    block = {
        "frame_level": deepfakebench_metrics(frames["label"], frames["p_fake"]),
        "video_level": {
            "score": "mean frame P(fake)",
            **deepfakebench_metrics(videos["label"], videos["p_fake"]),
        },
    }
    if resamples:
        for key, table in (("frame_level", frames), ("video_level", videos.reset_index())):
            figures = {name: (metric, table["p_fake"]) for name, metric in DEEPFAKEBENCH_INTERVALS.items()}
            block[key]["intervals"] = intervals_of(figures, table["label"], table["video"], resamples, seed)
    return block
