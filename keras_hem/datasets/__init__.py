"""Public rating data sets (MovieLens); the loaders use NumPy and pandas only."""

from keras_hem.datasets import movielens

__all__ = ["movielens"]
