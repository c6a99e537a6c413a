"""Rating data containers and input validation (NumPy, pandas and SciPy only)."""

from keras_hem.data.rating_matrix import RatingMatrix

__all__ = ["RatingMatrix"]
