"""Ranking by EASE's item-item score plus a small weight on the predicted ratings."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from keras_hem.arguments import check_number
from keras_hem.layers.ease_scorer import (
    binary_interactions,
    default_max_items,
    ease_scores,
    ease_weights,
    most_rated_items,
)
from keras_hem.ranking.protocol import check_user_indices
from keras_hem.types import ArrayLike

if TYPE_CHECKING:
    from keras_hem.ranking.ratings import RatingScorer


class EASEBlendScorer:
    """EASE score + `rating_weight` x (predicted rating - global mean) [+ the ranking head].

    With `head_weight > 0` the score also adds `head_weight` x the model's ranking-head
    logits (`HEMAAE.ranking_logits`), standardised per user over the items with training
    ratings and multiplied by the standard deviation of the user's EASE + rating score over
    the same items: one weight then means the same for every user and data set, whatever the
    scales of the two scores. Items without training ratings get no head term.

    EASE (Steck 2019; `keras_hem.layers.EASEScorer`) is fitted on the training interactions
    when the scorer is created. Its item-item matrix is `M x M` with `M = min(n_items,
    max_items)`; above `max_items` (by default at most 10,000 items and what fits in the
    machine's memory, `keras_hem.layers.ease_scorer.default_max_items`) EASE is restricted
    to the `M` most-rated items and the others get EASE score 0, so they are ranked by the
    rating term only. Costs: O(M^3) time and 16 bytes x M^2 memory for the fit,
    O(ratings x M) to score every user.

    Users' EASE rows come from their *sparse* interaction rows (`CSR chunk @ B`), not from
    dense `(chunk, M)` interaction blocks multiplied by `B`: the sparse product costs
    `ratings x M`, the dense one `users x M^2`. Measured on 2 shared CPU cores, in chunks of
    `2**23 // M` users: ML-1M's shape (6,040 users, 3,706 items, 1.0 M synthetic ratings) took
    2.2 s sparse against 5.0 s dense, and 6,000 users with 494,314 ratings over 20,000 items
    5.6 s against 195 s.

    Users without training ratings get the popularity row; the rating term uses the
    `RatingScorer`'s fallbacks.

    Args:
        ratings: the `keras_hem.ranking.RatingScorer` of the model (its training data and
            statistics are used too).
        l2: EASE's ridge penalty, > 0.
        rating_weight: weight of the predicted ratings' deviation from the global mean, >= 0;
            0 ranks by EASE alone (and skips decoding the ratings).
        max_items: the most items EASE keeps; `None` sizes it to the machine's memory.
        head_weight: weight of the standardised ranking-head logits, >= 0; 0 (default) leaves
            them out. Needs a model with a ranking head when > 0.

    Attributes:
        items: int64 `(M,)` indices of the items EASE keeps, sorted.
        weights: float32 `(M, M)` EASE weights among them.

    Raises:
        ValueError: for a bad `l2`, `rating_weight`, `max_items` or `head_weight`, training
            data without any rating, or `head_weight > 0` for a model without a ranking head.

    Example:
        >>> from keras_hem import HEMAAE, RatingMatrix
        >>> from keras_hem.ranking import RatingScorer
        >>> train = RatingMatrix.from_arrays([0, 0, 1, 2], [0, 1, 1, 2], [5.0, 3.0, 4.0, 2.0])
        >>> model = HEMAAE(hidden=4, seed=0)
        >>> model.compile()
        >>> _ = model.fit(train.to_item_user_csr(), epochs=1, verbose=0)
        >>> scorer = EASEBlendScorer(RatingScorer(model, train), l2=1.0, max_items=2)
        >>> scorer.items.tolist()  # the two most-rated items (a tie goes to the lower index)
        [0, 1]
        >>> scorer.score([0, 1]).shape
        (2, 3)
    """

    name = "ease"

    def __init__(
        self,
        ratings: RatingScorer,
        l2: float = 500.0,
        rating_weight: float = 0.03,
        max_items: int | None = None,
        head_weight: float = 0.0,
    ):
        check_number("l2", l2, strict=True)
        check_number("rating_weight", rating_weight)
        check_number("head_weight", head_weight)
        if head_weight > 0:
            # Fails early, with the model's own message, when there is no ranking head.
            ratings.model.ranking_logits(ratings.codes[:1], [0])
        if max_items is not None and (
            isinstance(max_items, bool)
            or not isinstance(max_items, numbers.Integral)
            or max_items < 1
        ):
            raise ValueError(f"`max_items` must be a positive integer or None, got {max_items=!r}.")
        self.ratings = ratings
        self.l2 = float(l2)
        self.rating_weight = float(rating_weight)
        self.head_weight = float(head_weight)
        self.max_items = default_max_items() if max_items is None else int(max_items)
        interactions = binary_interactions(ratings.train.csr)
        self.items = most_rated_items(interactions, self.max_items)
        self.weights = ease_weights(interactions, self.l2, self.items)
        # Only the kept columns are ever multiplied: keep just those.
        if len(self.items) < interactions.shape[1]:
            interactions = interactions[:, self.items]
        self._interactions = interactions

    @property
    def n_items(self) -> int:
        """Number of items."""
        return self.ratings.n_items

    def ease_scores(self, user_indices: ArrayLike) -> np.ndarray:
        """EASE's part of the score alone (0 for items EASE does not keep).

        Args:
            user_indices: 1-D int array of user indices.

        Returns:
            float32 array `(len(user_indices), n_items)`.

        Raises:
            IndexError: if an index is out of range.
        """
        users = check_user_indices(user_indices, self.ratings.statistics.n_users)
        return ease_scores(self._interactions[users], self.items, self.weights, self.n_items)

    def score(self, user_indices: ArrayLike) -> np.ndarray:
        """The blended score, with the fallbacks above.

        Args:
            user_indices: 1-D int array of user indices.

        Returns:
            float32 array `(len(user_indices), n_items)`.

        Raises:
            IndexError: if an index is out of range.
        """
        users = check_user_indices(user_indices, self.ratings.statistics.n_users)
        scores = self._base_scores(users)
        if self.head_weight:
            scores += np.float32(self.head_weight) * self._head_term(scores, users)
        return self.ratings.statistics.fill_unseen_users(scores, users)

    def score_terms(self, user_indices: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """The score's two parts: `score == base + head_weight * head` (up to rounding).

        The score is linear in `head_weight`, so one call scores every weight: the way to
        choose `head_weight` on validation data without refitting EASE for each value.

        Args:
            user_indices: 1-D int array of user indices.

        Returns:
            `(base, head)`, float32 arrays `(len(user_indices), n_items)`: `base` is the score
            at `head_weight=0` (with the fallbacks above); `head` is the standardised head
            term, 0 for users without training ratings (whose score is the popularity).

        Raises:
            IndexError: if an index is out of range.
            ValueError: if the model has no ranking head.
        """
        stats = self.ratings.statistics
        users = check_user_indices(user_indices, stats.n_users)
        base = self._base_scores(users)
        head = self._head_term(base, users)
        head[~stats.user_seen[users]] = 0.0
        return stats.fill_unseen_users(base, users), head

    def _base_scores(self, users):
        """EASE + `rating_weight` x (predicted rating - global mean), before the fallbacks."""
        scores = self.ease_scores(users)
        if self.rating_weight:
            deviation = self.ratings.score(users) - self.ratings.statistics.global_mean
            scores += np.float32(self.rating_weight) * deviation
        return scores

    def _head_term(self, scores, users):
        """The head's logits standardised per user, in units of the user's own score spread.

        The head's logits and EASE's scores live on unrelated scales, which also differ from
        user to user; standardising both over the items seen in training makes one
        `head_weight` mean the same for every user and every data set.
        """
        seen = self.ratings.statistics.item_seen
        logits = self.ratings.decode_users(self.ratings.model.ranking_logits, users)
        spread = _row_std(scores[:, seen])
        head = (logits - logits[:, seen].mean(axis=1, keepdims=True)) / _row_std(logits[:, seen])
        head[:, ~seen] = 0.0
        return head * spread


def _row_std(values):
    std = values.std(axis=1, keepdims=True)
    return np.where(std > 0, std, np.float32(1.0)).astype(np.float32)
