"""Triplet mining and the pairwise distances it shares with the losses."""

from keras_hem.mining.distances import pairwise_distances
from keras_hem.mining.triplet_hard_miner import TripletHardMiner

__all__ = ["TripletHardMiner", "pairwise_distances"]
