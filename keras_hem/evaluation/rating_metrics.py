"""Rating-prediction errors: MAE and RMSE, with optional clipping to the rating scale."""

from __future__ import annotations

import numpy as np

from keras_hem.types import ArrayLike


def _prepare(y_true, y_pred, scale):
    """Validate inputs and return float64 `(y_true, y_pred)`, predictions clipped to `scale`."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same number of values, got {y_true.size} and "
            f"{y_pred.size}."
        )
    if y_true.size == 0:
        raise ValueError("y_true and y_pred are empty; at least one rating is needed.")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            shown = ", ".join(
                f"{i}: {v!r}"
                for i, v in zip(bad[:5].tolist(), values[bad[:5]].tolist(), strict=True)
            )
            raise ValueError(
                f"{name} has {len(bad)} NaN or infinite value(s) (showing up to 5): {shown}."
            )
    if scale is not None:
        low, high = _scale_bounds(scale)
        y_pred = np.clip(y_pred, low, high)
    return y_true, y_pred


def _scale_bounds(scale):
    """Return `(min, max)` from a `(min, max)` pair, raising on anything else."""
    try:
        low, high = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise ValueError(f"`scale` must be a (min, max) pair, got scale={scale!r}.") from None
    if not low <= high:
        raise ValueError(f"`scale` must have min <= max, got scale={scale!r}.")
    return low, high


def mae(y_true: ArrayLike, y_pred: ArrayLike, scale: tuple[float, float] | None = None) -> float:
    """Mean absolute error between true and predicted ratings.

    Args:
        y_true: array-like of true ratings.
        y_pred: array-like of predicted ratings, same number of values.
        scale: optional `(min, max)` rating scale (e.g. `RatingMatrix.scale`); predictions are
            clipped to it first, as a recommender would before showing them.

    Returns:
        The MAE as a Python float.

    Raises:
        ValueError: if the sizes differ, the inputs are empty or hold NaN/inf values, or
            `scale` is malformed.

    Examples:
        >>> mae([1.0, 5.0], [2.0, 6.0], scale=(1, 5))
        0.5
    """
    y_true, y_pred = _prepare(y_true, y_pred, scale)
    return float(np.mean(np.abs(y_true - y_pred)))


def rmse(y_true: ArrayLike, y_pred: ArrayLike, scale: tuple[float, float] | None = None) -> float:
    """Root mean squared error between true and predicted ratings.

    Args:
        y_true: array-like of true ratings.
        y_pred: array-like of predicted ratings, same number of values.
        scale: optional `(min, max)` rating scale; predictions are clipped to it first.

    Returns:
        The RMSE as a Python float.

    Raises:
        ValueError: if the sizes differ, the inputs are empty or hold NaN/inf values, or
            `scale` is malformed.

    Examples:
        >>> rmse([1.0, 5.0], [2.0, 6.0], scale=(1, 5))
        0.7071067811865476
    """
    y_true, y_pred = _prepare(y_true, y_pred, scale)
    return float(np.sqrt(np.mean(np.square(y_true - y_pred))))
