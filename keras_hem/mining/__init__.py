"""Triplet mining: the miner contract (`protocol`) and the miners, one per file.

`pairwise_distances` lives in `keras_hem.ops` (the losses use it too) and is re-exported
here, where miners' users look for it.
"""

from keras_hem.mining.protocol import Miner
from keras_hem.mining.triplet_hard_miner import TripletHardMiner
from keras_hem.ops.distances import pairwise_distances

__all__ = ["Miner", "TripletHardMiner", "pairwise_distances"]
