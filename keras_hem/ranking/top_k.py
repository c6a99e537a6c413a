"""Top-k items: of one score matrix (`top_k_items`) and of many users, a chunk at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import scipy.sparse as sp

from keras_hem.arguments import check_integer
from keras_hem.types import ArrayLike

if TYPE_CHECKING:
    from keras_hem.ranking.protocol import Scorer

# Score cells per chunk by default: 2**23 float32 scores (32 MiB) per (chunk, n_items) array.
CHUNK_CELLS = 1 << 23


def top_k_items(scores: np.ndarray, valid: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `k` best-scored valid items of each row, ties to the lower index.

    Uses a partition to find each row's k-th best score, then sorts only the items that can
    still make the top k, so the cost stays close to linear in the number of items.

    Args:
        scores: float array of shape `(rows, n_items)`; no NaN where `valid` is True.
        valid: bool array of the same shape; False entries are never returned.
        k: number of items to return, `1 <= k <= n_items`.

    Returns:
        `(top, top_valid)`: int array `(rows, k)` of item indices, best first, and a bool array
        `(rows, k)` that is False where a row has fewer than `k` valid items (those slots hold
        arbitrary indices).

    Examples:
        >>> top, ok = top_k_items(np.array([[0.5, 0.9, 0.9]]), np.array([[True] * 3]), 2)
        >>> top.tolist(), ok.tolist()
        ([[1, 2]], [[True, True]])
    """
    rows = scores.shape[0]
    # Ascending key with invalid entries as NaN, which sorts and partitions after everything.
    key = np.where(valid, -scores, np.nan)
    kth = np.partition(key, k - 1, axis=1)[:, k - 1 : k]
    short = np.isnan(kth)
    in_reach = (key <= kth) | (short & valid)
    n_reach = in_reach.sum(axis=1)
    width = max(int(n_reach.max(initial=0)), 1)
    # A stable sort of booleans lists each row's reachable items first, in item order ...
    reach = np.argsort(~in_reach, axis=1, kind="stable")[:, :width]
    reach_key = np.take_along_axis(key, reach, axis=1)
    reach_key[np.arange(width)[None, :] >= n_reach[:, None]] = np.nan
    # ... so a stable sort by key keeps equal scores in item order: ties go to the lower index.
    order = np.argsort(reach_key, axis=1, kind="stable")[:, :k]
    top = np.zeros((rows, k), dtype=np.int64)
    top[:, : order.shape[1]] = np.take_along_axis(reach, order, axis=1)
    n_valid = valid.sum(axis=1)
    top_valid = np.arange(k)[None, :] < np.minimum(n_valid, k)[:, None]
    return top, top_valid


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
    (`top_k_items`).

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
        check_integer(label, value, minimum=1)
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
