"""Which entries of a rating tensor are observed: the one definition every piece uses.

A rating tensor marks an unobserved entry with `missing_value` (0 by default: dense rating
rows use 0 for "not rated", which is why ratings must be positive), or with NaN when
`missing_value` is NaN. The layers, losses and models ask this module rather than compare
with 0 themselves, so that a model built with another `missing_value` means the same by it
everywhere.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from keras_hem.types import Tensor

__all__ = ["observed_mask", "observed_mask_numpy"]


def observed_mask(ratings: Tensor, missing_value: float = 0.0) -> Tensor:
    """Boolean mask of the observed entries of `ratings`.

    Args:
        ratings: a tensor of ratings, any shape.
        missing_value: the value of unobserved entries; with NaN, the NaN entries are the
            unobserved ones (NaN never equals itself, so a plain comparison would miss them).

    Returns:
        Boolean tensor of `ratings`' shape, `True` where a rating is observed.

    Example:
        >>> import numpy as np
        >>> np.asarray(observed_mask(np.array([[4.0, 0.0, 1.0]]))).tolist()
        [[True, False, True]]
        >>> np.asarray(observed_mask(np.array([np.nan, 0.0]), missing_value=np.nan)).tolist()
        [False, True]
    """
    if math.isnan(missing_value):
        return ops.logical_not(ops.isnan(ratings))
    return ops.not_equal(ratings, missing_value)


def observed_mask_numpy(ratings: np.ndarray, missing_value: float = 0.0) -> np.ndarray:
    """`observed_mask` for NumPy arrays, for host-side code (data preparation, EASE's fit).

    Example:
        >>> observed_mask_numpy(np.array([np.nan, 2.0]), missing_value=np.nan).tolist()
        [False, True]
    """
    if math.isnan(missing_value):
        return ~np.isnan(ratings)
    return np.asarray(ratings) != missing_value
