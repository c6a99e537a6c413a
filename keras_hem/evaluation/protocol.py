"""The evaluation protocol of keras-hem: rating errors and top-k metrics in one table.

`evaluate` scores a fitted recommender on a held-out test set the way the HEM-AAE paper reports
results: MAE and RMSE over every test rating, Precision@k and NDCG@k for several cut-offs. The
paper does not state its ranking protocol, so two relevance definitions are reported side by
side (see `evaluate`).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from keras_hem.data import RatingMatrix
from keras_hem.evaluation.list_metrics import METRICS
from keras_hem.evaluation.model import EvaluatedModel
from keras_hem.evaluation.ranking_metrics import (
    check_compatible,
    ranking_metrics,
    validate_metrics,
)
from keras_hem.evaluation.rating_metrics import mae, rmse


def _suffix(threshold):
    """Column suffix of a relevance threshold: `""` for None, `"_t4"` for 4, `"_t3.5"`."""
    return "" if threshold is None else f"_t{threshold:g}"


def _validate_thresholds(thresholds):
    """Return `thresholds` as a tuple of unique None-or-number values."""
    values = tuple(thresholds)
    ok = all(t is None or (isinstance(t, numbers.Real) and not isinstance(t, bool)) for t in values)
    if not ok or len({_suffix(t) for t in values}) != len(values):
        raise ValueError(
            f"`thresholds` must be distinct numbers or None, got thresholds={thresholds!r}."
        )
    return values


def _check_model_train(model, train):
    """Refuse a model whose own training ratings are not `train` (when it exposes them)."""
    fitted_on = getattr(model, "train", None)
    if not isinstance(fitted_on, RatingMatrix):
        return
    same = (
        np.array_equal(fitted_on.user_ids, train.user_ids)
        and np.array_equal(fitted_on.item_ids, train.item_ids)
        and np.array_equal(fitted_on.users, train.users)
        and np.array_equal(fitted_on.items, train.items)
        and np.array_equal(fitted_on.ratings, train.ratings)
    )
    if not same:
        raise ValueError(
            "The model was fitted on other ratings or id maps than `train`. Fit it on the "
            "`train` RatingMatrix of this split (same data, same seed) before evaluating it."
        )


def relevance_threshold(scale: tuple[float, float]) -> float:
    """The default relevance threshold of a rating scale: its top quarter.

    `low + 0.75 * (high - low)`: 4 on MovieLens' 1-5 scale (the usual "rated 4 or 5"), 2.5 on
    a 1-3 scale, 3.875 on a 0.5-5 scale, 7.75 on a 1-10 scale.

    Args:
        scale: `(low, high)` of the ratings, e.g. `RatingMatrix.scale`.

    Returns:
        The threshold, a float.

    Examples:
        >>> relevance_threshold((1, 5)), relevance_threshold((1, 3))
        (4.0, 2.5)
    """
    low, high = (float(v) for v in scale)
    return low + 0.75 * (high - low)


def _warn_degenerate(train):
    """Warn when the training ratings leave nothing to learn (the metrics then mean nothing)."""
    problems = []
    if len(np.unique(train.users)) < 2:
        problems.append("a single user")
    if len(np.unique(train.items)) < 2:
        problems.append("a single item")
    if train.n_ratings and np.ptp(train.ratings) == 0:
        problems.append(f"every rating equal to {float(train.ratings[0]):g}")
    if problems:
        warnings.warn(
            f"The training ratings have {' and '.join(problems)}: there is nothing to learn "
            "from them, so these metrics say nothing about the recommender.",
            UserWarning,
            stacklevel=3,
        )


def _has_relevant(test, threshold):
    if test.n_ratings == 0:
        return False
    return threshold is None or bool(np.any(test.ratings >= threshold))


def evaluate(
    model: EvaluatedModel,
    train: RatingMatrix,
    test: RatingMatrix,
    ks: Sequence[int] = (3, 5, 10),
    thresholds: Sequence[float | None] = (None, 4),
    protocol: str = "full_catalog",
    if_empty: str = "raise",
    metrics: Sequence[str] = ("precision", "ndcg"),
) -> pd.DataFrame:
    """Rating errors and top-k ranking metrics of a fitted recommender, as one table row.

    Columns, in order:

    * `MAE`, `RMSE`: over every test rating, with predictions clipped to `train.scale`. Test
      pairs whose user or item has no training rating are predicted by the model's fallback
      (for `Recommender`: item mean, then user mean, then global mean).
    * `n_test`: number of test ratings; `n_unseen`: how many of them have a user or an item
      without training ratings.
    * for each threshold: `P@k` and `NDCG@k` for each `k`, and `n_users`, the users ranked
      (see `ranking_metrics`). With `threshold=None` every test item is relevant and the
      columns have no suffix; otherwise relevant means a test rating `>= threshold` and the
      columns end in `_t{threshold}`, e.g. `P@10_t4` for ratings of 4 and above.

    Args:
        model: a fitted `keras_hem.Recommender`, or any `EvaluatedModel`: an object with
            `predict(users, items)` (ids in, ratings out) and `score_users(user_indices)`
            (indices of `train`, scores of shape `(len(user_indices), n_items)` out). If it
            has a `train` RatingMatrix, it must equal `train`.
        train: training `RatingMatrix` (the model's training data).
        test: test `RatingMatrix` sharing `train`'s id maps, e.g. from `random_split`.
        ks: ranking cut-offs.
        thresholds: relevance thresholds; `None` means "any test rating".
        protocol: `"full_catalog"` (rank every item the user did not rate in training) or
            `"test_items"` (rank only the user's test items).
        if_empty: what a threshold that leaves no relevant test item gives: `"raise"`
            (default, a `ValueError`) or `"nan"` (NaN ranking metrics and `n_users` 0, so that
            the rating metrics are still reported).
        metrics: the ranking metrics, as for `ranking_metrics` (default P@k and NDCG@k;
            also `"recall"`, `"map"`, `"mrr"`, `"hit_rate"`, `"coverage"`).

    Returns:
        One-row `pandas.DataFrame`.

    Raises:
        TypeError: if `model` lacks `predict` or `score_users`.
        ValueError: for malformed arguments, train and test that do not share id maps (or
            overlap, under `"full_catalog"`), a model fitted on other data, or a threshold
            that leaves no relevant test item.

    Examples:
        >>> import numpy as np
        >>> data = RatingMatrix.from_arrays([0, 0, 1, 1, 1], [0, 1, 0, 1, 2], [5, 3, 4, 2, 5])
        >>> train, test = data.random_split(0.4, seed=0)
        >>> class Constant:
        ...     def predict(self, users, items):
        ...         return np.full(len(users), 4.0)
        ...     def score_users(self, user_indices):
        ...         return np.tile([3.0, 2.0, 1.0], (len(user_indices), 1))
        >>> row = evaluate(Constant(), train, test, ks=(1,), thresholds=(None,))
        >>> list(row.columns)
        ['MAE', 'RMSE', 'n_test', 'n_unseen', 'P@1', 'NDCG@1', 'n_users']
    """
    if not isinstance(model, EvaluatedModel):
        raise TypeError(
            "`model` must have predict(users, items) and score_users(user_indices) (see "
            f"keras_hem.evaluation.EvaluatedModel), got {type(model).__name__}."
        )
    thresholds = _validate_thresholds(thresholds)
    metrics = validate_metrics(metrics)
    if if_empty not in ("raise", "nan"):
        raise ValueError(f"`if_empty` must be 'raise' or 'nan', got if_empty={if_empty!r}.")
    check_compatible(train, test, protocol)
    _check_model_train(model, train)
    _warn_degenerate(train)
    predictions = np.asarray(
        model.predict(test.user_ids[test.users], test.item_ids[test.items]), dtype=np.float64
    )
    user_seen = np.bincount(train.users, minlength=train.n_users) > 0
    item_seen = np.bincount(train.items, minlength=train.n_items) > 0
    row = {
        "MAE": mae(test.ratings, predictions, scale=train.scale),
        "RMSE": rmse(test.ratings, predictions, scale=train.scale),
        "n_test": test.n_ratings,
        "n_unseen": int(np.sum(~(user_seen[test.users] & item_seen[test.items]))),
    }
    for threshold in thresholds:
        if if_empty == "nan" and not _has_relevant(test, threshold):
            prefixes = [METRICS[name].prefix for name in metrics]
            names = [f"{m}@{k}" for k in sorted(set(ks)) for m in prefixes]
            values = {**dict.fromkeys(names, float("nan")), "n_users": 0}
        else:
            values = ranking_metrics(
                model.score_users,
                train,
                test,
                ks=ks,
                threshold=threshold,
                protocol=protocol,
                metrics=metrics,
            )
        row.update({f"{name}{_suffix(threshold)}": value for name, value in values.items()})
    return pd.DataFrame([row])
