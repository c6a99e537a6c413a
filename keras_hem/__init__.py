"""keras-hem: hard-example-mining adversarial autoencoder recommender for Keras 3."""

from keras_hem.layers import MeanModel
from keras_hem.losses import TripletLoss
from keras_hem.mining import TripletHardMiner
from keras_hem.version import __version__

__all__ = ["MeanModel", "TripletHardMiner", "TripletLoss", "__version__"]
