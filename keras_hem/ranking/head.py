"""Ranking by HEM-AAE's optional ranking head: the probability that a user rates an item."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from keras_hem.ranking.protocol import check_user_indices
from keras_hem.types import ArrayLike

if TYPE_CHECKING:
    from keras_hem.ranking.ratings import RatingScorer


class HeadScorer:
    """The ranking head's probability that each item is rated, from the rating scorer's codes.

    Needs a model with a ranking head (`HEMAAE(ranking_weight=w)`, `w > 0`); it reuses the
    codes of a `RatingScorer` (`model.observation_scores(codes, columns)`), a chunk of users at
    a time. Items without training ratings score 0 (never observed in training, ranked last);
    users without training ratings get the popularity row.

    Args:
        ratings: the `keras_hem.ranking.RatingScorer` of the model.

    Raises:
        ValueError: if the model has no ranking head.

    Example:
        >>> from keras_hem import HEMAAE, RatingMatrix
        >>> from keras_hem.ranking import RatingScorer
        >>> train = RatingMatrix.from_arrays([0, 0, 1, 2], [0, 1, 1, 2], [5.0, 3.0, 4.0, 2.0])
        >>> model = HEMAAE(hidden=4, seed=0, ranking_weight=1.0)
        >>> model.compile()
        >>> _ = model.fit(train.to_item_user_csr(), epochs=1, verbose=0)
        >>> HeadScorer(RatingScorer(model, train)).score([1]).shape
        (1, 3)
    """

    name = "head"

    def __init__(self, ratings: RatingScorer):
        self.ratings = ratings
        # Fails early, with the model's own message, when there is no head.
        ratings.model.observation_scores(ratings.codes[:1], [0])

    @property
    def n_items(self) -> int:
        """Number of items."""
        return self.ratings.n_items

    def score(self, user_indices: ArrayLike) -> np.ndarray:
        """Ranking-head probabilities, with the fallbacks above.

        Args:
            user_indices: 1-D int array of user indices.

        Returns:
            float32 array `(len(user_indices), n_items)`.

        Raises:
            IndexError: if an index is out of range.
        """
        stats = self.ratings.statistics
        users = check_user_indices(user_indices, stats.n_users)
        scores = self.ratings.decode_users(self.ratings.model.observation_scores, users)
        scores[:, ~stats.item_seen] = 0.0
        return stats.fill_unseen_users(scores, users)
