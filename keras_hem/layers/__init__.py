"""Keras layers of keras-hem."""

from keras_hem.layers.mean_model import MeanModel
from keras_hem.layers.mean_model_labeler import MeanModelLabeler

__all__ = ["MeanModel", "MeanModelLabeler"]
