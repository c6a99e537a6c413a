"""Top-k metrics of ranked lists, one small function each.

What belongs here: the metrics themselves. `ranking_metrics` ranks a chunk of users, wraps the
result in a `RankedLists` and calls each asked metric's function; a function returns the
chunk's share of the metric (a numerator and a denominator, summed over chunks), or, for
`coverage`, the items the chunk's lists reach (joined over chunks). Adding a metric is one
function and one line of `METRICS`.

Definitions, for a user `u` with top-k list `R(u)` (`|R(u)| = min(k, candidates)`), relevant
test items `Rel(u)` and `rel_r = 1` when the item at rank `r` is relevant:

* `precision`: `sum_u |R(u) & Rel(u)| / sum_u |R(u)|` (the paper's eq 19, a micro average).
* `ndcg`: mean over users of `DCG@k / IDCG@k` (gains `2**rel - 1`, discount `1/log2(r + 1)`).
* `recall`: mean of `|R(u) & Rel(u)| / |Rel(u)|`.
* `map`: mean of `sum_{r <= k} P@r(u) rel_r / |Rel(u)|` (normalised by every relevant item, as
  keras-rs and TF-Ranking do, so a user with more than `k` relevant items scores below 1).
* `mrr`: mean of `1 / rank` of the first relevant item within the top k (0 when none).
* `hit_rate`: share of users with at least one relevant item in their top k.
* `coverage`: share of the catalogue's items that appear in at least one user's top k.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["METRICS", "Metric", "RankedLists"]


@dataclass(frozen=True)
class RankedLists:
    """The top `k_max` items of a chunk of users, with what the metrics need to score them.

    Attributes:
        items: int `(users, k_max)`, item indices, best first.
        listed: bool `(users, k_max)`, False past the end of a user's candidates.
        relevant: bool `(users, k_max)`, the item at that rank is relevant (and listed).
        gains: float `(users, k_max)`, the NDCG gain at each rank (0 where not relevant).
        ideal_gains: float `(users, k_max)`, the best gains sorted high to low (for IDCG).
        n_candidates: int `(users,)`, items each user could be shown.
        n_relevant: int `(users,)`, relevant items of each user (all of them, not only
            those in the top `k_max`).
        n_items: the catalogue's size.
    """

    items: np.ndarray
    listed: np.ndarray
    relevant: np.ndarray
    gains: np.ndarray
    ideal_gains: np.ndarray
    n_candidates: np.ndarray
    n_relevant: np.ndarray
    n_items: int

    @property
    def n_users(self) -> int:
        """Users in the chunk."""
        return self.items.shape[0]

    def hits(self, k: int) -> np.ndarray:
        """Relevant items in each user's top `k`."""
        return self.relevant[:, :k].sum(axis=1)


def _discount(k):
    return 1.0 / np.log2(np.arange(2, k + 2))


def precision(lists: RankedLists, k: int) -> tuple[float, float]:
    """Hits and list lengths: precision is their ratio over all users (eq 19)."""
    return lists.hits(k).sum(), np.minimum(lists.n_candidates, k).sum()


def ndcg(lists: RankedLists, k: int) -> tuple[float, float]:
    """Sum of the users' NDCG@k, and the number of users."""
    discount = _discount(lists.gains[:, :k].shape[1])
    dcg = np.cumsum(lists.gains[:, :k] * discount, axis=1)[:, -1]
    ideal = np.cumsum(lists.ideal_gains[:, :k] * discount, axis=1)[:, -1]
    return (dcg / ideal).sum(), lists.n_users


def recall(lists: RankedLists, k: int) -> tuple[float, float]:
    """Sum of the users' share of their relevant items found in the top k."""
    return (lists.hits(k) / lists.n_relevant).sum(), lists.n_users


def mean_average_precision(lists: RankedLists, k: int) -> tuple[float, float]:
    """Sum of the users' average precision at k, normalised by all relevant items."""
    relevant = lists.relevant[:, :k]
    ranks = np.arange(1, relevant.shape[1] + 1)
    precision_at_rank = np.cumsum(relevant, axis=1) / ranks
    return ((precision_at_rank * relevant).sum(axis=1) / lists.n_relevant).sum(), lists.n_users


def reciprocal_rank(lists: RankedLists, k: int) -> tuple[float, float]:
    """Sum of 1 / rank of each user's first relevant item in the top k."""
    relevant = lists.relevant[:, :k]
    first = np.argmax(relevant, axis=1)
    found = relevant.any(axis=1)
    return np.where(found, 1.0 / (first + 1), 0.0).sum(), lists.n_users


def hit_rate(lists: RankedLists, k: int) -> tuple[float, float]:
    """Users with a relevant item in their top k, and the number of users."""
    return (lists.hits(k) > 0).sum(), lists.n_users


def coverage(lists: RankedLists, k: int) -> np.ndarray:
    """The items that appear in some user's top k."""
    reached = np.zeros(lists.n_items, dtype=bool)
    reached[lists.items[:, :k][lists.listed[:, :k]]] = True
    return reached


class Metric(NamedTuple):
    """A metric: its column prefix (`P` gives `P@10`) and its per-chunk function.

    `per_chunk(lists, k)` returns `(numerator, denominator)` sums, added over chunks, the
    metric being their ratio; a `catalogue` metric returns a boolean mask of the items
    reached instead, joined over chunks, the metric being the share of True.
    """

    prefix: str
    per_chunk: Callable
    catalogue: bool = False


METRICS = {
    "precision": Metric("P", precision),
    "ndcg": Metric("NDCG", ndcg),
    "recall": Metric("Recall", recall),
    "map": Metric("MAP", mean_average_precision),
    "mrr": Metric("MRR", reciprocal_rank),
    "hit_rate": Metric("HR", hit_rate),
    "coverage": Metric("Coverage", coverage, catalogue=True),
}
