"""Triplet mining, the miner contract, and the pairwise distances it shares with the losses."""

from keras_hem.mining.distances import pairwise_distances
from keras_hem.mining.protocol import Miner
from keras_hem.mining.triplet_hard_miner import TripletHardMiner

__all__ = ["Miner", "TripletHardMiner", "pairwise_distances"]
