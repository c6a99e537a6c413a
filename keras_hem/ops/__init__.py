"""Small tensor helpers shared by the layers, losses and models (`keras.ops` only)."""

from keras_hem.ops.sparse import gather_columns, pair_dot, sparse_dense_matmul

__all__ = ["gather_columns", "pair_dot", "sparse_dense_matmul"]
