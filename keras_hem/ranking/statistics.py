"""Per-user and per-item rating statistics: the fallbacks of every scorer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from keras_hem.types import ArrayLike

if TYPE_CHECKING:
    from keras_hem.data import RatingMatrix

# Pseudo-ratings at the global mean added to each item's ratings for the popularity score, so
# that an item with a single 5-star rating does not outrank a well-liked popular one.
PRIOR_RATINGS = 10


@dataclass(frozen=True)
class RatingStatistics:
    """Who has training ratings, mean ratings, and the popularity score of each item.

    Create it with `from_ratings`. "Seen" means "has at least one training rating".

    Attributes:
        user_seen: bool `(n_users,)`.
        item_seen: bool `(n_items,)`.
        user_mean: float32 `(n_users,)` mean training rating (0 for unseen users).
        item_mean: float32 `(n_items,)` mean training rating (0 for unseen items).
        global_mean: float32 mean of all training ratings.
        popularity: float32 `(n_items,)` each item's mean rating shrunk towards the global
            mean by `prior_ratings` pseudo-ratings: `(sum + prior * mean) / (count + prior)`.

    Example:
        >>> from keras_hem.data import RatingMatrix
        >>> train = RatingMatrix.from_arrays([0, 0, 1], [0, 1, 0], [5.0, 3.0, 4.0])
        >>> stats = RatingStatistics.from_ratings(train)
        >>> stats.item_mean.tolist(), float(stats.global_mean)
        ([4.5, 3.0], 4.0)
    """

    user_seen: np.ndarray
    item_seen: np.ndarray
    user_mean: np.ndarray
    item_mean: np.ndarray
    global_mean: np.float32
    popularity: np.ndarray

    @classmethod
    def from_ratings(
        cls, train: RatingMatrix, prior_ratings: float = PRIOR_RATINGS
    ) -> RatingStatistics:
        """Statistics of a training `RatingMatrix`.

        Args:
            train: `keras_hem.data.RatingMatrix` (anything with `users`, `items`, `ratings`,
                `n_users` and `n_items`).
            prior_ratings: pseudo-ratings of the popularity score.

        Returns:
            A `RatingStatistics`.
        """
        user_sums, user_counts = _sums_and_counts(train.users, train.ratings, train.n_users)
        item_sums, item_counts = _sums_and_counts(train.items, train.ratings, train.n_items)
        global_mean = np.float32(train.ratings.mean())
        prior = prior_ratings * float(global_mean)
        return cls(
            user_seen=user_counts > 0,
            item_seen=item_counts > 0,
            user_mean=(user_sums / np.maximum(user_counts, 1)).astype(np.float32),
            item_mean=(item_sums / np.maximum(item_counts, 1)).astype(np.float32),
            global_mean=global_mean,
            popularity=((item_sums + prior) / (item_counts + prior_ratings)).astype(np.float32),
        )

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.user_seen)

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self.item_seen)

    def fill_unseen_users(self, scores: np.ndarray, user_indices: ArrayLike) -> np.ndarray:
        """Give the rows of users without training ratings the popularity scores, in place.

        Args:
            scores: float array `(len(user_indices), n_items)`.
            user_indices: 1-D int array of valid user indices.

        Returns:
            `scores`.
        """
        unseen = ~self.user_seen[user_indices]
        if unseen.any():
            scores[unseen] = self.popularity
        return scores


def _sums_and_counts(index, ratings, size):
    """Per-index rating sums and counts."""
    sums = np.bincount(index, weights=ratings, minlength=size)
    counts = np.bincount(index, minlength=size)
    return sums, counts
