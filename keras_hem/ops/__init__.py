"""Small tensor helpers shared by the layers, losses, miners and models (`keras.ops` only).

What belongs here: a computation that more than one family needs and that is not itself a
layer, loss or miner — which entries are observed (`masks`), distances between embeddings
(`distances`) and products with sparse rows and their dense blocks (`sparse`).
"""

from keras_hem.ops.distances import pairwise_distances
from keras_hem.ops.masks import observed_mask, observed_mask_numpy
from keras_hem.ops.sparse import gather_columns, pair_dot, sparse_dense_matmul, sparse_to_dense

__all__ = [
    "gather_columns",
    "observed_mask",
    "observed_mask_numpy",
    "pair_dot",
    "pairwise_distances",
    "sparse_dense_matmul",
    "sparse_to_dense",
]
