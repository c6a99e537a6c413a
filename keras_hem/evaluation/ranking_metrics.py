"""Top-k ranking metrics over all users, vectorised with NumPy: the protocol around them.

The metrics themselves (Precision@k, NDCG@k, Recall@k, MAP@k, MRR@k, hit rate, coverage) are
one function each in `keras_hem.evaluation.list_metrics`; this module ranks the candidates of
each chunk of users and hands the lists to them.

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

from keras_hem.arguments import check_choice
from keras_hem.evaluation.list_metrics import METRICS, RankedLists

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
    check_choice("protocol", protocol, PROTOCOLS)
    check_choice("gain", gain, GAINS)
    if threshold is not None and (
        not isinstance(threshold, numbers.Real) or not np.isfinite(threshold)
    ):
        raise ValueError(f"`threshold` must be None or a finite number, got {threshold=!r}.")
    if not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"`chunk_size` must be a positive integer, got {chunk_size=!r}.")


def check_compatible(train: RatingMatrix, test: RatingMatrix, protocol: str) -> None:
    """Check that train and test index the same users and items (and do not overlap).

    Args:
        train: the training ratings.
        test: the test ratings, split from the same `RatingMatrix`.
        protocol: `"full_catalog"` also requires that no (user, item) pair is in both.

    Raises:
        ValueError: naming the mismatch (shapes, id maps, or up to 5 shared pairs).
    """
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


def _ranked_lists(scores, valid, gains, relevant, k_max):
    """The top `k_max` of each user of a chunk, with their relevance and gains."""
    # Imported here: `keras_hem.ranking` loads the Keras layers, which the command line
    # imports only after it has parsed its arguments and quieted the backend's start.
    from keras_hem.ranking.top_k import top_k_items

    top, listed = top_k_items(scores, valid, k_max)
    top_relevant = np.take_along_axis(relevant, top, axis=1) & listed
    best = -np.partition(-gains, k_max - 1, axis=1)[:, :k_max]
    return RankedLists(
        items=top,
        listed=listed,
        relevant=top_relevant,
        gains=np.where(top_relevant, np.take_along_axis(gains, top, axis=1), 0.0),
        ideal_gains=-np.sort(-best, axis=1),
        n_candidates=valid.sum(axis=1),
        n_relevant=relevant.sum(axis=1),
        n_items=scores.shape[1],
    )


def validate_metrics(metrics: str | Sequence[str]) -> tuple[str, ...]:
    """`metrics` as a tuple of distinct names of `METRICS`, or a `ValueError` naming the bad one."""
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not names:
        raise ValueError("`metrics` must name at least one metric, got none.")
    for name in names:
        check_choice("metrics", name, tuple(METRICS))
    return tuple(dict.fromkeys(names))


def ranking_metrics(
    score_fn: Callable[[np.ndarray], np.ndarray],
    train: RatingMatrix,
    test: RatingMatrix,
    ks: Sequence[int] = (3, 5, 10),
    threshold: float | None = None,
    protocol: str = "full_catalog",
    gain: str = "binary",
    chunk_size: int = 1024,
    metrics: Sequence[str] = ("precision", "ndcg"),
) -> dict[str, float]:
    """Top-k metrics of a scoring function, over every user with a relevant test item.

    See the module docstring for the protocol and tie-breaking rule, and
    `keras_hem.evaluation.list_metrics` for each metric's definition.

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
        metrics: names from `keras_hem.evaluation.list_metrics.METRICS`: `"precision"` and
            `"ndcg"` (default), `"recall"`, `"map"`, `"mrr"`, `"hit_rate"`, `"coverage"`.

    Returns:
        Dict with a float for each `k` and metric, in that order (`"P@3"`, `"NDCG@3"`,
        `"P@5"`, ...; prefixes `Recall`, `MAP`, `MRR`, `HR`, `Coverage`), and `"n_users"`,
        the number of users evaluated.

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
    metrics = validate_metrics(metrics)
    _validate_options(protocol, gain, threshold, chunk_size)
    check_compatible(train, test, protocol)
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
    chosen = [METRICS[name] for name in metrics]
    k_max = min(ks[-1], test.n_items)
    parts = {(metric, k): [] for k in ks for metric in chosen}  # each chunk's share
    for start in range(0, len(users), chunk_size):
        chunk = users[start : start + chunk_size]
        valid, relevant, gains = _chunk_labels(train, test, chunk, threshold, protocol, gain)
        scores = _scores(score_fn, chunk, test.n_items, valid)
        lists = _ranked_lists(scores, valid, gains, relevant, k_max)
        for (metric, k), shares in parts.items():
            shares.append(metric.per_chunk(lists, k))
    result = {}
    for (metric, k), shares in parts.items():
        if metric.catalogue:
            value = np.logical_or.reduce(shares).mean()
        else:
            value = sum(n for n, _ in shares) / sum(d for _, d in shares)
        result[f"{metric.prefix}@{k}"] = float(value)
    result["n_users"] = int(len(users))
    return result
