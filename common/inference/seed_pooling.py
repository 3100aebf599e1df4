"""Stage 07's runs of one config: runs whose configs are equal but for the seed share a label
(``config_labels``), and their AUCs are pooled over the seeds (``pooled_by_config``)."""

import numpy as np


def _flatten(mapping, prefix=""):
    """``{"train.model": "small_cnn", ...}`` from nested dicts."""
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_labels(runs):
    """``(label of each run, legend)``: runs whose configs are equal but for the seed share a label (A, B,
    ...); the legend says, per label, the settings in which the configs differ."""
    labels, distinct = [], []
    for run in runs:
        if run.config not in distinct:
            distinct.append(run.config)
        labels.append(chr(ord("A") + distinct.index(run.config)))
    flat = [_flatten(config) for config in distinct]
    keys = sorted({key for config in flat for key in config})
    differing = [key for key in keys if len({repr(config.get(key)) for config in flat}) > 1]
    legend = {}
    for index, config in enumerate(flat):
        settings = ", ".join(f"{key}={config.get(key)}" for key in differing)
        legend[chr(ord("A") + index)] = settings or "the only config"
    return labels, legend


def pooled_by_config(runs, labels, cells, test_sets):
    """Per config shared by two runs or more (seeds of it): per test set, the mean and the sample standard
    deviation of the runs' AUCs, and how many runs have one."""
    rows = []
    for label in sorted(set(labels)):
        members = [run for run, own in zip(runs, labels) if own == label]
        if len(members) < 2:
            continue
        for test_set in test_sets:
            values = [
                cells[(run.name, test_set)]["estimate"]
                for run in members
                if cells.get((run.name, test_set)) and "estimate" in cells[(run.name, test_set)]
            ]
            if not values:
                continue
            rows.append(
                {
                    "config": label,
                    "model": members[0].model,
                    "test_set": test_set,
                    "seeds": " ".join(str(run.seed) for run in members if (run.name, test_set) in cells),
                    "runs": len(values),
                    "mean_auc": float(np.mean(values)),
                    "sd_auc": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                }
            )
    return rows
