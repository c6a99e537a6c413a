"""Pairwise distances shared by the miner and the triplet loss.

All distances are computed in float32, whatever the input dtype, so that mining decisions and
loss values do not change under a mixed-precision policy.
"""

from keras import ops

DISTANCES = ("squared_l2", "l2", "cosine")


def validate_distance(distance):
    """Return `distance` if it names a supported distance, else raise `ValueError`."""
    if distance not in DISTANCES:
        raise ValueError(f"`distance` must be one of {DISTANCES}, got distance={distance!r}.")
    return distance


def pairwise_distances(embeddings, distance="squared_l2"):
    """Distance between every pair of rows of `embeddings`.

    Args:
        embeddings: tensor of shape `(batch, dim)`.
        distance: `"squared_l2"`, `"l2"` or `"cosine"` (`1 - cosine similarity`; a vector of
            norm <= 1e-12 is treated as zero and is at cosine distance 1 from every other).

    Returns:
        float32 tensor of shape `(batch, batch)` with zeros on the diagonal.

    Raises:
        ValueError: if `distance` is not supported.
    """
    validate_distance(distance)
    x = ops.cast(embeddings, "float32")
    n = ops.shape(x)[0]
    off_diagonal = 1.0 - ops.eye(n, dtype="float32")
    if distance == "cosine":
        # Vectors of norm <= 1e-12 count as zero vectors: cosine distance 1 to anything.
        sq_norm = ops.sum(ops.square(x), axis=1, keepdims=True)
        nonzero = ops.cast(ops.greater(sq_norm, 1e-24), "float32")
        unit = x * ops.rsqrt(ops.maximum(sq_norm, 1e-24)) * nonzero
        return (1.0 - ops.matmul(unit, ops.transpose(unit))) * off_diagonal
    sq_norms = ops.sum(ops.square(x), axis=1)
    sq = sq_norms[:, None] - 2.0 * ops.matmul(x, ops.transpose(x)) + sq_norms[None, :]
    sq = ops.maximum(sq, 0.0) * off_diagonal
    if distance == "squared_l2":
        return sq
    # sqrt has an infinite derivative at 0: evaluate it on a safe value there and zero the result.
    zero = ops.less_equal(sq, 0.0)
    return ops.where(zero, 0.0, ops.sqrt(ops.where(zero, 1.0, sq)))
