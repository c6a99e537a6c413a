"""keras-hem: hard-example-mining adversarial autoencoder recommender for Keras 3.

Importing the package imports its Keras pieces, which registers them for
`keras.models.load_model` (and imports the Keras backend). The `keras-hem` command alone
defers that until it has parsed its arguments, so that `keras-hem --help` and input errors
answer at once; its modules then import what they use.
"""

import importlib
import os
import sys

from keras_hem.version import __version__

# Public name -> the module that defines it.
_EXPORTS = {
    "HEMAAE": "keras_hem.models",
    "AdversarialAutoencoder": "keras_hem.models",
    "EASEScorer": "keras_hem.layers",
    "MaskedMeanSquaredError": "keras_hem.losses",
    "MeanModel": "keras_hem.layers",
    "MeanModelLabeler": "keras_hem.layers",
    "RatingMatrix": "keras_hem.data",
    "TripletHardMiner": "keras_hem.mining",
    "TripletLoss": "keras_hem.losses",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_hem' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_EXPORTS})


def _started_as_command():
    """Whether this process is the `keras-hem` command (its console script)."""
    return os.path.basename(sys.argv[0] if sys.argv else "") in ("keras-hem", "keras-hem.exe")


if not _started_as_command():
    for _module in sorted(set(_EXPORTS.values())):
        importlib.import_module(_module)
