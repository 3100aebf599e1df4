"""Stage 07's figure: each run's AUC with its bootstrap interval, per test set."""

from common.core.files import atomic_path
from common.evaluation.uncertainty import CONFIDENCE


def plot(runs, test_sets, cells, level, n_resamples, seed, path):
    """AUC with its interval per run (a colour each) per test set, written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / max(len(runs), 1)
    figure, axes = plt.subplots(figsize=(max(5, 1.8 * len(test_sets) + 2), 4))
    for index, run in enumerate(runs):
        xs, ys, errors = [], [], [[], []]
        for column, test_set in enumerate(test_sets):
            cell = cells.get((run.name, test_set))
            if cell and "estimate" in cell:
                xs.append(column - 0.4 + width * (index + 0.5))
                ys.append(cell["estimate"])
                errors[0].append(cell["estimate"] - cell["low"])
                errors[1].append(cell["high"] - cell["estimate"])
        axes.errorbar(xs, ys, yerr=errors, fmt="o", capsize=3, label=f"{run.name} (seed {run.seed})")
    ticks = []
    for test_set in test_sets:
        counted = [cells.get((run.name, test_set)) or {} for run in runs]
        sizes = sorted(
            {cell["n_real_videos"] + cell["n_fake_videos"] for cell in counted if "estimate" in cell}
        )
        ticks.append(f"{test_set}\n({' / '.join(map(str, sizes))} videos)")
    axes.set_xticks(range(len(test_sets)), ticks)
    axes.set_ylabel(f"{level}-level AUC")
    axes.set_ylim(min(0.0, axes.get_ylim()[0]), 1.02)
    axes.axhline(0.5, color="grey", linewidth=0.5, linestyle="--")
    axes.set_xlim(-0.5, len(test_sets) - 0.5)
    axes.set_title(
        f"{level}-level AUC with its {CONFIDENCE * 100:.0f} % CI\n(bootstrap over videos, {n_resamples} "
        f"resamples, seed {seed})",
        fontsize="medium",
    )
    axes.legend(fontsize="small", loc="lower left")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)
