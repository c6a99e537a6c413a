"""Keras layers of keras-hem."""

from keras_hem.layers.mean_model import MeanModel

__all__ = ["MeanModel"]
