"""keras-hem: hard-example-mining adversarial autoencoder recommender for Keras 3."""

from keras_hem.data import RatingMatrix
from keras_hem.layers import EASEScorer, MeanModel, MeanModelLabeler
from keras_hem.losses import MaskedMeanSquaredError, TripletLoss
from keras_hem.mining import TripletHardMiner
from keras_hem.models import HEMAAE, AdversarialAutoencoder
from keras_hem.version import __version__

__all__ = [
    "HEMAAE",
    "AdversarialAutoencoder",
    "EASEScorer",
    "MaskedMeanSquaredError",
    "MeanModel",
    "MeanModelLabeler",
    "RatingMatrix",
    "TripletHardMiner",
    "TripletLoss",
    "__version__",
]
