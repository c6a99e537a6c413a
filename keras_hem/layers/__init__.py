"""Keras layers of keras-hem."""

from keras_hem.layers.ease_scorer import EASEScorer
from keras_hem.layers.mean_model import MeanModel
from keras_hem.layers.mean_model_labeler import MeanModelLabeler
from keras_hem.layers.output_dense import OutputDense

__all__ = ["EASEScorer", "MeanModel", "MeanModelLabeler", "OutputDense"]
