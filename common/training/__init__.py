"""Training (stage 04): fitting, metric-learning losses and pseudo-fakes (``common.training.pseudo_fakes``:
none; ``common.training.sbi``: self-blended images). Imports core to evaluation.
"""

from common.training import (  # noqa: F401 (registers every pseudo-fake generator on any import of the package)
    pseudo_fakes,
    sbi,
)
