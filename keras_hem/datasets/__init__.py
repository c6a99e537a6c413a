"""Rating data sets: MovieLens loaders (NumPy and pandas) and synthetic ratings generators."""

from keras_hem.datasets import movielens, synthetic

__all__ = ["movielens", "synthetic"]
