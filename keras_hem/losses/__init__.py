"""Losses of keras-hem, one per file: the masked reconstruction error and the triplet loss.

What belongs here: a loss (a `keras.losses.Loss` and its functional form) over tensors, in
`keras.ops` only; the masks and distances it needs come from `keras_hem.ops`.
"""

from keras_hem.losses.masked_reconstruction import MaskedMeanSquaredError, masked_squared_error
from keras_hem.losses.triplet_loss import TripletLoss, triplet_margin_loss

__all__ = ["MaskedMeanSquaredError", "TripletLoss", "masked_squared_error", "triplet_margin_loss"]
