"""Triplet mining that returns fixed-shape index tensors any loss can consume."""

from __future__ import annotations

import keras
from keras import ops

from keras_hem.arguments import check_choice
from keras_hem.ops.distances import (
    Distance,
    deserialize_distance,
    pairwise_distances,
    serialize_distance,
    validate_distance,
)
from keras_hem.types import Tensor, Triplets

# "tfa_hard" and "tfa_semi_hard" reproduce TensorFlow Addons' losses, triplet for triplet.
STRATEGIES = ("batch_hard", "semi_hard", "all", "tfa_hard", "tfa_semi_hard")


@keras.saving.register_keras_serializable(package="keras_hem")
class TripletHardMiner:
    """Selects (anchor, positive, negative) triplets from a labelled batch of embeddings.

    Calling the miner returns four tensors of one fixed length `T`, so it compiles under
    `jit_compile` and its output feeds any triplet loss:
    `(anchors, positives, negatives, valid)`, three int32 index tensors into the batch and a
    boolean mask of the triplets that are real. Anchors without a positive (another sample of
    the same label) or without a negative (a sample of another label) give invalid triplets.

    Strategies:

    * `"batch_hard"` (Hermans et al. 2017), `T = batch`: per anchor, the farthest positive and
      the closest negative.
    * `"semi_hard"` (FaceNet, Schroff et al. 2015), `T = batch**2`: per anchor-positive pair,
      the closest negative that is farther than the positive but within the margin
      (`d_ap < d_an < d_ap + margin`). When no negative lies in that band the pair falls back
      to the hardest (closest) negative.
    * `"all"`, `T = batch**3` (or `max_triplets`): every triplet with a valid label pattern
      that violates the margin (`d_ap - d_an + margin > 0`). It materialises `batch**3`
      distances, about `13 * batch**3` bytes with the outputs (27 MB at batch 128), so use it
      with small batches, or set `max_triplets` to keep only the most violating ones.
    * `"tfa_hard"`, `T = batch`: TensorFlow Addons' `TripletHardLoss` choice. Like
      `"batch_hard"`, but every anchor is valid (TFA averages over the whole batch): an anchor
      with no positive gets the sample nearest to it, itself included (with a zero-diagonal
      distance, `d_ap = 0`), and one with no negative the farthest sample.
    * `"tfa_semi_hard"`, `T = batch**2`: TensorFlow Addons' `TripletSemiHardLoss` choice. Per
      anchor-positive pair, the closest negative with `d_an > d_ap` (the margin plays no part);
      when none is farther, the *farthest* negative; an anchor with no negative gets the sample
      nearest to it. Every anchor-positive pair is valid, so the loss averages over all of them.

    In the two TFA strategies a "positive" or "negative" of an anchor that has none is a
    stand-in with the distance TFA uses there, not a sample of that label.

    Distances are computed in float32 even under a mixed-precision policy.

    Args:
        margin: the margin `alpha` of the paper's eq 4, `>= 0`.
        strategy: `"batch_hard"`, `"semi_hard"`, `"all"`, `"tfa_hard"` or `"tfa_semi_hard"`.
        distance: `"squared_l2"` (the paper's), `"l2"`, `"cosine"`, or a callable
            `distance(embeddings) -> (batch, batch)` matrix (register it with
            `keras.saving.register_keras_serializable` for the miner to be saved).
        max_triplets: only for `strategy="all"`: keep the `max_triplets` most violating
            triplets instead of all `batch**3`. `None` keeps all.

    Returns:
        When called as `miner(embeddings, labels)`: `(anchors, positives, negatives, valid)`.

    Raises:
        ValueError: for an unknown strategy, a distance that is neither a known name nor
            callable, a negative margin, or `max_triplets`
            that is not a positive integer (or used with another strategy).

    Examples:
        >>> import numpy as np
        >>> from keras_hem.mining import TripletHardMiner
        >>> embeddings = np.array([[0.0], [0.1], [1.0], [3.0]], "float32")
        >>> labels = np.array([0, 0, 1, 1])
        >>> a, p, n, valid = TripletHardMiner(strategy="batch_hard")(embeddings, labels)
        >>> np.asarray(n).tolist(), np.asarray(valid).tolist()
        ([2, 2, 1, 1], [True, True, True, True])
    """

    def __init__(
        self,
        margin: float = 1.0,
        strategy: str = "batch_hard",
        distance: Distance = "squared_l2",
        max_triplets: int | None = None,
    ):
        check_choice("strategy", strategy, STRATEGIES)
        if not margin >= 0:
            raise ValueError(f"`margin` must be >= 0, got margin={margin!r}.")
        if max_triplets is not None:
            if strategy != "all":
                raise ValueError(
                    f"`max_triplets` only applies to strategy='all', got strategy={strategy!r} "
                    f"with max_triplets={max_triplets!r}."
                )
            if (
                isinstance(max_triplets, bool)
                or not isinstance(max_triplets, int)
                or (max_triplets < 1)
            ):
                raise ValueError(
                    f"`max_triplets` must be a positive integer, got max_triplets={max_triplets!r}."
                )
        self.margin = float(margin)
        self.strategy = strategy
        self.distance = validate_distance(distance)
        self.max_triplets = max_triplets

    def __call__(self, embeddings: Tensor, labels: Tensor) -> Triplets:
        """Mines triplets; see the class docstring for the outputs."""
        return self.mine(pairwise_distances(embeddings, self.distance), labels)

    def mine(self, distances: Tensor, labels: Tensor) -> Triplets:
        """Mines triplets from a precomputed `(batch, batch)` distance matrix."""
        distances = ops.cast(distances, "float32")
        same, different = _label_masks(labels)
        if self.strategy == "batch_hard":
            return _batch_hard(distances, same, different)
        if self.strategy == "semi_hard":
            return _semi_hard(distances, same, different, self.margin)
        if self.strategy == "tfa_hard":
            return _tfa_hard(distances, same, different)
        if self.strategy == "tfa_semi_hard":
            return _tfa_semi_hard(distances, same, different)
        return _all(distances, same, different, self.margin, self.max_triplets)

    def get_config(self) -> dict:
        """Returns the constructor arguments."""
        return {
            "margin": self.margin,
            "strategy": self.strategy,
            "distance": serialize_distance(self.distance),
            "max_triplets": self.max_triplets,
        }

    @classmethod
    def from_config(cls, config: dict) -> TripletHardMiner:
        """Creates a miner from `get_config()` output."""
        config = dict(config)
        config["distance"] = deserialize_distance(config.get("distance", "squared_l2"))
        return cls(**config)

    def __repr__(self):
        # Not from get_config: that serialises the distance, which fails for an unregistered
        # callable.
        args = (
            f"margin={self.margin!r}, strategy={self.strategy!r}, distance={self.distance!r}, "
            f"max_triplets={self.max_triplets!r}"
        )
        return f"TripletHardMiner({args})"


def _label_masks(labels):
    """Returns `(same, different)`: boolean `(batch, batch)` masks; `same` excludes i == j."""
    labels = ops.reshape(labels, (-1,))
    equal = ops.equal(labels[:, None], labels[None, :])
    not_self = ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool"))
    return ops.logical_and(equal, not_self), ops.logical_not(equal)


def _first_argmin(values, axis):
    """Argmin that returns the lowest index among ties.

    Plain `argmin` may return any of several equal minima on multi-threaded CPU kernels, which
    made training runs with a fixed seed differ; an integer `min` is order-independent.
    """
    minimum = ops.min(values, axis=axis, keepdims=True)
    index = ops.expand_dims(ops.arange(ops.shape(values)[axis], dtype="int32"), 1 - axis)
    return ops.min(ops.where(ops.equal(values, minimum), index, ops.shape(values)[axis]), axis=axis)


def _masked_argmin(values, mask, axis):
    """Argmin of `values` over the entries where `mask` holds, and whether any entry holds."""
    # +inf, not max + 1: a custom distance may be negative or huge.
    masked = ops.where(mask, values, float("inf"))
    return _first_argmin(masked, axis=axis), ops.any(mask, axis=axis)


def _masked_argmax(values, mask, axis):
    """Argmax of `values` over the entries where `mask` holds, and whether any entry holds."""
    return _masked_argmin(-values, mask, axis)


def _hardest(distances, same, different):
    """Per anchor: the farthest positive and the closest negative, and whether each exists."""
    positives, has_positive = _masked_argmax(distances, same, axis=1)
    negatives, has_negative = _masked_argmin(distances, different, axis=1)
    return positives, has_positive, negatives, has_negative


def _batch_hard(distances, same, different):
    anchors = ops.arange(ops.shape(distances)[0], dtype="int32")
    positives, has_positive, negatives, has_negative = _hardest(distances, same, different)
    valid = ops.logical_and(has_positive, has_negative)
    return anchors, ops.cast(positives, "int32"), ops.cast(negatives, "int32"), valid


def _tfa_hard(distances, same, different):
    # TFA's masked max / min over an empty mask give the row's minimum / maximum over every
    # sample: the stand-in positive and negative of anchors that have none.
    anchors = ops.arange(ops.shape(distances)[0], dtype="int32")
    positives, has_positive, negatives, has_negative = _hardest(distances, same, different)
    positives = ops.where(has_positive, positives, _first_argmin(distances, axis=1))
    negatives = ops.where(has_negative, negatives, _first_argmin(-distances, axis=1))
    valid = ops.ones_like(anchors, dtype="bool")
    return anchors, ops.cast(positives, "int32"), ops.cast(negatives, "int32"), valid


def _sorted_negatives(distances, different):
    """Per anchor: `(order, sorted distances, count)` of its negatives, nearest first."""
    negative_distances = ops.where(different, distances, float("inf"))
    order = ops.cast(ops.argsort(negative_distances, axis=1), "int32")
    sorted_negatives = ops.take_along_axis(negative_distances, order, axis=1)
    n_negatives = ops.sum(ops.cast(different, "int32"), axis=1, keepdims=True)
    return order, sorted_negatives, n_negatives


def _pair_indices(batch):
    """Anchors and positives of the `batch**2` (anchor, positive) pairs, row-major."""
    anchors = ops.repeat(ops.arange(batch, dtype="int32"), batch)
    return anchors, ops.tile(ops.arange(batch, dtype="int32"), [batch])


def _semi_hard(distances, same, different, margin):
    # Per anchor, sort the negatives once; the closest negative farther than a positive is then
    # found by binary search: O(batch**2 log batch) time and O(batch**2) memory, not batch**3.
    batch = ops.shape(distances)[0]
    order, sorted_negatives, n_negatives = _sorted_negatives(distances, different)
    rank = _count_at_most(sorted_negatives, n_negatives, distances, batch)
    candidate = ops.take_along_axis(sorted_negatives, ops.minimum(rank, batch - 1), axis=1)
    in_band = ops.logical_and(ops.less(rank, n_negatives), ops.less(candidate, distances + margin))
    semi_hard = ops.take_along_axis(order, ops.minimum(rank, batch - 1), axis=1)
    negatives = ops.where(in_band, semi_hard, order[:, :1])  # fallback: the hardest negative
    anchors, positives = _pair_indices(batch)
    valid = ops.logical_and(same, n_negatives > 0)
    return anchors, positives, ops.reshape(negatives, (-1,)), ops.reshape(valid, (-1,))


def _tfa_semi_hard(distances, same, different):
    # TFA: the closest negative with d_an > d_ap, no upper bound; else the farthest negative;
    # an anchor without negatives falls to the row's minimum over every sample (its masked
    # maximum over an empty mask). Every positive pair counts.
    batch = ops.shape(distances)[0]
    order, sorted_negatives, n_negatives = _sorted_negatives(distances, different)
    rank = _count_at_most(sorted_negatives, n_negatives, distances, batch)
    farther = ops.take_along_axis(order, ops.minimum(rank, batch - 1), axis=1)
    farthest = ops.take_along_axis(order, ops.maximum(n_negatives - 1, 0), axis=1)
    nearest_sample = _first_argmin(distances, axis=1)[:, None]
    fallback = ops.where(n_negatives > 0, farthest, ops.cast(nearest_sample, "int32"))
    negatives = ops.where(ops.less(rank, n_negatives), farther, fallback)
    anchors, positives = _pair_indices(batch)
    return anchors, positives, ops.reshape(negatives, (-1,)), ops.reshape(same, (-1,))


def _count_at_most(sorted_rows, lengths, values, batch):
    """Vectorised upper-bound binary search over each sorted row.

    Returns `out[i, j]`: how many of the first `lengths[i]` entries of `sorted_rows[i]` are
    `<= values[i, j]`.
    """
    low = ops.zeros_like(values, dtype="int32")
    high = ops.broadcast_to(lengths, ops.shape(values))
    steps = ops.cast(ops.ceil(ops.log2(ops.cast(batch, "float32") + 1.0)), "int32") + 1

    def step(_, bounds):
        low, high = bounds
        mid = (low + high) // 2
        at_mid = ops.take_along_axis(sorted_rows, ops.minimum(mid, batch - 1), axis=1)
        go_right = ops.logical_and(ops.less(low, high), ops.less_equal(at_mid, values))
        go_left = ops.logical_and(ops.less(low, high), ops.logical_not(go_right))
        return ops.where(go_right, mid + 1, low), ops.where(go_left, mid, high)

    low, _ = ops.fori_loop(0, steps, step, (low, high))
    return low


def _all(distances, same, different, margin, max_triplets):
    batch = ops.shape(distances)[0]
    violation = distances[:, :, None] - distances[:, None, :] + margin
    valid = ops.logical_and(same[:, :, None], different[:, None, :])
    valid = ops.reshape(ops.logical_and(valid, ops.greater(violation, 0.0)), (-1,))
    flat = ops.arange(batch * batch * batch, dtype="int32")
    if max_triplets is not None:
        score = ops.where(valid, ops.reshape(violation, (-1,)), -1.0)
        n = batch * batch * batch
        k = min(max_triplets, n) if isinstance(n, int) else ops.minimum(max_triplets, n)
        _, flat = ops.top_k(score, k=k)
        flat = ops.cast(flat, "int32")
        valid = ops.take(valid, flat)
    return flat // (batch * batch), (flat // batch) % batch, flat % batch, valid
