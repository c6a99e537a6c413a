"""The scorer interface shared by the ranking strategies, and the check of user indices."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from keras_hem.types import ArrayLike


@runtime_checkable
class Scorer(Protocol):
    """What ranks items for users: one score per item, for a few users at a time.

    Any object with these members is a scorer (a `typing.Protocol`: no base class needed). A
    scorer computes the rows it is asked for and keeps no users x items array, so that
    `keras_hem.ranking.chunked_top_k` can rank a large catalogue for every user in bounded
    memory.

    Attributes:
        name: what the score is (`"ratings"`, `"ease"`, `"head"`, `"popularity"`, ...);
            `Recommender.recommend` reports it in its `basis` column.
        n_items: number of items, the width of every score row.

    Example:
        >>> import numpy as np
        >>> class Constant:
        ...     name, n_items = "constant", 3
        ...     def score(self, user_indices: ArrayLike) -> np.ndarray:
        ...         return np.zeros((len(user_indices), 3), "float32")
        >>> isinstance(Constant(), Scorer)
        True
    """

    name: str
    n_items: int

    def score(self, user_indices: ArrayLike) -> np.ndarray:
        """Scores of every item for some users; higher ranks first.

        Args:
            user_indices: 1-D int array of user indices (not ids).

        Returns:
            float32 array `(len(user_indices), n_items)`.
        """
        ...


def check_user_indices(user_indices: ArrayLike, n_users: int) -> np.ndarray:
    """`user_indices` as a 1-D intp array, or `IndexError` for anything out of `[0, n_users)`.

    Args:
        user_indices: user index or 1-D array-like of user indices.
        n_users: number of users.

    Returns:
        1-D `np.intp` array.

    Raises:
        IndexError: for non-integer, multi-dimensional or out-of-range indices (negative ones
            included: they do not count from the end here).

    Example:
        >>> check_user_indices([2, 0], n_users=3).tolist()
        [2, 0]
    """
    indices = np.atleast_1d(np.asarray(user_indices))
    if indices.ndim != 1 or not (indices.size == 0 or np.issubdtype(indices.dtype, np.integer)):
        raise IndexError(
            f"user indices must be a 1-D array of integers, got dtype={indices.dtype} and "
            f"shape={indices.shape}."
        )
    bad = indices[(indices < 0) | (indices >= n_users)]
    if len(bad):
        raise IndexError(
            f"{len(bad)} user index(es) are outside [0, {n_users}), e.g. {bad[:5].tolist()}."
        )
    return indices.astype(np.intp, copy=False)
