"""Mean-model features and class labels of sparse rating rows, from the CSR matrix directly.

`keras_hem.layers.MeanModel` and `MeanModelLabeler` compute the same numbers from dense
`(batch, n)` blocks, which costs O(batch x n) memory and time per level. Here every level is one
pass over the stored ratings (`np.bincount` over `(row, node)` keys), so the cost is
O(ratings x depth) and nothing of size rows x columns is ever built. `HEMAAE.fit` uses these to
compute the mining inputs of every row once per fit.
"""

from __future__ import annotations

import numpy as np

from keras_hem.data.pipeline import as_csr
from keras_hem.types import ArrayLike


def mean_model_features(rows: ArrayLike, depth: int = 3, fill_value: float = 0.0) -> np.ndarray:
    """The mean-model tree (paper eqs 1-3) of every row, as `keras_hem.layers.MeanModel`.

    Args:
        rows: `(n_rows, n)` NumPy array or `scipy.sparse` matrix; stored non-zero entries are
            the observed ratings (0 = unobserved).
        depth: tree levels; `2**depth - 1` outputs per row.
        fill_value: output of a row without any rating.

    Returns:
        float32 array `(n_rows, 2**depth - 1)`, nodes breadth first.

    Examples:
        >>> import numpy as np
        >>> mean_model_features(np.array([[5.0, 3.0, 0.0, 1.0]]), depth=2).tolist()
        [[3.0, 2.0, 5.0]]
    """
    csr = as_csr(rows)
    csr.eliminate_zeros()
    n_rows = csr.shape[0]
    row = np.repeat(np.arange(n_rows), np.diff(csr.indptr))
    x = csr.data.astype("float32")
    counts = np.bincount(row, minlength=n_rows)
    level = _node_means(row, x, counts, n_rows, 1, np.zeros(n_rows, "float32")[:, None])
    level = np.where(counts[:, None] > 0, level, np.float32(fill_value))
    levels, node = [level], np.zeros(len(x), "int64")
    for depth_index in range(1, depth):
        parent = level
        # Ratings above their node's mean go to the odd child, the others to the even one.
        node = 2 * node + (x > parent[row, node])
        level = _node_means(
            row * 2**depth_index + node,
            x,
            None,
            n_rows,
            2**depth_index,
            np.repeat(parent, 2, axis=1),
        )
        levels.append(level)
    return np.concatenate(levels, axis=1).astype("float32")


def _node_means(keys, x, counts, n_rows, n_nodes, inherited):
    """Mean of `x` per key (`row * n_nodes + node`); empty nodes take `inherited`."""
    size = n_rows * n_nodes
    sums = np.bincount(keys, weights=x, minlength=size).reshape(n_rows, n_nodes)
    if counts is None:
        counts = np.bincount(keys, minlength=size)
    counts = counts.reshape(n_rows, n_nodes)
    # float32 like the layer, so that ties (a rating equal to its node's mean) fall alike.
    means = (sums / np.maximum(counts, 1)).astype("float32")
    return np.where(counts > 0, means, inherited).astype("float32")


def row_labels(rows: ArrayLike, thresholds: ArrayLike) -> np.ndarray:
    """Class of each row, as `keras_hem.layers.MeanModelLabeler` gives it.

    A row's class is the number of thresholds its mean rating exceeds (0 for a row without
    ratings).

    Args:
        rows: `(n_rows, n)` NumPy array or `scipy.sparse` matrix, 0 = unobserved.
        thresholds: sorted 1-D thresholds (the labeler's `thresholds`).

    Returns:
        int32 array `(n_rows,)`.

    Examples:
        >>> import numpy as np
        >>> row_labels(np.array([[5.0, 4.0, 0.0], [1.0, 0.0, 2.0]]), [3.0]).tolist()
        [1, 0]
    """
    csr = as_csr(rows)
    csr.eliminate_zeros()
    counts = np.diff(csr.indptr)
    row = np.repeat(np.arange(csr.shape[0]), counts)
    sums = np.bincount(row, weights=csr.data, minlength=csr.shape[0])
    means = (sums / np.maximum(counts, 1)).astype("float32")
    thresholds = np.asarray(thresholds, "float32")
    labels = (means[:, None] > thresholds[None, :]).sum(axis=1).astype("int32")
    return np.where(counts > 0, labels, 0).astype("int32")
