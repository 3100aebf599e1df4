"""Training (stage 04): fitting, metric-learning losses (``common.training.metric_losses``) and pseudo-fakes
(``common.training.pseudo_fakes``: none; ``common.training.sbi``: self-blended images). Imports core to
evaluation.
"""

from common.training import (  # noqa: F401 (registers every metric loss and pseudo-fake generator on any import)
    metric_losses,
    pseudo_fakes,
    sbi,
)
