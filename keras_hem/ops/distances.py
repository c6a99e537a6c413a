"""Pairwise distances shared by the miner and the triplet loss.

All distances are computed in float32, whatever the input dtype, so that mining decisions and
loss values do not change under a mixed-precision policy. A distance is one of the names in
`DISTANCES` or a callable `distance(embeddings) -> (batch, batch)` matrix (as TensorFlow
Addons' `distance_metric` allowed); `serialize_distance` / `deserialize_distance` carry either
through `get_config`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from keras_hem.types import Tensor

DISTANCES = ("squared_l2", "l2", "cosine")
Distance = str | Callable[[Any], Any]


def validate_distance(distance: Distance) -> Distance:
    """Return `distance` if it names a supported distance or is callable, else raise.

    Args:
        distance: a name from `DISTANCES` or a callable `distance(embeddings)` returning the
            `(batch, batch)` distance matrix.

    Returns:
        `distance`, unchanged.

    Raises:
        ValueError: if `distance` is neither a supported name nor callable.
    """
    if callable(distance):
        return distance
    if distance not in DISTANCES:
        raise ValueError(
            f"`distance` must be one of {DISTANCES} or a callable "
            f"distance(embeddings) -> (batch, batch) matrix, got distance={distance!r}."
        )
    return distance


def serialize_distance(distance: Distance) -> Any:
    """A name as itself; a callable as its Keras serialisation.

    Raises:
        ValueError: if `distance` is a callable that is not registered with
            `keras.saving.register_keras_serializable`, so it could not be loaded back.
    """
    if isinstance(distance, str):
        return distance
    name = keras.saving.get_registered_name(distance)
    if keras.saving.get_registered_object(name) is not distance:
        raise ValueError(
            f"Cannot save the custom distance {distance!r}: register it with "
            "`@keras.saving.register_keras_serializable()` so that it can be loaded back."
        )
    return keras.saving.serialize_keras_object(distance)


def deserialize_distance(config: Any) -> Distance:
    """Inverse of `serialize_distance`."""
    if isinstance(config, str):
        return validate_distance(config)
    return validate_distance(keras.saving.deserialize_keras_object(config))


def pairwise_distances(embeddings: Tensor, distance: Distance = "squared_l2") -> Tensor:
    """Distance between every pair of rows of `embeddings`.

    Args:
        embeddings: tensor of shape `(batch, dim)`.
        distance: `"squared_l2"`, `"l2"`, `"cosine"` (`1 - cosine similarity`, clipped at 0; a
            vector of norm <= 1e-12 is treated as zero and is at cosine distance 1 from every
            other), or a callable `distance(embeddings)` returning a `(batch, batch)` matrix
            (called on the float32 embeddings; its result is used as it is, diagonal included).

    Returns:
        float32 tensor of shape `(batch, batch)`; the named distances have zeros on the
        diagonal.

    Raises:
        ValueError: if `distance` is not supported, or a callable returns a matrix whose
            static shape is not `(batch, batch)`.

    Examples:
        >>> import numpy as np
        >>> x = np.array([[0.0, 0.0], [3.0, 4.0]], "float32")
        >>> np.asarray(pairwise_distances(x, "l2")).tolist()
        [[0.0, 5.0], [5.0, 0.0]]
    """
    validate_distance(distance)
    x = ops.cast(embeddings, "float32")
    if callable(distance):
        return _custom(distance, x)
    n = ops.shape(x)[0]
    off_diagonal = 1.0 - ops.eye(n, dtype="float32")
    if distance == "cosine":
        # Vectors of norm <= 1e-12 count as zero vectors: cosine distance 1 to anything.
        sq_norm = ops.sum(ops.square(x), axis=1, keepdims=True)
        nonzero = ops.cast(ops.greater(sq_norm, 1e-24), "float32")
        unit = x * ops.rsqrt(ops.maximum(sq_norm, 1e-24)) * nonzero
        cosine = 1.0 - ops.matmul(unit, ops.transpose(unit))
        return ops.maximum(cosine, 0.0) * off_diagonal
    sq_norms = ops.sum(ops.square(x), axis=1)
    sq = sq_norms[:, None] - 2.0 * ops.matmul(x, ops.transpose(x)) + sq_norms[None, :]
    sq = ops.maximum(sq, 0.0) * off_diagonal
    if distance == "squared_l2":
        return sq
    # sqrt has an infinite derivative at 0: evaluate it on a safe value there and zero the result.
    zero = ops.less_equal(sq, 0.0)
    return ops.where(zero, 0.0, ops.sqrt(ops.where(zero, 1.0, sq)))


def _custom(distance, x):
    matrix = ops.cast(distance(x), "float32")
    shape, n = tuple(matrix.shape), x.shape[0]
    if len(shape) != 2 or any(s is not None and n is not None and s != n for s in shape):
        raise ValueError(
            f"A custom `distance` must return a (batch, batch) matrix; {distance!r} returned "
            f"shape {shape} for embeddings of shape {tuple(x.shape)}."
        )
    return matrix
