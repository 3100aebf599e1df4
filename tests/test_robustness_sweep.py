"""bench/robustness.py: the table and plot it writes from stage 05's metrics (made-up scores, no sweep run)."""

import pandas as pd
import pytest
from conftest import C0, count_colour, read_figure

from bench import robustness


def metrics(video_auc, frame_auc, videos=(3, 2), frames=40):
    """Stage 05's metrics.json content, the parts the sweep reads."""
    return {
        "video_level": {"auc": video_auc, "n": sum(videos), "n_fake": videos[0], "n_real": videos[1]},
        "frame_level": {"auc": frame_auc, "n": frames},
    }


def test_the_sweep_writes_a_table_with_counts_and_a_plot_of_auc_against_level(tmp_path):
    rows = [robustness.row_from_metrics("clean", 0, metrics(0.95, 0.9))]
    for name, aucs in (("jpeg", (0.9, 0.7, 0.5)), ("gaussian_blur", (0.8, 0.6, 0.4))):
        rows += [
            robustness.row_from_metrics(name, level, metrics(auc, auc - 0.1))
            for level, auc in zip((1, 3, 5), aucs)
        ]
    rows.append(
        robustness.row_from_metrics("gaussian_noise", 5, None, no_verdict=5)
    )  # no face found anywhere
    table = robustness.write_results(rows, "5 demo videos; model RUN", tmp_path)

    written = pd.read_csv(tmp_path / "robustness.csv")
    assert list(written.columns) == robustness.COLUMNS and len(written) == 8
    jpeg = written[written["perturbation"] == "jpeg"].set_index("level")
    assert jpeg.loc[3, "video_auc"] == 0.7 and jpeg.loc[3, "frame_auc"] == pytest.approx(0.6)
    assert jpeg.loc[5, "videos"] == 5 and jpeg.loc[5, "fake_videos"] == 3 and jpeg.loc[5, "frames"] == 40
    assert written["no_verdict"].tolist() == [0] * 7 + [5]
    assert table.equals(pd.DataFrame(rows, columns=robustness.COLUMNS))

    text = (tmp_path / "robustness.md").read_text()
    assert "Data: 5 demo videos; model RUN" in text
    assert "| clean | 0 | 0.950 | 5 (3/2) | 0 | 0.900 | 40 |" in text
    assert "| gaussian_blur | 5 | 0.400 | 5 (3/2) | 0 | 0.300 | 40 |" in text
    assert "| gaussian_noise | 5 | n/a | 0 (0/0) | 5 | n/a | 0 |" in text

    figure = read_figure(tmp_path / "robustness.png")
    assert count_colour(figure, C0) > 50  # the first perturbation's line


def test_a_bad_perturbation_stops_the_sweep_before_any_run(tmp_path, capsys):
    argv = ["--model", "m", "--input", "in", "--output", str(tmp_path / "out"), "--levels", "1", "9"]
    with pytest.raises(SystemExit) as stopped:
        robustness.main([*argv, "--perturbations", "jpeg"])
    assert stopped.value.code == 2 and "level" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
