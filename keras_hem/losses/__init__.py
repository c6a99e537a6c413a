"""Losses of keras-hem."""

from keras_hem.losses.triplet_loss import TripletLoss, triplet_margin_loss

__all__ = ["TripletLoss", "triplet_margin_loss"]
