"""Every plug-in module, imported once: each registers its names and its config choices on import.

The configuration (``common.core.config``) sits at the bottom and imports no registry; the stage scripts
import this module (through ``common.cli``) so that ``--help`` lists every registered name and a config file
is checked against all of them. A new plug-in module is added to this list.
"""

from common.data import adapters, split  # noqa: F401 (dataset adapters; dataset.balance)
from common.evaluation import aggregate  # noqa: F401 (aggregation rules)
from common.faces import base, detection  # noqa: F401 (face detectors; preprocess.faces)
from common.models import backbones, video  # noqa: F401 (backbones, then their <backbone>_lstm video models)
from common.training import metric_losses, pseudo_fakes  # noqa: F401 (metric losses, pseudo-fakes)
