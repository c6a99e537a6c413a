"""Sparse rating rows given as coordinate lists: their products and dense blocks (`keras.ops`).

A batch of sparse rows is three aligned 1-D tensors: `row_ids` (the entry's row within the
batch), `columns` and `values`. Padding entries (added so that compiled steps see few distinct
shapes) have value 0 and so add nothing to a product.

These cost O(entries x width), never O(rows x columns x width): the dense product of a
`(batch, n)` block with an `(n, width)` kernel does `batch x n x width` multiply-adds whatever
the density, while a MovieLens batch holds 0.2-5% of its cells.
"""

from __future__ import annotations

from keras import ops

from keras_hem.types import Tensor


def sparse_dense_matmul(
    row_ids: Tensor, columns: Tensor, values: Tensor, kernel: Tensor, n_rows: int
) -> Tensor:
    """`X @ kernel` for a sparse `X` of `n_rows` rows: an embedding bag weighted by the values.

    Args:
        row_ids: int `(entries,)` row of each entry, in `[0, n_rows)`.
        columns: int `(entries,)` column of each entry, in `[0, kernel.shape[0])`.
        values: `(entries,)` entry values (0 for padding).
        kernel: `(n, width)` dense matrix.
        n_rows: number of rows of `X` (a Python int, so that the output shape is static).

    Returns:
        `(n_rows, width)` tensor in the kernel's dtype.

    Examples:
        >>> import numpy as np
        >>> kernel = np.arange(6, dtype="float32").reshape(3, 2)
        >>> out = sparse_dense_matmul(np.array([0, 0, 1]), np.array([0, 2, 1]),
        ...                           np.array([1.0, 2.0, 3.0], "float32"), kernel, 2)
        >>> np.asarray(out).tolist()  # [[1*k0 + 2*k2], [3*k1]]
        [[8.0, 11.0], [6.0, 9.0]]
    """
    gathered = ops.take(kernel, columns, axis=0)
    weighted = gathered * ops.cast(values, kernel.dtype)[:, None]
    return ops.segment_sum(weighted, row_ids, num_segments=n_rows)


def sparse_to_dense(
    row_ids: Tensor, columns: Tensor, values: Tensor, n_rows: int, width: int
) -> Tensor:
    """The dense float32 `(n_rows, width)` block of sparse rows (padding entries add 0).

    For layers that need whole rows, such as a convolution along them; its memory is
    `n_rows x width`, so use it on one batch at a time.

    Args:
        row_ids: int `(entries,)` row of each entry, in `[0, n_rows)`.
        columns: int `(entries,)` column of each entry, in `[0, width)`.
        values: `(entries,)` entry values (0 for padding).
        n_rows: number of rows.
        width: number of columns.

    Returns:
        float32 `(n_rows, width)` tensor.

    Examples:
        >>> import numpy as np
        >>> out = sparse_to_dense(np.array([0, 1, 0]), np.array([2, 0, 0]),
        ...                       np.array([4.0, 5.0, 0.0], "float32"), 2, 3)
        >>> np.asarray(out).tolist()  # the last entry is padding at (0, 0)
        [[0.0, 0.0, 4.0], [5.0, 0.0, 0.0]]
    """
    indices = ops.stack([row_ids, columns], axis=1)
    return ops.scatter(indices, ops.cast(values, "float32"), (n_rows, width))


def pair_dot(codes: Tensor, row_ids: Tensor, kernel: Tensor, columns: Tensor) -> Tensor:
    """`(codes @ kernel.T)[row_ids, columns]`, computed for the asked entries only.

    Args:
        codes: `(n_rows, width)` row codes.
        row_ids: int `(entries,)` rows of `codes`.
        kernel: `(n, width)` output kernel, one row per output column (`OutputDense`).
        columns: int `(entries,)` rows of `kernel`.

    Returns:
        `(entries,)` tensor: the dot product of each entry's code with its kernel row.

    Examples:
        >>> import numpy as np
        >>> codes = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")
        >>> kernel = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]], "float32")
        >>> np.asarray(pair_dot(codes, np.array([0, 1]), kernel, np.array([2, 1]))).tolist()
        [4.0, 4.0]
    """
    entry_codes = ops.take(codes, row_ids, axis=0)
    entry_kernels = ops.take(kernel, columns, axis=0)
    return ops.sum(entry_codes * ops.cast(entry_kernels, entry_codes.dtype), axis=1)


def gather_columns(codes: Tensor, kernel: Tensor, columns: Tensor | None = None) -> Tensor:
    """`(codes @ kernel.T)[:, columns]` without the other columns (all when `columns` is None).

    Args:
        codes: `(n_rows, width)`.
        kernel: `(n, width)`, one row per output column.
        columns: optional int `(k,)` rows of `kernel`.

    Returns:
        `(n_rows, k)` tensor (`(n_rows, n)` without `columns`).
    """
    if columns is not None:
        kernel = ops.take(kernel, columns, axis=0)
    return ops.matmul(codes, ops.transpose(ops.cast(kernel, codes.dtype)))
