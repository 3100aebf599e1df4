"""Models: registered backbones, the image classifier and the video (LSTM) models, and the detector methods
that stages 04 and 05 train and score through (``common.models.methods``). Imports core to data.
"""

from common.models import (  # noqa: F401 (registers every detector method on any import of the package)
    methods,
    video,
)
