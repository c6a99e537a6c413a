"""Top-k items of many users, scoring a chunk of users at a time."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import scipy.sparse as sp

from keras_hem.evaluation.ranking_metrics import top_k_items
from keras_hem.types import ArrayLike

if TYPE_CHECKING:
    from keras_hem.ranking.protocol import Scorer

# Score cells per chunk by default: 2**23 float32 scores (32 MiB) per (chunk, n_items) array.
CHUNK_CELLS = 1 << 23


class TopK(NamedTuple):
    """The top-k lists of some users, best first; one row per user.

    Attributes:
        items: int64 `(users, k)` item indices.
        scores: `(users, k)` their scores, in the scorer's dtype.
        valid: bool `(users, k)`: False where a user had fewer than `k` candidates (those
            slots hold arbitrary items and scores).
    """

    items: np.ndarray
    scores: np.ndarray
    valid: np.ndarray


def chunk_size_for(n_items: int, cells: int = CHUNK_CELLS) -> int:
    """Users per chunk so that a `(chunk, n_items)` array holds about `cells` scores.

    Args:
        n_items: number of items.
        cells: scores per chunk.

    Returns:
        int >= 1.

    Example:
        >>> chunk_size_for(59_047)  # MovieLens-25M's items: 142 users per chunk
        142
    """
    return max(1, int(cells) // max(int(n_items), 1))


def chunked_top_k(
    scorer: Scorer | Callable[[np.ndarray], np.ndarray],
    user_indices: ArrayLike,
    k: int,
    exclude: sp.spmatrix | sp.sparray | None = None,
    chunk_size: int | None = None,
) -> TopK:
    """The `k` best-scored items of each user, scoring `chunk_size` users at a time.

    Memory stays at a few `(chunk_size, n_items)` arrays plus the `(users, k)` result, however
    many users are ranked. Ties go to the lower item index
    (`keras_hem.evaluation.ranking_metrics.top_k_items`).

    Args:
        scorer: a `keras_hem.ranking.Scorer`, or a function `user_indices -> (len(user_indices),
            n_items)` scores.
        user_indices: 1-D int array of the users to rank, passed on to the scorer chunk by
            chunk.
        k: items per user, >= 1; at most `n_items` are returned.
        exclude: optional `scipy.sparse` users x items matrix: the stored (non-zero) entries of
            row `u` are never recommended to user `u` (e.g. the training ratings). Negative
            user indices (unknown users) exclude nothing.
        chunk_size: users per chunk; `None`: `chunk_size_for(n_items)`.

    Returns:
        `TopK(items, scores, valid)`, one row per user index, in input order.

    Raises:
        ValueError: if `k` or `chunk_size` is not a positive integer.

    Example:
        >>> import numpy as np
        >>> table = np.array([[0.1, 0.9, 0.5], [0.7, 0.2, 0.7]], "float32")
        >>> top = chunked_top_k(lambda users: table[users], np.array([0, 1]), k=2, chunk_size=1)
        >>> top.items.tolist()  # user 1: a tie between items 0 and 2 goes to item 0
        [[1, 2], [0, 2]]
    """
    for value, label in ((k, "k"), (chunk_size, "chunk_size")):
        if value is None and label == "chunk_size":
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"`{label}` must be a positive integer, got {label}={value!r}.")
    score = getattr(scorer, "score", scorer)
    users = np.asarray(user_indices).reshape(-1)
    if exclude is not None:
        exclude = sp.csr_array(exclude)
    n_items = getattr(scorer, "n_items", None)
    size = chunk_size or (chunk_size_for(n_items) if n_items else None)
    parts = []
    start = 0
    while start < len(users):
        chunk = users[start : start + (size or 1)]
        scores = np.asarray(score(chunk))
        if size is None:  # the first chunk told the width
            size = chunk_size_for(scores.shape[1])
        parts.append(_chunk_top_k(scores, chunk, k, exclude))
        start += len(chunk)
    if not parts:
        empty = np.zeros((0, k))
        return TopK(empty.astype(np.int64), empty.astype(np.float32), empty.astype(bool))
    return TopK(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))


def _chunk_top_k(scores, users, k, exclude):
    """`(items, scores, valid)` of one chunk."""
    k = min(k, scores.shape[1])
    valid = np.ones(scores.shape, dtype=bool)
    if exclude is not None:
        known = np.flatnonzero(users >= 0)
        rows, columns = exclude[users[known]].nonzero()
        valid[known[rows], columns] = False
    top, top_valid = top_k_items(scores, valid, k)
    return top, np.take_along_axis(scores, top, axis=1), top_valid
