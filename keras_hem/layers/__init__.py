"""Keras layers of keras-hem, one per file (mean model, labeler, EASE, output, two kernels).

What belongs here: a `keras.layers.Layer` that a user may put in a model of their own; it
creates its weights in `build` and computes with `keras.ops` only in `call`.
"""

from keras_hem.layers.ease_scorer import EASEScorer
from keras_hem.layers.global_kernel_conv import GlobalKernelConv
from keras_hem.layers.local_kernel_dense import LocalKernelDense
from keras_hem.layers.mean_model import MeanModel
from keras_hem.layers.mean_model_labeler import MeanModelLabeler
from keras_hem.layers.output_dense import OutputDense

__all__ = [
    "EASEScorer",
    "GlobalKernelConv",
    "LocalKernelDense",
    "MeanModel",
    "MeanModelLabeler",
    "OutputDense",
]
