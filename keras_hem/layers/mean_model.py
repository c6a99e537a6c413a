"""The paper's mean model (eqs 1-3): a tree of conditional means of each rating vector."""

from __future__ import annotations

import keras
from keras import ops

from keras_hem.arguments import check_integer
from keras_hem.ops.masks import observed_mask
from keras_hem.types import Tensor

# Levels up to this one (16 nodes) are reduced by interval comparisons, which fuse under XLA;
# deeper levels use segment sums, whose memory does not grow with the number of nodes.
_ONE_HOT_MAX_LEVEL = 4


@keras.saving.register_keras_serializable(package="keras_hem")
class MeanModel(keras.layers.Layer):
    """Summarises each rating vector by a breadth-first tree of means (paper eqs 1-3).

    The root `t0` is the mean of the observed ratings of a row. On every further level, node
    `2g` holds the ratings of its parent `g` that are `<=` the parent's value and node `2g + 1`
    those that are `>` it (the paper's even/odd rule); each node's value is the mean of the
    ratings it holds. The output lists the nodes breadth first:
    `[t0, t10, t11, t20, t21, t22, t23, ...]`, `2**depth - 1` numbers per row.

    Choices the paper leaves open:

    * A node that holds no rating takes its parent's value (so its subtree repeats it).
    * A row with no observed rating gives `fill_value` in every output.
    * Ratings equal to the parent's value go to the even (`<=`) child.

    Entries equal to `missing_value` (or `NaN` when `missing_value` is `NaN`) are unobserved.
    Alternatively pass a boolean `mask` of the input's shape, `True` where a rating is observed;
    the layer also receives Keras masks from upstream layers through the same argument.
    The layer computes in float32 whatever the input dtype (half-precision means of thousands
    of ratings lose too much precision), so its default dtype policy is float32 even under a
    mixed-precision global policy.

    Args:
        depth: number of tree levels, `1 <= depth <= 16` (the paper uses 3).
        missing_value: value marking unobserved entries. Defaults to `0.0`.
        fill_value: output value for rows with no observed rating. Defaults to `0.0`.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Returns:
        Called on `(batch, n)` ratings, a float32 tensor of shape `(batch, 2**depth - 1)`.

    Raises:
        ValueError: if `depth` is not an integer in `[1, 16]`, if the input is not rank 2, or
            if its dtype cannot be cast to float (strings, booleans).

    Examples:
        >>> import numpy as np
        >>> from keras_hem.layers import MeanModel
        >>> ratings = np.array([[5.0, 3.0, 0.0, 1.0]])  # 0 = unobserved
        >>> np.round(np.asarray(MeanModel(depth=2)(ratings)), 3)
        array([[3., 2., 5.]], dtype=float32)
    """

    def __init__(
        self, depth: int = 3, missing_value: float = 0.0, fill_value: float = 0.0, **kwargs
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.depth = check_integer("depth", depth, minimum=1, maximum=16)
        self.missing_value = float(missing_value)
        self.fill_value = float(fill_value)
        self.supports_masking = True

    @property
    def output_size(self) -> int:
        """Number of outputs per row, `2**depth - 1`."""
        return 2**self.depth - 1

    def build(self, input_shape: tuple | dict) -> None:
        _check_rank(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        _check_rank(input_shape)
        return (input_shape[0], self.output_size)

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        _check_rank(ops.shape(inputs))
        x = _as_float32(inputs)
        observed = observed_mask(x, self.missing_value) if mask is None else ops.cast(mask, "bool")
        values = ops.where(observed, x, 0.0)

        count = ops.sum(ops.cast(observed, "float32"), axis=1, keepdims=True)
        total = ops.sum(values, axis=1, keepdims=True)
        level = ops.where(count > 0, total / ops.maximum(count, 1.0), self.fill_value)
        levels = [level]
        # Nodes of a level are disjoint value intervals (lo, hi], left to right in breadth-first
        # order, so a node's members are found by comparison alone; `node` (each entry's node
        # index) is tracked only for the wide levels that need segment sums.
        infinity = ops.full_like(level, float("inf"))
        low, high = -infinity, infinity
        node = ops.zeros_like(x, dtype="int32") if self.depth - 1 > _ONE_HOT_MAX_LEVEL else None
        for depth in range(1, self.depth):
            parent = level
            low = _interleave(low, parent)
            high = _interleave(parent, high)
            if node is not None:
                parent_of_entry = ops.take_along_axis(parent, node, axis=1)
                node = 2 * node + ops.cast(ops.greater(x, parent_of_entry), "int32")
            if depth <= _ONE_HOT_MAX_LEVEL:
                sums, counts = _interval_sums(x, observed, low, high)
            else:
                sums, counts = _segment_sums(values, observed, node, 2**depth)
            # An empty node inherits its parent's value (its parent sits at index k // 2).
            inherited = ops.repeat(parent, 2, axis=1)
            level = ops.where(counts > 0, sums / ops.maximum(counts, 1.0), inherited)
            levels.append(level)
        return ops.concatenate(levels, axis=1) if len(levels) > 1 else levels[0]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            depth=self.depth, missing_value=self.missing_value, fill_value=self.fill_value
        )
        return config


def _check_rank(shape):
    if len(shape) != 2:
        raise ValueError(
            f"MeanModel expects rating rows of shape (batch, n), got a rank-{len(shape)} input "
            f"of shape {tuple(shape)}."
        )


def _as_float32(inputs):
    dtype = keras.backend.standardize_dtype(getattr(inputs, "dtype", "float32"))
    if dtype in ("string", "bool") or not ("float" in dtype or "int" in dtype):
        raise ValueError(
            f"MeanModel expects numeric ratings that can be cast to float, got dtype={dtype!r}."
        )
    return ops.cast(inputs, "float32")


def _interleave(a, b):
    """`[a0, b0, a1, b1, ...]` along the last axis."""
    return ops.reshape(ops.stack([a, b], axis=-1), (-1, 2 * ops.shape(a)[1]))


def _interval_sums(x, observed, low, high):
    """Per-row sum and count of the observed entries in each interval `(low, high]`."""
    member = ops.logical_and(
        ops.logical_and(
            ops.greater(x[:, None, :], low[:, :, None]),
            ops.less_equal(x[:, None, :], high[:, :, None]),
        ),
        observed[:, None, :],
    )
    sums = ops.sum(ops.where(member, x[:, None, :], 0.0), axis=2)
    return sums, ops.sum(ops.cast(member, "float32"), axis=2)


def _segment_sums(values, observed, node, n_nodes):
    """Per-row sum and count of the observed entries of each node (`node` in `[0, n_nodes)`)."""
    batch = ops.shape(values)[0]
    ids = ops.reshape(ops.arange(batch, dtype="int32")[:, None] * n_nodes + node, (-1,))
    stacked = ops.stack(
        [ops.reshape(values, (-1,)), ops.reshape(ops.cast(observed, "float32"), (-1,))], axis=1
    )
    totals = ops.reshape(
        ops.segment_sum(stacked, ids, num_segments=batch * n_nodes), (batch, n_nodes, 2)
    )
    return totals[..., 0], totals[..., 1]
