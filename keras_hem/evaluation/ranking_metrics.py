"""Top-k ranking metrics (Precision@k, NDCG@k) over all users, vectorised with NumPy.

Definitions (for each evaluated user `u`):

* Candidates. `protocol="full_catalog"` ranks every item `u` did not rate in training (test
  items included); `protocol="test_items"` ranks only the items `u` rated in the test set.
* Relevant items `Rel(u)`: `u`'s test items with rating `>= threshold` (`threshold=None`: every
  test item). Users without a relevant item are skipped and not counted in `n_users`.
* Ranking: by score, highest first; equal scores are broken deterministically in favour of the
  lower item index, so results never depend on sort stability or random shuffling.
* The top-k list `R(u)` has `|R(u)| = min(k, number of candidates)` items.
* Precision@k `= sum_u |R(u) & Rel(u)| / sum_u |R(u)|`, equation 19 of the HEM-AAE paper
  (a micro average). When every user has at least `k` candidates, `|R(u)| = k` for all users
  and this equals the mean of the per-user precisions; with `protocol="test_items"` a user may
  have fewer than `k` candidates, and then the two differ.
* NDCG@k `= mean_u DCG@k(u) / IDCG@k(u)` with `DCG@k = sum_{r=1..k} (2**rel_r - 1) / log2(r + 1)`,
  where `rel_r` is 1 for a relevant item at rank `r` and 0 otherwise (`gain="binary"`), or the
  item's test rating when it is relevant (`gain="graded"`). IDCG@k is the DCG of `u`'s relevant
  items sorted by gain. With binary gain `2**1 - 1 = 1`.

Why not keras-rs (`keras_rs.metrics.PrecisionAtK`, `keras_rs.metrics.NDCG`; keras-rs is not a
dependency)? They are streaming Keras metrics over per-batch `(lists, list_size)` label and score
tensors. Per list they compute the same quantities (precision = hits in the top k divided by
`min(k, valid entries)`; NDCG with gain `2**y - 1`, discount `1 / log2(rank + 1)` and IDCG over the
true labels). They differ from this module in what is averaged and how ties are handled:

* excluding training items from a full-catalog ranking would need a dense `(users, n_items)`
  mask passed as `sample_weight`, built outside the metric;
* with uniform weights every list counts, so users without a relevant item add a 0 instead of
  being skipped;
* Precision@k is the mean of per-list precisions rather than equation 19's ratio of sums (the
  same only when every user has `k` candidates);
* ties are shuffled at random by default (`shuffle_ties=True`) instead of broken by item index.

Here the whole evaluation runs in NumPy on user chunks, with no framework or device involved.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from keras_hem.data import RatingMatrix

PROTOCOLS = ("full_catalog", "test_items")
GAINS = ("binary", "graded")


def _validate_ks(ks):
    """Return `ks` as a sorted tuple of unique positive ints."""
    values = (ks,) if isinstance(ks, numbers.Integral) else tuple(ks)
    if not values or not all(
        isinstance(k, numbers.Integral) and not isinstance(k, bool) and k > 0 for k in values
    ):
        raise ValueError(f"`ks` must be positive integers, got ks={ks!r}.")
    return tuple(sorted({int(k) for k in values}))


def _validate_options(protocol, gain, threshold, chunk_size):
    """Raise `ValueError` quoting any malformed option."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {PROTOCOLS}, got protocol={protocol!r}.")
    if gain not in GAINS:
        raise ValueError(f"`gain` must be one of {GAINS}, got gain={gain!r}.")
    if threshold is not None and (
        not isinstance(threshold, numbers.Real) or not np.isfinite(threshold)
    ):
        raise ValueError(f"`threshold` must be None or a finite number, got {threshold=!r}.")
    if not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"`chunk_size` must be a positive integer, got {chunk_size=!r}.")


def _check_compatible(train, test, protocol):
    """Check that train and test index the same users and items (and do not overlap)."""
    if (train.n_users, train.n_items) != (test.n_users, test.n_items):
        raise ValueError(
            f"train is {train.n_users} users x {train.n_items} items but test is "
            f"{test.n_users} x {test.n_items}; split one RatingMatrix so they share id maps."
        )
    same_ids = (
        train.user_ids is test.user_ids or np.array_equal(train.user_ids, test.user_ids)
    ) and (train.item_ids is test.item_ids or np.array_equal(train.item_ids, test.item_ids))
    if not same_ids:
        raise ValueError("train and test have different user or item id maps.")
    if protocol != "full_catalog":
        return
    # A test item that is also a training item would be excluded from the ranking yet counted
    # as relevant, silently capping NDCG below 1.
    train_keys = train.users.astype(np.int64) * train.n_items + train.items
    test_keys = test.users.astype(np.int64) * test.n_items + test.items
    shared = np.intersect1d(train_keys, test_keys, assume_unique=True)
    if len(shared):
        pairs = ", ".join(
            f"({k // train.n_items}, {k % train.n_items})" for k in shared[:5].tolist()
        )
        raise ValueError(
            f"{len(shared)} (user, item) pair(s) are in both train and test (showing up to 5 "
            f"as index pairs): {pairs}. The full-catalog protocol needs disjoint sets."
        )


def _scores(score_fn, users, n_items, valid):
    """Call `score_fn` and check its output shape and NaNs on candidate items."""
    scores = np.asarray(score_fn(users))
    if scores.shape != (len(users), n_items):
        raise ValueError(
            f"score_fn must return an array of shape (len(user_indices), n_items) = "
            f"({len(users)}, {n_items}), got shape {scores.shape}."
        )
    if not np.issubdtype(scores.dtype, np.number) or np.issubdtype(
        scores.dtype, np.complexfloating
    ):
        raise ValueError(f"score_fn must return real numbers, got dtype {scores.dtype}.")
    scores = scores.astype(np.float64, copy=False)
    bad_rows, bad_cols = np.nonzero(np.isnan(scores) & valid)
    if len(bad_rows):
        pairs = ", ".join(
            f"({u}, {i})"
            for u, i in zip(users[bad_rows[:5]].tolist(), bad_cols[:5].tolist(), strict=True)
        )
        raise ValueError(
            f"score_fn returned {len(bad_rows)} NaN score(s) for candidate items (showing up to "
            f"5 as (user index, item index)): {pairs}."
        )
    return scores


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


def _chunk_labels(train, test, users, threshold, protocol, gain):
    """Dense candidate mask, relevance mask and NDCG gains for a chunk of users."""
    test_rows = test.user_rows(users).astype(np.float64)
    # Dense rows use 0 for "not rated", which is why ratings must be > 0 (see RatingMatrix).
    rated_in_test = test_rows > 0
    # Full catalog: everything not rated in training; test items: only the user's test items.
    valid = train.user_rows(users) == 0 if protocol == "full_catalog" else rated_in_test
    relevant = rated_in_test if threshold is None else rated_in_test & (test_rows >= threshold)
    level = test_rows if gain == "graded" else np.ones_like(test_rows)
    gains = np.where(relevant, np.exp2(level) - 1.0, 0.0)
    return valid, relevant, gains


def _chunk_totals(scores, valid, gains, relevant, ks):
    """Hits, list sizes and per-user NDCG sums for one chunk of users."""
    n_items = scores.shape[1]
    k_max = min(ks[-1], n_items)
    top, top_valid = top_k_items(scores, valid, k_max)
    top_relevant = np.take_along_axis(relevant, top, axis=1) & top_valid
    top_gains = np.where(top_relevant, np.take_along_axis(gains, top, axis=1), 0.0)
    discount = 1.0 / np.log2(np.arange(2, k_max + 2))
    dcg = np.cumsum(top_gains * discount, axis=1)
    best = -np.partition(-gains, k_max - 1, axis=1)[:, :k_max]
    ideal = np.cumsum(-np.sort(-best, axis=1) * discount, axis=1)
    hits = np.cumsum(top_relevant, axis=1)
    n_valid = valid.sum(axis=1)
    totals = {}
    for k in ks:
        col = min(k, k_max) - 1
        totals[k] = (
            hits[:, col].sum(),
            np.minimum(n_valid, k).sum(),
            (dcg[:, col] / ideal[:, col]).sum(),
        )
    return totals


def ranking_metrics(
    score_fn: Callable[[np.ndarray], np.ndarray],
    train: RatingMatrix,
    test: RatingMatrix,
    ks: Sequence[int] = (3, 5, 10),
    threshold: float | None = None,
    protocol: str = "full_catalog",
    gain: str = "binary",
    chunk_size: int = 1024,
) -> dict[str, float]:
    """Precision@k and NDCG@k of a scoring function, over every user with a relevant test item.

    See the module docstring for the exact definitions and tie-breaking rule.

    Args:
        score_fn: callable taking a 1-D int64 array of user indices and returning a real array
            of shape `(len(user_indices), n_items)`; higher means more recommended. Scores of
            non-candidate items are ignored (they may be anything, NaN included).
        train: training `RatingMatrix`; its items are excluded from the full-catalog ranking.
        test: test `RatingMatrix` sharing `train`'s id maps (as returned by its splits).
        ks: cut-offs, e.g. `(3, 5, 10)`.
        threshold: minimum test rating of a relevant item; `None` makes every test item
            relevant.
        protocol: `"full_catalog"` or `"test_items"`.
        gain: `"binary"` or `"graded"` relevance in the NDCG gain `2**rel - 1`.
        chunk_size: users scored per `score_fn` call, bounding memory to a few
            `(chunk_size, n_items)` float64 arrays.

    Returns:
        Dict with `"P@k"` and `"NDCG@k"` floats for each `k`, and `"n_users"`, the number of
        users evaluated.

    Raises:
        ValueError: for malformed options, train and test that do not share id maps (or
            overlap, under `"full_catalog"`), a `score_fn` output of the wrong shape or with NaN
            on candidate items, or when no user has a relevant test item.

    Examples:
        >>> from keras_hem.data import RatingMatrix
        >>> data = RatingMatrix.from_arrays([0, 0, 0, 1, 1], [0, 1, 2, 0, 2], [5, 3, 4, 2, 5])
        >>> train, test = data.random_split(0.4, seed=1)
        >>> popularity = lambda users: np.tile([3.0, 2.0, 1.0], (len(users), 1))
        >>> ranking_metrics(popularity, train, test, ks=(1,))["n_users"]
        2
    """
    ks = _validate_ks(ks)
    _validate_options(protocol, gain, threshold, chunk_size)
    _check_compatible(train, test, protocol)
    is_relevant = np.ones(test.n_ratings, dtype=bool)
    if threshold is not None:
        is_relevant = test.ratings >= threshold
    n_relevant = np.bincount(test.users[is_relevant], minlength=test.n_users)
    users = np.flatnonzero(n_relevant > 0)
    if len(users) == 0:
        raise ValueError(
            f"No user has a relevant test item (threshold={threshold!r}, "
            f"{test.n_ratings} test rating(s)); nothing to evaluate."
        )
    sums = {k: np.zeros(3) for k in ks}
    for start in range(0, len(users), chunk_size):
        chunk = users[start : start + chunk_size]
        valid, relevant, gains = _chunk_labels(train, test, chunk, threshold, protocol, gain)
        scores = _scores(score_fn, chunk, test.n_items, valid)
        for k, values in _chunk_totals(scores, valid, gains, relevant, ks).items():
            sums[k] += values
    result = {}
    for k in ks:
        hits, listed, ndcg = sums[k]
        result[f"P@{k}"] = float(hits / listed)
        result[f"NDCG@{k}"] = float(ndcg / len(users))
    result["n_users"] = int(len(users))
    return result
