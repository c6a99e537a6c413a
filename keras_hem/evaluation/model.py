"""The interface of a model that `keras_hem.evaluation.evaluate` can score.

What belongs here: the contract between the evaluation and what it evaluates, as a
`typing.Protocol` (any object with these methods qualifies; no base class is needed, but
`keras_hem.recommender.Recommender` and the benchmark baselines declare it).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from keras_hem.types import ArrayLike

__all__ = ["EvaluatedModel"]


@runtime_checkable
class EvaluatedModel(Protocol):
    """A fitted recommender: ratings of (user, item) pairs and ranking scores of users.

    `evaluate` calls `predict` on every test pair (original ids) for MAE and RMSE, and
    `score_users` on the training users (indices of the training `RatingMatrix`) for the
    ranking metrics. A model may also have a `train` attribute, the `RatingMatrix` it was
    fitted on; `evaluate` then checks that it is the split it was given.

    Example:
        >>> import numpy as np
        >>> class Constant:
        ...     def predict(self, users, items):
        ...         return np.full(len(users), 4.0)
        ...     def score_users(self, user_indices):
        ...         return np.zeros((len(user_indices), 3))
        >>> isinstance(Constant(), EvaluatedModel)
        True
    """

    def predict(self, users: ArrayLike, items: ArrayLike) -> np.ndarray:
        """Predicted ratings of the pairs `(users[j], items[j])`, original ids in.

        Args:
            users: user ids, as in the ratings table.
            items: item ids, as long as `users`.

        Returns:
            float array of `len(users)` ratings (ids without training ratings get the
            model's documented fallback).
        """
        ...

    def score_users(self, user_indices: ArrayLike) -> np.ndarray:
        """Ranking scores of every item for some users; higher ranks first.

        Args:
            user_indices: user indices of the training `RatingMatrix`.

        Returns:
            float array `(len(user_indices), n_items)`; training items need not be masked
            (the evaluation excludes them).
        """
        ...
