"""Reconstruction loss over observed entries only (the first term of the paper's eq 9)."""

from __future__ import annotations

import keras
from keras import ops

from keras_hem.ops.masks import observed_mask
from keras_hem.types import Tensor


def masked_squared_error(
    y_true: Tensor, y_pred: Tensor, missing_value: float = 0.0, reduction: str = "mean"
) -> Tensor:
    """Squared error over the entries of `y_true` that are observed, summed or averaged.

    Args:
        y_true: `(batch, n)` target ratings; `missing_value` marks unobserved entries.
        y_pred: `(batch, n)` predictions.
        missing_value: value of unobserved entries.
        reduction: `"mean"` (default) or `"sum"`.

    Returns:
        float32 scalar: `sum(mask * (y_true - y_pred)**2)`, divided by `max(sum(mask), 1)`
        for `"mean"`.
    """
    y_true = ops.cast(y_true, "float32")
    weight = ops.cast(observed_mask(y_true, missing_value), "float32")
    error = ops.where(weight > 0, y_true - ops.cast(y_pred, "float32"), 0.0)
    total = ops.sum(weight * ops.square(error))
    if reduction == "sum":
        return total
    return total / ops.maximum(ops.sum(weight), 1.0)


@keras.saving.register_keras_serializable(package="keras_hem")
class MaskedMeanSquaredError(keras.losses.Loss):
    """Mean squared error over observed ratings only, for autoencoders of sparse rating rows.

    Unobserved entries (equal to `missing_value`) neither add error nor count in the mean, so a
    model is never pulled towards predicting the placeholder. This is eq 9's reconstruction
    term divided by the number of observed ratings in the batch (which keeps one learning rate
    valid for any batch size and density).

    Args:
        missing_value: value that marks unobserved entries of `y_true`. Defaults to `0.0`;
            `float("nan")` is supported.
        name: name of the loss.
        reduction: Keras reduction; the value is already a mean, so the default leaves it as is.

    Returns:
        A float32 scalar; 0 for a batch with no observed rating.

    Examples:
        >>> import numpy as np
        >>> from keras_hem.losses import MaskedMeanSquaredError
        >>> y_true = np.array([[4.0, 0.0], [0.0, 2.0]])
        >>> y_pred = np.array([[3.0, 9.0], [9.0, 2.0]])
        >>> float(MaskedMeanSquaredError()(y_true, y_pred))
        0.5
    """

    def __init__(
        self,
        missing_value: float = 0.0,
        name: str = "masked_mean_squared_error",
        reduction: str | None = "sum_over_batch_size",
        dtype: str | None = None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.missing_value = float(missing_value)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return masked_squared_error(y_true, y_pred, self.missing_value)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(missing_value=self.missing_value)
        return config
