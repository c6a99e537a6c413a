"""Batches of dense rows from a sparse rating matrix, for every Keras backend.

The models train on rows (items x users by default) that are mostly unobserved, so the whole
matrix is kept as CSR and each batch is densified on its own: memory grows with the ratings,
not with rows x columns.

* `RowBatches` is a `keras.utils.PyDataset`: NumPy batches that every backend's `fit` accepts
  (TensorFlow, JAX, PyTorch). It also shards each global batch between processes for
  multi-process training.
* `row_dataset` is the `tf.data` twin for the TensorFlow backend: the same batches, in the
  same order, densified inside the TensorFlow graph.
* `make_row_batches` picks the right one for the active backend and distribution.

Both orders come from one seeded NumPy permutation per epoch, so a run on TensorFlow and a run
on JAX see the same batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np
import scipy.sparse as sp

from keras_hem.arguments import check_choice, check_integer
from keras_hem.types import Rows

if TYPE_CHECKING:
    import tensorflow as tf


def as_csr(matrix):
    """`matrix` as a float32 CSR array with sorted indices and summed duplicates."""
    csr = sp.csr_array(matrix, dtype="float32")
    csr.sum_duplicates()  # scipy's meaning of repeated coordinates
    csr.sort_indices()
    return csr


def epoch_order(n_rows: int, seed: int, epoch: int) -> np.ndarray:
    """The row order of one epoch: a permutation seeded by `(seed, epoch)`.

    Args:
        n_rows: number of rows.
        seed: the shuffling seed (a non-negative integer).
        epoch: 0-based epoch number.

    Returns:
        int64 array: a permutation of `range(n_rows)`.

    Examples:
        >>> epoch_order(5, seed=0, epoch=0).tolist() == epoch_order(5, seed=0, epoch=0).tolist()
        True
        >>> sorted(epoch_order(5, seed=0, epoch=1).tolist())
        [0, 1, 2, 3, 4]
    """
    return np.random.default_rng([seed, epoch]).permutation(n_rows).astype("int64")


class RowBatches(keras.utils.PyDataset):
    """Dense float32 batches of CSR rows, shuffled per epoch with a seed (any backend).

    Each batch gathers its rows from the CSR matrix and scatters them into a dense
    `(batch, n_columns)` block; nothing larger is ever held. With `extras`, batches are
    `{"ratings": rows, **extras}` dicts (e.g. precomputed mining features and labels, gathered
    with the same rows); with `targets`, they are `(inputs, targets)` pairs.

    For multi-process data-parallel training each process builds the same `RowBatches` with
    `shard=(process_index, process_count)` and yields its contiguous part of every global
    batch; Keras's JAX trainer joins the parts (in process order) into the global batch, so
    the model sees the same batches as a one-process run.

    Args:
        rows: `(n_rows, n_columns)` NumPy array or `scipy.sparse` matrix, 0 = unobserved.
        targets: optional matrix of the same shape (e.g. held-out ratings to score against).
        batch_size: rows per global batch.
        shuffle: draw a new seeded permutation of the rows every epoch.
        seed: the shuffling seed.
        extras: optional dict of per-row NumPy arrays (first dimension `n_rows`).
        remainder: what to do with a last batch shorter than `batch_size`: `"keep"` (default),
            `"drop"` (training under a distribution whose devices need equal parts) or
            `"pad"` (append all-unobserved rows; `n_padding` says how many, so predictions can
            be cut back).
        shard: `(index, count)`: yield part `index` of `count` equal parts of every batch.
        **kwargs: `keras.utils.PyDataset` arguments (`workers`, `use_multiprocessing`, ...).

    Returns:
        A `keras.utils.PyDataset`; `dataset[i]` is batch `i` of the current epoch.

    Raises:
        ValueError: for a bad `batch_size`, `seed`, `remainder` or `shard`, extras of the
            wrong length, or targets of another shape than the rows.

    Examples:
        >>> import numpy as np
        >>> rows = np.array([[1, 0, 0], [0, 2, 0], [0, 0, 3]], "float32")
        >>> batches = RowBatches(rows, batch_size=2)
        >>> len(batches), batches[0].tolist(), batches[1].tolist()
        (2, [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], [[0.0, 0.0, 3.0]])
        >>> RowBatches(rows, batch_size=2, remainder="pad")[1].shape
        (2, 3)
    """

    REMAINDERS = ("keep", "drop", "pad")

    def __init__(
        self,
        rows: Rows,
        targets: Rows | None = None,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int = 0,
        extras: dict[str, np.ndarray] | None = None,
        remainder: str = "keep",
        shard: tuple[int, int] = (0, 1),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rows = as_csr(rows)
        self.targets = None if targets is None else as_csr(targets)
        if self.targets is not None and self.targets.shape != self.rows.shape:
            raise ValueError(
                f"`targets` must have the shape of the rows {self.rows.shape}, "
                f"got {self.targets.shape}."
            )
        self.batch_size = check_integer("batch_size", batch_size, minimum=1)
        self.seed = check_integer("seed", seed, minimum=0)
        self.shuffle = bool(shuffle)
        check_choice("remainder", remainder, self.REMAINDERS)
        self.remainder = remainder
        index, count = shard
        count = check_integer("shard count", count, minimum=1)
        if not 0 <= check_integer("shard index", index, minimum=0) < count:
            raise ValueError(f"`shard` index must be in [0, {count}), got shard={shard!r}.")
        if self.batch_size % count:
            raise ValueError(
                f"`batch_size` ({self.batch_size}) must be a multiple of the number of "
                f"processes ({count}) so that each holds an equal part of every batch."
            )
        self.shard = (int(index), count)
        self.extras = {k: np.asarray(v) for k, v in (extras or {}).items()}
        for name, values in self.extras.items():
            if len(values) != self.rows.shape[0]:
                raise ValueError(
                    f"extras[{name!r}] has {len(values)} entries, expected one per row "
                    f"({self.rows.shape[0]})."
                )
        self.epoch = 0

    @property
    def n_rows(self):
        """Number of rows in the matrix."""
        return self.rows.shape[0]

    @property
    def n_padding(self):
        """All-unobserved rows appended to the last batch (`remainder="pad"`), else 0."""
        if self.remainder != "pad":
            return 0
        return -self.n_rows % self.batch_size

    def __len__(self):
        if self.remainder == "drop":
            return self.n_rows // self.batch_size
        return -(-self.n_rows // self.batch_size)

    def order(self):
        """The row order of the current epoch."""
        if self.shuffle:
            return epoch_order(self.n_rows, self.seed, self.epoch)
        return np.arange(self.n_rows, dtype="int64")

    def batch_indices(self, index, order=None):
        """Row indices of global batch `index` (`-1` marks padding), before sharding."""
        order = self.order() if order is None else order
        indices = order[index * self.batch_size : (index + 1) * self.batch_size]
        if self.remainder == "pad" and len(indices) < self.batch_size:
            indices = np.concatenate([indices, np.full(self.batch_size - len(indices), -1)])
        return indices

    def _local(self, indices):
        part, count = self.shard
        size = len(indices) // count
        if len(indices) % count:
            raise ValueError(
                f"A batch of {len(indices)} rows cannot be split into {count} equal parts; use "
                "remainder='drop' or 'pad' with several processes."
            )
        return indices[part * size : (part + 1) * size]

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        indices = self._local(self.batch_indices(index))
        inputs = densify(self.rows, indices)
        if self.extras:
            inputs = {"ratings": inputs}
            for name, values in self.extras.items():
                gathered = values[np.maximum(indices, 0)]
                inputs[name] = gathered
        if self.targets is None:
            return inputs
        return inputs, densify(self.targets, indices)

    def on_epoch_end(self):
        self.epoch += 1


def bucket_size(n: int, minimum: int = 8) -> int:
    """`n` rounded up to `m * 2**e` with `m` in 4..8: at most 25% padding, 4 sizes per doubling.

    Sparse batches are padded to these sizes so that a compiled step sees a few shapes, not one
    per batch.

    Examples:
        >>> [bucket_size(n) for n in (1, 8, 9, 100, 1000)]
        [8, 8, 10, 112, 1024]
    """
    n = max(int(n), minimum)
    shift = max((n - 1).bit_length() - 3, 0)
    return -(-n // 2**shift) * 2**shift


class SparseRowBatches(RowBatches):
    """The batches of `RowBatches`, as coordinate lists instead of dense blocks.

    Same rows, order, shuffling, `extras` and sharding as `RowBatches`; each batch's ratings
    are `{"row_ids", "columns", "values", "row_counts"}`: the stored entries of its rows
    (`row_ids` counts from 0 within the batch), padded with zero-valued entries to
    `bucket_size(entries)` so that a compiled step sees few shapes, and the number of ratings
    of each row (whose length is the batch's row count). Targets, when given, are the same
    kind of dict without `row_counts`. Nothing of size rows x columns is built, so a batch
    costs O(its ratings) whatever the number of columns. `HEMAAE` trains on these when the
    data are sparse (see its `batch_format`).

    Args:
        rows: as for `RowBatches`.
        targets: as for `RowBatches`.
        batch_size: rows per batch.
        shuffle: reshuffle every epoch (seeded, the order of `RowBatches`).
        seed: seed of the shuffling.
        extras: per-row arrays carried with the rows (e.g. mining features and labels).
        remainder: `"keep"` or `"drop"`; `"pad"` adds rows without ratings.
        shard: `(index, count)` as for `RowBatches`.
        **kwargs: `keras.utils.PyDataset` arguments.

    Returns:
        A `keras.utils.PyDataset` of dict batches (`(inputs, targets)` with targets).

    Raises:
        ValueError: as `RowBatches`.

    Examples:
        >>> import numpy as np
        >>> rows = np.array([[1, 0, 0], [0, 2, 3]], "float32")
        >>> batch = SparseRowBatches(rows, batch_size=2)[0]
        >>> batch["columns"][:3].tolist(), batch["values"][:3].tolist()
        ([0, 1, 2], [1.0, 2.0, 3.0])
        >>> batch["row_counts"].tolist()
        [1.0, 2.0]
        >>> len(batch["values"])  # padded to a bucket size
        8
    """

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        indices = self._local(self.batch_indices(index))
        inputs = sparse_rows(self.rows, indices)
        for name, values in self.extras.items():
            inputs[name] = values[np.maximum(indices, 0)]
        if self.targets is None:
            return inputs
        targets = sparse_rows(self.targets, indices)
        del targets["row_counts"]
        return inputs, targets


def sparse_rows(csr: sp.csr_array | sp.csr_matrix, indices: np.ndarray) -> dict[str, np.ndarray]:
    """Entries of rows `indices` of a CSR matrix as a padded coordinate dict (-1: empty row).

    Returns:
        `{"row_ids": int32, "columns": int32, "values": float32, "row_counts": float32}`;
        the first three are padded with zero-valued entries to `bucket_size(entries)`.

    Examples:
        >>> import scipy.sparse as sp
        >>> out = sparse_rows(sp.csr_array([[0.0, 2.0], [3.0, 4.0]]), np.array([1, -1]))
        >>> out["row_ids"][:2].tolist(), out["values"][:2].tolist(), out["row_counts"].tolist()
        ([0, 0], [3.0, 4.0], [2.0, 0.0])
    """
    indices = np.asarray(indices)
    real = indices >= 0
    starts = np.where(real, csr.indptr[np.maximum(indices, 0)], 0)
    counts = np.where(real, csr.indptr[np.maximum(indices, 0) + 1] - starts, 0)
    total = int(counts.sum())
    size = bucket_size(total)
    # Position of every entry in csr.data: its row's start plus its rank within the row.
    row_ids = np.repeat(np.arange(len(indices), dtype="int32"), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    positions = np.repeat(starts, counts) + offsets
    out = {
        "row_ids": np.zeros(size, "int32"),
        "columns": np.zeros(size, "int32"),
        "values": np.zeros(size, "float32"),
        "row_counts": counts.astype("float32"),
    }
    out["row_ids"][:total] = row_ids
    out["columns"][:total] = csr.indices[positions]
    out["values"][:total] = csr.data[positions]
    return out


def is_sparse_batch(x):
    """Whether `x` is a batch of `SparseRowBatches` (a coordinate dict)."""
    return isinstance(x, dict) and "columns" in x


def density(rows: Rows) -> float:
    """Share of observed (stored, non-zero) entries of a matrix.

    Examples:
        >>> density(np.array([[1.0, 0.0], [0.0, 0.0]]))
        0.25
    """
    n_cells = rows.shape[0] * rows.shape[1]
    stored = rows.count_nonzero() if hasattr(rows, "count_nonzero") else np.count_nonzero(rows)
    return float(stored / n_cells) if n_cells else 0.0


def densify(csr, indices):
    """Dense float32 rows `indices` of a CSR matrix; index `-1` gives an all-zero row.

    Examples:
        >>> import scipy.sparse as sp
        >>> densify(sp.csr_array([[0.0, 2.0], [3.0, 0.0]]), np.array([1, -1])).tolist()
        [[3.0, 0.0], [0.0, 0.0]]
    """
    out = np.zeros((len(indices), csr.shape[1]), "float32")
    real = indices >= 0
    if real.any():
        out[real] = csr[indices[real]].toarray()
    return out


def row_dataset(
    rows: Rows,
    targets: Rows | None = None,
    batch_size: int = 256,
    shuffle: bool = False,
    seed: int = 0,
    extras: dict[str, np.ndarray] | None = None,
    first_epoch: int = 0,
) -> tf.data.Dataset:
    """A `tf.data.Dataset` with the batches (and order) of `RowBatches`, for TensorFlow.

    The CSR matrix lives in the graph as ragged tensors; each batch gathers its rows and
    scatters them into a dense `(batch, n)` block, overlapping with training through prefetch.

    With `shuffle`, the dataset runs through epoch 0's permutation, then epoch 1's, and so on
    without end (each epoch's order is `epoch_order(n_rows, seed, epoch)`, the order of
    `RowBatches`), so pass `steps_per_epoch=ceil(n_rows / batch_size)` to `fit`: the order of
    an epoch then depends on its number alone, not on how often Keras restarted the data.

    Args:
        rows: `(n_rows, n)` NumPy array or `scipy.sparse` matrix, 0 = unobserved.
        targets: optional matrix of the same shape; batches are then `(rows, targets)`.
        batch_size: rows per batch.
        shuffle: a new seeded permutation every epoch, repeating forever (see above).
        seed: seed of the shuffling.
        extras: optional dict of per-row arrays; batches then carry
            `{"ratings": rows, **extras}` instead of bare rows.
        first_epoch: with `shuffle`, the epoch the dataset starts at (`fit`'s
            `initial_epoch` when a run is resumed).

    Returns:
        A `tf.data.Dataset`.

    Raises:
        ImportError: if TensorFlow is not installed.
    """
    import tensorflow as tf  # the tf.data twin is for the TensorFlow backend only

    batches = RowBatches(rows, targets, batch_size, shuffle, seed, extras)
    n_rows, width = batches.rows.shape
    ragged = [_ragged(batches.rows, tf)]
    if batches.targets is not None:
        ragged.append(_ragged(batches.targets, tf))
    extra_tensors = {k: tf.constant(v) for k, v in batches.extras.items()}

    if shuffle:

        def epoch_batches(epoch):
            order = tf.numpy_function(
                lambda e: epoch_order(n_rows, batches.seed, int(e)), [epoch], tf.int64
            )
            return tf.data.Dataset.from_tensor_slices(tf.ensure_shape(order, [n_rows]))

        # Batches never straddle two epochs: batch each epoch's rows on their own.
        index_batches = tf.data.Dataset.range(int(first_epoch), 2**62).flat_map(
            lambda epoch: epoch_batches(epoch).batch(batch_size)
        )
    else:
        index_batches = tf.data.Dataset.range(n_rows).batch(batch_size)

    def dense_batch(index):
        dense = [_dense_rows(columns, values, index, width, tf) for columns, values in ragged]
        if extra_tensors:
            gathered = {k: tf.gather(v, index) for k, v in extra_tensors.items()}
            dense[0] = {"ratings": dense[0], **gathered}
        return dense[0] if len(dense) == 1 else tuple(dense)

    return index_batches.map(dense_batch).prefetch(2)


class EpochSync(keras.callbacks.Callback):
    """Tells a `RowBatches` which epoch begins, so that its order follows the epoch number.

    Keras may restart a dataset more often than once an epoch (to peek at a batch, or to
    prepare the next epoch ahead), so counting restarts is not reliable; the epoch number
    that `fit` passes to its callbacks is. `HEMAAE.fit` adds one for the batches it makes.

    Args:
        batches: the `RowBatches` to keep in step.

    Returns:
        A callback for `fit`.

    Raises:
        TypeError: if `batches` is not a `RowBatches`.

    Examples:
        >>> import numpy as np
        >>> batches = RowBatches(np.eye(4, dtype="float32"), batch_size=2, shuffle=True)
        >>> sync = EpochSync(batches)
        >>> sync.on_epoch_begin(3)
        >>> batches.epoch
        3
    """

    def __init__(self, batches: RowBatches):
        super().__init__()
        if not isinstance(batches, RowBatches):
            raise TypeError(f"EpochSync needs a RowBatches, got {type(batches).__name__}.")
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = int(epoch)


def _ragged(matrix, tf):
    splits = matrix.indptr.astype("int64")
    columns = tf.RaggedTensor.from_row_splits(matrix.indices.astype("int64"), splits)
    values = tf.RaggedTensor.from_row_splits(matrix.data.astype("float32"), splits)
    return columns, values


def _dense_rows(columns, values, index, width, tf):
    columns, values = tf.gather(columns, index), tf.gather(values, index)
    row = columns.value_rowids()
    coordinates = tf.stack([row, columns.flat_values], axis=1)
    shape = tf.stack([tf.size(index, out_type=tf.int64), tf.constant(width, tf.int64)])
    return tf.scatter_nd(coordinates, values.flat_values, shape)


def is_dataset(data):
    """True for a `tf.data.Dataset` (or anything with an `element_spec`) or a `PyDataset`."""
    return hasattr(data, "element_spec") or isinstance(data, keras.utils.PyDataset)


def distribution_layout():
    """`(process_index, process_count, device_count)` of the active `keras.distribution`.

    `(0, 1, 1)` without a distribution.
    """
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 0, 1, 1
    devices = distribution.device_mesh.devices.size
    if keras.backend.backend() == "jax":
        import jax

        return jax.process_index(), jax.process_count(), devices
    return 0, 1, devices


def make_row_batches(
    rows: Rows,
    targets: Rows | None = None,
    batch_size: int = 256,
    shuffle: bool = False,
    seed: int = 0,
    extras: dict[str, np.ndarray] | None = None,
    training: bool = True,
    first_epoch: int = 0,
    sparse: bool = False,
) -> tf.data.Dataset | RowBatches:
    """Batches of `rows` for `fit` / `evaluate` / `predict` on the active backend.

    TensorFlow without a `keras.distribution`: `row_dataset` (tf.data). Otherwise a
    `RowBatches`; under a `keras.distribution` each process gets its shard of every global
    batch, and a short last batch is dropped when training (the devices need equal parts;
    the rows dropped change with the shuffle every epoch) or padded with all-unobserved rows
    otherwise (those rows add nothing to the rating metrics).

    Args:
        rows: the rows, as for `RowBatches`.
        targets: optional targets of the same shape.
        batch_size: rows per global batch.
        shuffle: reshuffle every epoch (seeded).
        seed: seed of the shuffling.
        extras: optional per-row arrays carried with the rows.
        training: whether the batches are for training (see above).
        first_epoch: the epoch training starts at (`fit`'s `initial_epoch`), so that a resumed
            run sees the batch order of an uninterrupted one.
        sparse: coordinate-list batches (`SparseRowBatches`, any backend) instead of dense
            blocks; not under a multi-device `keras.distribution`.

    Returns:
        A `tf.data.Dataset`, a `RowBatches` or a `SparseRowBatches`.

    Raises:
        ValueError: if `batch_size` does not split evenly over the distribution's devices, or
            for sparse batches under a multi-device distribution.
    """
    process, processes, devices = distribution_layout()
    if sparse:
        if devices > 1:
            raise ValueError(
                "Sparse batches cannot be split between the devices of a keras.distribution "
                "(their entry lists have no per-device layout); use dense batches."
            )
        batches = SparseRowBatches(rows, targets, batch_size, shuffle, seed, extras)
        batches.epoch = int(first_epoch)
        return batches
    if devices == 1 and keras.backend.backend() == "tensorflow":
        return row_dataset(rows, targets, batch_size, shuffle, seed, extras, first_epoch)
    remainder = "keep"
    if devices > 1:
        if batch_size % devices:
            raise ValueError(
                f"`batch_size` ({batch_size}) must be a multiple of the {devices} devices of "
                "the active keras.distribution, so that each holds an equal part."
            )
        remainder = "drop" if training else "pad"
    if processes > 1:
        # These batches are sharded per process already; Keras would otherwise insist on
        # sharding a tf.data.Dataset itself.
        keras.distribution.distribution().auto_shard_dataset = False
    batches = RowBatches(
        rows,
        targets,
        batch_size,
        shuffle,
        seed,
        extras,
        remainder=remainder,
        shard=(process, processes),
    )
    batches.epoch = int(first_epoch)
    return batches
