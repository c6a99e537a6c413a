"""The triplet loss of the paper's eq 5, on mined or precomputed triplets."""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops

from keras_hem.arguments import check_choice
from keras_hem.mining.protocol import Miner
from keras_hem.mining.triplet_hard_miner import TripletHardMiner
from keras_hem.ops.distances import (
    Distance,
    deserialize_distance,
    pairwise_distances,
    serialize_distance,
    validate_distance,
)
from keras_hem.types import Tensor, Triplets

# TensorFlow Addons' `distance_metric` names and the distances they computed.
TFA_DISTANCES = {"L2": "l2", "squared-L2": "squared_l2", "angular": "cosine"}
TFA_KINDS = ("hard", "semi_hard")


def triplet_margin_loss(
    distances: Tensor, triplets: Triplets, margin: float = 1.0, soft: bool = False
) -> Tensor:
    """Mean hinge `[d(a, p) - d(a, n) + margin]_+` over the valid triplets (eq 5).

    Args:
        distances: `(batch, batch)` pairwise distance matrix.
        triplets: `(anchors, positives, negatives, valid)` as returned by any miner; `valid`
            may be `None` when every triplet is real.
        margin: the margin `alpha`.
        soft: use `softplus(d_ap - d_an)` instead of the hinge (the margin is then unused).

    Returns:
        A float32 scalar; 0 when no triplet is valid.
    """
    anchors, positives, negatives, valid = triplets
    distances = ops.cast(distances, "float32")
    batch = ops.shape(distances)[0]
    flat = ops.reshape(distances, (-1,))
    anchors = ops.cast(anchors, "int32")
    d_ap = ops.take(flat, anchors * batch + ops.cast(positives, "int32"))
    d_an = ops.take(flat, anchors * batch + ops.cast(negatives, "int32"))
    per_triplet = ops.softplus(d_ap - d_an) if soft else ops.relu(d_ap - d_an + margin)
    weights = ops.ones_like(per_triplet) if valid is None else ops.cast(valid, "float32")
    return ops.sum(per_triplet * weights) / ops.maximum(ops.sum(weights), 1.0)


@keras.saving.register_keras_serializable(package="keras_hem")
class TripletLoss(keras.losses.Loss):
    """Triplet margin loss (paper eq 5) over triplets mined from each batch.

    Integer class labels as `y_true` (shape `(batch,)` or `(batch, 1)`) and embeddings as
    `y_pred` (`(batch, dim)`). The loss mines triplets with `miner` (default: a batch-hard
    `TripletHardMiner` with the same margin and distance) and averages
    `[d(a, p) - d(a, n) + margin]_+` over the valid ones. To use triplets from another miner,
    call `from_triplets(embeddings, triplets)`. For the exact losses of TensorFlow Addons'
    `TripletHardLoss` / `TripletSemiHardLoss`, build it with `TripletLoss.from_tfa(...)`.

    Args:
        margin: the margin `alpha` of eq 4, `>= 0`.
        distance: `"squared_l2"` (the paper's), `"l2"`, `"cosine"`, or a callable
            `distance(embeddings) -> (batch, batch)` matrix (registered with
            `keras.saving.register_keras_serializable` if the loss is to be saved).
        miner: a `TripletHardMiner` (or any serialisable callable with the same signature).
            `None` uses batch-hard mining.
        soft: replace the hinge by `softplus(d_ap - d_an)` ("soft margin", Hermans et al.).
        name: name of the loss.
        reduction: Keras reduction. The value is already the mean over valid triplets, so the
            default `"sum_over_batch_size"` leaves it unchanged.

    Returns:
        A float32 scalar loss; 0 when the batch holds no valid triplet.

    Raises:
        ValueError: for a distance that is neither a known name nor callable, or a negative
            margin.

    Examples:
        >>> import keras, numpy as np
        >>> from keras_hem.losses import TripletLoss
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
        >>> model.compile(optimizer="adam", loss=TripletLoss(margin=0.5))
        >>> x, y = np.random.rand(64, 8).astype("float32"), np.arange(64) % 4
        >>> history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    """

    def __init__(
        self,
        margin: float = 1.0,
        distance: Distance = "squared_l2",
        miner: Miner | None = None,
        soft: bool = False,
        name: str = "triplet_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype: str | None = None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not margin >= 0:
            raise ValueError(f"`margin` must be >= 0, got margin={margin!r}.")
        self.margin = float(margin)
        self.distance = validate_distance(distance)
        self.soft = bool(soft)
        self.miner = miner if miner is not None else TripletHardMiner(margin, distance=distance)

    @classmethod
    def from_tfa(
        cls,
        kind: str = "hard",
        margin: float = 1.0,
        soft: bool = False,
        distance_metric: str | Callable[[Tensor], Tensor] = "L2",
        name: str | None = None,
    ) -> TripletLoss:
        """The loss of TensorFlow Addons' `TripletHardLoss` or `TripletSemiHardLoss`, exactly.

        It takes TFA's arguments and defaults and reproduces its values and gradients: the
        same negative choice and fallback, the same average (over every anchor for `"hard"`,
        over every anchor-positive pair for `"semi_hard"`), and TFA's stand-in distances for
        anchors without a positive or a negative (see the `"tfa_hard"` and `"tfa_semi_hard"`
        strategies of `TripletHardMiner`). Two differences, both on purpose: a batch with no
        positive pair gives 0 where TFA's semi-hard loss divides 0 by 0, and `soft=True` uses
        a softplus that stays finite where TFA's `log1p(exp(x))` overflows to inf.

        Args:
            kind: `"hard"` (`TripletHardLoss`) or `"semi_hard"` (`TripletSemiHardLoss`).
            margin: TFA's `margin`, `>= 0`.
            soft: TFA's `soft` (hard loss only).
            distance_metric: `"L2"` (TFA's default), `"squared-L2"`, `"angular"`, or a
                callable `distance(embeddings) -> (batch, batch)` matrix.
            name: name of the loss; `None` gives `"tfa_triplet_hard_loss"` or
                `"tfa_triplet_semi_hard_loss"`.

        Returns:
            A `TripletLoss` with a `TripletHardMiner` of strategy `"tfa_hard"` or
            `"tfa_semi_hard"`.

        Raises:
            ValueError: for an unknown `kind` or `distance_metric`, or `soft=True` with
                `kind="semi_hard"` (TFA's semi-hard loss has no soft margin).

        Examples:
            >>> import numpy as np
            >>> from keras_hem.losses import TripletLoss
            >>> loss = TripletLoss.from_tfa("semi_hard", margin=2.0)  # TripletSemiHardLoss(2.0)
            >>> x = np.array([[0.0], [0.5], [2.0], [2.2]], "float32")
            >>> round(float(loss(np.array([0, 0, 1, 1]), x)), 4)
            0.675
        """
        check_choice("kind", kind, TFA_KINDS)
        if soft and kind == "semi_hard":
            raise ValueError(
                "TensorFlow Addons' semi-hard loss has no soft margin; got soft=True with "
                "kind='semi_hard'. Use kind='hard' for the soft-margin loss."
            )
        if callable(distance_metric):
            distance = distance_metric
        elif distance_metric in TFA_DISTANCES:
            distance = TFA_DISTANCES[distance_metric]
        else:
            raise ValueError(
                f"`distance_metric` must be one of {tuple(TFA_DISTANCES)} or a callable, "
                f"got distance_metric={distance_metric!r}."
            )
        miner = TripletHardMiner(margin, strategy=f"tfa_{kind}", distance=distance)
        name = name or f"tfa_triplet_{kind}_loss"
        return cls(margin, distance=distance, miner=miner, soft=soft, name=name)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        distances = pairwise_distances(y_pred, self.distance)
        labels = ops.reshape(y_true, (-1,))
        if hasattr(self.miner, "mine") and getattr(self.miner, "distance", None) == self.distance:
            triplets = self.miner.mine(distances, labels)  # reuse the distance matrix
        else:
            triplets = self.miner(y_pred, labels)
        return triplet_margin_loss(distances, triplets, self.margin, self.soft)

    def from_triplets(self, embeddings: Tensor, triplets: Triplets) -> Tensor:
        """The loss on precomputed `(anchors, positives, negatives, valid)` triplets."""
        distances = pairwise_distances(embeddings, self.distance)
        return triplet_margin_loss(distances, triplets, self.margin, self.soft)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            margin=self.margin,
            distance=serialize_distance(self.distance),
            soft=self.soft,
            miner=keras.saving.serialize_keras_object(self.miner),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["miner"] = keras.saving.deserialize_keras_object(config.get("miner"))
        config["distance"] = deserialize_distance(config.get("distance", "squared_l2"))
        return cls(**config)
