"""Losses of keras-hem."""

from keras_hem.losses.masked_reconstruction import MaskedMeanSquaredError, masked_squared_error
from keras_hem.losses.triplet_loss import TripletLoss, triplet_margin_loss

__all__ = ["MaskedMeanSquaredError", "TripletLoss", "masked_squared_error", "triplet_margin_loss"]
