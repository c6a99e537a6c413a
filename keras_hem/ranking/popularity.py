"""Popularity: each item's mean rating shrunk towards the global mean, the same for every user."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from keras_hem.types import ArrayLike

if TYPE_CHECKING:
    from keras_hem.ranking.statistics import RatingStatistics


class PopularityScorer:
    """Ranks items by their shrunk mean rating (`RatingStatistics.popularity`), for anyone.

    The score of users without training ratings (unknown users included) in every other
    scorer. Only the number of users asked for matters, so any index (even -1, an unknown
    id) is accepted.

    Args:
        statistics: `keras_hem.ranking.RatingStatistics` of the training ratings.

    Example:
        >>> from keras_hem.data import RatingMatrix
        >>> from keras_hem.ranking import RatingStatistics
        >>> train = RatingMatrix.from_arrays([0, 0, 1], [0, 1, 0], [5.0, 3.0, 4.0])
        >>> scorer = PopularityScorer(RatingStatistics.from_ratings(train))
        >>> scorer.score([-1, 0]).shape
        (2, 2)
    """

    name = "popularity"

    def __init__(self, statistics: RatingStatistics):
        self.statistics = statistics

    @property
    def n_items(self) -> int:
        """Number of items."""
        return self.statistics.n_items

    def score(self, user_indices: ArrayLike) -> np.ndarray:
        """The popularity row, once per user.

        Args:
            user_indices: 1-D array-like; only its length is used.

        Returns:
            float32 array `(len(user_indices), n_items)`.
        """
        return np.tile(self.statistics.popularity, (len(np.atleast_1d(user_indices)), 1))
