"""Positive / negative classes for hard-example mining, from the mean model of the data."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_hem.arguments import check_integer
from keras_hem.layers.mean_model import MeanModel
from keras_hem.ops.masks import observed_mask, observed_mask_numpy
from keras_hem.types import ArrayLike, Tensor


@keras.saving.register_keras_serializable(package="keras_hem")
class MeanModelLabeler(keras.layers.Layer):
    """Labels each rating row by where its mean falls in the mean-model tree of all ratings.

    The paper splits samples into positive and negative ones without saying how. We use its
    own mean model: `adapt()` builds the mean-model tree of *all* training ratings; a row's
    label is the leaf of that tree its mean rating `t0` falls into. With `label_depth=1` there
    are two classes: negative (0) when the row's mean is `<=` the global mean, positive (1)
    above it. `label_depth=k` gives `2**k` classes split at the tree's `2**k - 1` inner nodes.
    Rows with no observed rating get class 0.

    Args:
        label_depth: depth `k` of the global tree; `2**k` classes. `1 <= k <= 8`.
        missing_value: value of unobserved entries.
        **kwargs: standard layer arguments.

    Returns:
        Called on `(batch, n)` rating rows: int32 labels of shape `(batch,)`.

    Raises:
        ValueError: for a bad `label_depth`, or from `adapt()` when the data hold no rating.

    Examples:
        >>> import numpy as np
        >>> from keras_hem.layers import MeanModelLabeler
        >>> ratings = np.array([[5.0, 4.0, 0.0], [1.0, 0.0, 2.0], [3.0, 3.0, 3.0]])
        >>> labeler = MeanModelLabeler()
        >>> labeler.adapt(ratings)  # global mean of the 8 ratings: 3.0
        >>> np.asarray(labeler(ratings)).tolist()
        [1, 0, 0]
    """

    def __init__(self, label_depth: int = 1, missing_value: float = 0.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.label_depth = check_integer("label_depth", label_depth, minimum=1, maximum=8)
        self.missing_value = float(missing_value)

    def build(self, input_shape: tuple | None = None) -> None:
        # The tree's shape depends on `label_depth` alone, not on the rows' width.
        self.thresholds = self.add_weight(
            shape=(2**self.label_depth - 1,),
            initializer="zeros",
            trainable=False,
            name="thresholds",
        )
        self.adapted = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="adapted"
        )

    @property
    def is_adapted(self) -> bool:
        """Whether `adapt()` has set the thresholds."""
        if not self.built:
            return False
        return bool(keras.ops.convert_to_numpy(self.adapted) > 0)

    def adapt(self, ratings: ArrayLike) -> None:
        """Builds the global mean-model tree from every observed rating in `ratings`.

        Args:
            ratings: a NumPy array or `scipy.sparse` matrix of rating rows (its stored values
                are the observed ratings), or a 1-D array of the observed ratings themselves.

        Raises:
            ValueError: if `ratings` holds no observed rating.
        """
        values = observed_values(ratings, self.missing_value)
        if values.size == 0:
            raise ValueError("MeanModelLabeler.adapt() got no observed rating.")
        if not self.built:
            self.build((None, None))
        tree = MeanModel(depth=self.label_depth)(values[None, :].astype("float32"))
        self.thresholds.assign(np.sort(keras.ops.convert_to_numpy(tree)[0]))
        self.adapted.assign(1.0)

    def call(self, ratings: Tensor) -> Tensor:
        x = ops.cast(ratings, "float32")
        observed = observed_mask(x, self.missing_value)
        count = ops.sum(ops.cast(observed, "float32"), axis=1)
        mean = ops.sum(ops.where(observed, x, 0.0), axis=1) / ops.maximum(count, 1.0)
        above = ops.greater(mean[:, None], self.thresholds[None, :])
        labels = ops.sum(ops.cast(above, "int32"), axis=1)
        return ops.where(count > 0, labels, 0)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0],)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(label_depth=self.label_depth, missing_value=self.missing_value)
        return config


def observed_values(ratings, missing_value=0.0):
    """The observed ratings of a NumPy array, `scipy.sparse` matrix or 1-D array, as float64."""
    if hasattr(ratings, "tocsr"):  # scipy.sparse: stored entries are the observed ratings
        values = np.asarray(ratings.tocsr().data, dtype=np.float64)
    else:
        values = np.asarray(ratings, dtype=np.float64).ravel()
    return values[observed_mask_numpy(values, missing_value)]
