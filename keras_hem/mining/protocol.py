"""The contract between a miner and the losses that consume its triplets."""

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Miner(Protocol):
    """Anything that picks triplets from a labelled batch of embeddings.

    A miner is called as `miner(embeddings, labels)` with a `(batch, dim)` float tensor and
    `(batch,)` integer labels and returns `(anchors, positives, negatives, valid)`: three
    int32 index tensors into the batch and a boolean tensor, all of one length `T` that
    depends only on the batch size (so that steps compile under `jit_compile`); `valid`
    marks the triplets that are real (`T` may include padding). A positive has the anchor's
    label and a negative another label. It is written with `keras.ops` so that it runs on
    every backend, and it must not need gradients (the model stops them at its input).

    `keras_hem.mining.TripletHardMiner` is one; `HEMAAE(miner=...)` and
    `AdversarialAutoencoder(miner=...)` accept any other.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> class FirstOtherLabel:
        ...     '''Anchor i, positive: itself, negative: the first sample of another label.'''
        ...     def __call__(self, embeddings, labels):
        ...         labels = ops.convert_to_tensor(labels)
        ...         other = ops.not_equal(labels[:, None], labels[None, :])
        ...         negatives = ops.cast(ops.argmax(ops.cast(other, "int32"), axis=1), "int32")
        ...         anchors = ops.arange(ops.shape(labels)[0], dtype="int32")
        ...         return anchors, anchors, negatives, ops.any(other, axis=1)
        >>> isinstance(FirstOtherLabel(), Miner)
        True
    """

    def __call__(self, embeddings: Any, labels: Any) -> tuple[Any, Any, Any, Any]:
        """Returns `(anchors, positives, negatives, valid)` for a labelled batch."""
        ...


def check_miner(miner):
    """`miner` if it is callable (the `Miner` protocol), else a `TypeError` naming it.

    Args:
        miner: the candidate miner.

    Returns:
        `miner`, unchanged.

    Raises:
        TypeError: if `miner` is not callable.
    """
    if not isinstance(miner, Miner):
        raise TypeError(
            "`miner` must be callable as miner(embeddings, labels) -> (anchors, positives, "
            f"negatives, valid) (the keras_hem.mining.Miner protocol); got {miner!r}."
        )
    return miner
