"""Pseudo-fake generators (``train.pseudo_fakes``): training fakes made from real faces, behind one interface.

An entry gives stage 04 its train and val rows (and, for online generation, what makes the train images
anew every epoch), says what model selection's val fakes were, and which rows the run is evaluated on.
``none`` (this module) keeps the split as it is; ``sbi`` (``common.training.sbi``) self-blends real faces.
"""

import pandas as pd

from common.core.config import register_choices
from common.core.registry import Registry

PSEUDO_FAKES = Registry(
    "pseudo-fake generator", "--pseudo-fakes", "common.training.pseudo_fakes.PSEUDO_FAKES"
)
register_choices("train.pseudo_fakes", PSEUDO_FAKES.names)


class KeepTheSplit:
    """``none``: the split's own fakes, in every split."""

    def training_rows(self, train_rows, val_rows, settings, run_dir, seed, jpeg_quality):
        """``(train rows, val rows, generate)``: ``generate`` makes the train images anew every epoch, or
        None."""
        return train_rows, val_rows, None

    def selected(self, settings):
        """What the model file's ``selected`` entry records besides the best epoch."""
        return {}

    def evaluated_rows(self, split, val_rows):
        """The rows stage 04 scores after training (validation check and test metrics)."""
        return split


class ReplaceTheFakes(KeepTheSplit):
    """A generator that replaces the train split's fakes (and with ``train.sbi.val_fakes`` the val split's):
    the val split is scored as model selection saw it."""

    def evaluated_rows(self, split, val_rows):
        return pd.concat([val_rows, split[split["split"] == "test"]])


PSEUDO_FAKES.register("none", KeepTheSplit())
