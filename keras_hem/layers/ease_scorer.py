"""EASE item-item ranking scores (Steck 2019), fitted in closed form, within a memory bound.

EASE's item-item matrix is items x items, and its fit inverts it: at MovieLens-25M's 59,047
items that is 14 GB in float32 and some 2 * 10^14 floating-point operations. So the fit is
restricted to the `M` most-rated items whenever the catalogue has more than `M` items:

* `M` is `max_items` when given, else `default_max_items()`: the smaller of
  `DEFAULT_MAX_ITEMS` (10,000: a fit of a few minutes and 1.6 GB on 2 CPU cores) and
  `max_items_for_memory()`, the largest `M` whose `BYTES_PER_CELL * M**2` bytes fit in
  `MEMORY_FRACTION` (a quarter) of the machine's physical memory. `BYTES_PER_CELL = 16`
  counts every `M x M` matrix the fit holds at its peak: the float64 matrix that is factorised
  and inverted in place (8), its float32 copy (4) and the float32 weights the caller keeps
  (4). The memory bound is 16,384 items on a 16 GiB machine and 46,340 on 128 GiB; an explicit
  `max_items` above it is the caller's choice. The default never asks for more, so the fit
  does not run out of memory on its own.
* The other items get EASE weight 0 in both directions: they neither receive an EASE score
  nor count as evidence for the kept items. Within the kept items EASE is exact: the weights
  equal those of EASE fitted on the interaction matrix's columns of those items.
* Cost: `O(M**3)` time for the fit (a float64 Cholesky factorisation and inverse, after an
  `O(sum over users of ratings**2)` sparse Gram matrix) and `O(ratings x M)` to score every
  user from sparse interaction rows (`ease_scores`). Measured on 2 shared CPU cores with
  synthetic MovieLens-shaped ratings: 3,706 items (6,040 users, 1.0 M ratings) 10 s;
  10,677 items (69,878 users, 10 M ratings) 144 s (Gram 42 s, factorisation 31 s, inverse
  57 s) and 1.4 GiB above the data; 15,000 items (100,000 users, 15 M ratings) 414 s and
  2.7 GiB. Time grows with `M**3`: at 46,340 items expect some 80 times the 10,677-item fit,
  so set `max_items` lower when the fit time matters more than the last items.
"""

from __future__ import annotations

import math
import numbers
import os

import keras
import numpy as np
import scipy.linalg
import scipy.sparse as sp
from keras import ops

from keras_hem.arguments import check_number
from keras_hem.ops.masks import observed_mask, observed_mask_numpy
from keras_hem.types import ArrayLike, Tensor

# Share of physical memory that the EASE fit may use when `max_items` is not given.
MEMORY_FRACTION = 0.25
# The default cap on EASE's items, whatever the memory: the fit's O(M**3) time grows fast.
DEFAULT_MAX_ITEMS = 10_000
# Bytes per cell of the M x M item-item matrices the fit holds at its peak: the float64 work
# matrix (8: the Gram matrix, factorised, inverted and turned into the weights in place), the
# float32 weights it returns (4) and the copy a caller keeps (4: the layer's variable).
BYTES_PER_CELL = 16
# Assumed physical memory where the operating system does not report it (8 GiB).
_FALLBACK_MEMORY = 8 << 30
# Cells of the (M, block) temporaries while accumulating the Gram matrix.
_GRAM_BLOCK_CELLS = 1 << 22


def physical_memory() -> int:
    """The machine's physical memory in bytes (8 GiB where the OS does not say).

    Returns:
        int, from `os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")`.
    """
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return _FALLBACK_MEMORY
    if pages <= 0 or size <= 0:
        return _FALLBACK_MEMORY
    return int(pages) * int(size)


def max_items_for_memory(memory: int | None = None, fraction: float = MEMORY_FRACTION) -> int:
    """The most items EASE may keep: `floor(sqrt(fraction * memory / BYTES_PER_CELL))`.

    Args:
        memory: bytes of memory to size for; `None` takes `physical_memory()`.
        fraction: share of `memory` the fit may use, in (0, 1].

    Returns:
        int >= 1.

    Raises:
        ValueError: if `memory` or `fraction` is not a positive number (`fraction <= 1`).

    Examples:
        >>> max_items_for_memory(memory=16 << 30)  # a 16 GiB machine
        16384
    """
    memory = physical_memory() if memory is None else memory
    if isinstance(memory, bool) or not isinstance(memory, numbers.Real) or not memory > 0:
        raise ValueError(f"`memory` must be a positive number of bytes, got {memory=!r}.")
    if not isinstance(fraction, numbers.Real) or not 0 < fraction <= 1:
        raise ValueError(f"`fraction` must be in (0, 1], got {fraction=!r}.")
    return max(1, math.isqrt(int(fraction * memory / BYTES_PER_CELL)))


def default_max_items(memory: int | None = None) -> int:
    """The items EASE keeps by default: `min(DEFAULT_MAX_ITEMS, max_items_for_memory())`.

    Args:
        memory: bytes of memory to size for; `None` takes `physical_memory()`.

    Returns:
        int >= 1.

    Examples:
        >>> default_max_items(memory=1 << 30), default_max_items(memory=64 << 30)
        (4096, 10000)
    """
    return min(DEFAULT_MAX_ITEMS, max_items_for_memory(memory))


def binary_interactions(
    interactions: ArrayLike, missing_value: float = 0.0, batch_size: int = 1024
) -> sp.csr_array:
    """The interactions as a binary float32 `scipy.sparse.csr_array` (users x items).

    Args:
        interactions: users x items NumPy array or `scipy.sparse` matrix; every entry not equal
            to `missing_value` is an interaction (explicitly stored zeros of a sparse matrix
            are not, when `missing_value` is 0; repeated coordinates count once).
        missing_value: value of entries without an interaction.
        batch_size: users at a time while converting a dense array (never densified whole).

    Returns:
        `csr_array` of ones, canonical (sorted, no duplicates).

    Raises:
        ValueError: if `interactions` is not 2-D.
    """
    if not hasattr(interactions, "tocsr"):
        interactions = np.asarray(interactions)
    if interactions.ndim != 2:
        raise ValueError(
            f"`interactions` must be a users x items matrix, got shape {interactions.shape}."
        )
    if hasattr(interactions, "tocsr"):
        matrix = sp.csr_array(interactions, copy=True)
        matrix.sum_duplicates()  # scipy's meaning of repeated coordinates
        if missing_value != 0:  # implicit zeros are interactions then: rare, and dense
            matrix = sp.csr_array(observed_mask_numpy(matrix.toarray(), missing_value))
    else:
        matrix = sp.vstack(
            [
                sp.csr_array(observed_mask_numpy(interactions[a : a + batch_size], missing_value))
                for a in range(0, max(interactions.shape[0], 1), batch_size)
            ],
            format="csr",
        )
    matrix.eliminate_zeros()  # explicitly stored zeros are not interactions
    matrix.sort_indices()
    ones = np.ones(matrix.nnz, "float32")
    return sp.csr_array((ones, matrix.indices, matrix.indptr), shape=matrix.shape)


def most_rated_items(interactions: ArrayLike, max_items: int) -> np.ndarray:
    """Indices of the `max_items` items with the most interactions, in increasing order.

    Equal counts go to the lower item index.

    Args:
        interactions: binary users x items `scipy.sparse` matrix (`binary_interactions`).
        max_items: how many items to keep (all when the catalogue is smaller).

    Returns:
        int64 array of item indices, sorted.
    """
    counts = np.bincount(sp.csr_array(interactions).indices, minlength=interactions.shape[1])
    if max_items >= len(counts):
        return np.arange(len(counts), dtype=np.int64)
    return np.sort(np.argsort(-counts, kind="stable")[:max_items]).astype(np.int64)


def ease_weights(interactions: ArrayLike, l2: float, items: np.ndarray | None = None) -> np.ndarray:
    """EASE's item weights `B = I - P / diag(P)`, `P = (X^T X + l2 I)^-1`, in bounded memory.

    `X` is the binary interaction matrix restricted to the columns `items`. The Gram matrix is
    accumulated in float64 from sparse products, a block of columns at a time, then factorised
    (Cholesky) and inverted in place, so that the fit holds one float64 `M x M` matrix and the
    float32 result (see `BYTES_PER_CELL`).

    Args:
        interactions: binary users x items `scipy.sparse` matrix (`binary_interactions`).
        l2: ridge penalty, > 0.
        items: the item indices to fit (e.g. `most_rated_items`); `None` for all.

    Returns:
        float32 array `(M, M)` with a zero diagonal: entry `(a, b)` weighs kept item `a` in the
        score of kept item `b`.

    Raises:
        ValueError: if there is no interaction.
    """
    matrix = sp.csc_array(interactions, dtype=np.float64)
    if items is not None:
        matrix = matrix[:, np.asarray(items)]
    if matrix.nnz == 0:
        raise ValueError("EASE got no interaction (every entry is missing).")
    n = matrix.shape[1]
    rows = sp.csr_array(matrix.T)  # items x users
    block = max(1, _GRAM_BLOCK_CELLS // max(n, 1))
    # Fortran order, so that LAPACK works in place; symmetric, so only the upper triangle is
    # needed: columns a:b of the rows 0:b.
    work = np.zeros((n, n), dtype=np.float64, order="F")
    for a in range(0, n, block):
        b = min(a + block, n)
        work[:b, a:b] = (rows[:b] @ matrix[:, a:b]).toarray()
    work[np.diag_indices(n)] += l2
    work, info = scipy.linalg.lapack.dpotrf(work, lower=0, clean=0, overwrite_a=1)
    if info == 0:
        work, info = scipy.linalg.lapack.dpotri(work, lower=0, overwrite_c=1)
    if info != 0:  # cannot happen for l2 > 0 short of overflow; say so rather than go on
        raise ValueError(f"EASE's regularised Gram matrix could not be inverted (info={info}).")
    # dpotri fills the upper triangle only: mirror it, a block of rows at a time.
    for a in range(0, n, block):
        b = min(a + block, n)
        work[a:b, :a] = work[:a, a:b].T
        below, above = np.tril_indices(b - a, -1)  # within the diagonal block
        work[a + below, a + above] = work[a + above, a + below]
    diagonal = work.diagonal().copy()
    work /= -diagonal[None, :]
    work[np.diag_indices(n)] = 0.0
    return work.astype(np.float32)


def ease_scores(
    interactions: ArrayLike, items: np.ndarray, weights: np.ndarray, n_items: int
) -> np.ndarray:
    """EASE scores of users from their sparse interaction rows: `X[:, items] @ weights`.

    Costs O(interactions x M) and holds one `(users, n_items)` float32 output. The rows stay
    sparse: multiplying dense `(users, M)` interaction blocks by the weights costs
    `users x M**2` instead, and measured slower (see `keras_hem.ranking.EASEBlendScorer`).

    Args:
        interactions: binary `scipy.sparse` rows of some users, over all `n_items` items or
            over the kept `items` only (then `len(items)` columns).
        items: the kept item indices of `weights`, sorted (`most_rated_items`).
        weights: float32 `(M, M)` from `ease_weights`.
        n_items: catalogue size.

    Returns:
        float32 array `(users, n_items)`; 0 for items outside `items`.
    """
    rows = sp.csr_array(interactions)
    if rows.shape[1] != len(items):
        rows = rows[:, np.asarray(items)]
    kept = np.asarray(rows @ weights, dtype=np.float32)
    if len(items) == n_items:
        return kept
    out = np.zeros((rows.shape[0], n_items), dtype=np.float32)
    out[:, items] = kept
    return out


@keras.saving.register_keras_serializable(package="keras_hem")
class EASEScorer(keras.layers.Layer):
    """Scores every item for a user from the items the user interacted with (EASE).

    EASE ("Embarrassingly Shallow Autoencoders", Steck, WWW 2019) is a linear item-item model
    of *which* items a user rates. With `X` the binary users x items interaction matrix and
    `P = (X^T X + l2 I)^-1`, `adapt()` sets the item weights `B = I - P / diag(P)` (column `j`
    divided by `P_jj`): the closed-form ridge regression of every item on all the others, with
    a zero diagonal so that no item explains itself. Called on interaction rows, the layer
    returns `X B`, one ranking score per item.

    Catalogues larger than `max_items` are restricted to their `max_items` most-rated items
    (see the module docstring): the weights are then `(M, M)` over `kept_items`, the other
    items score 0 and do not count as evidence. The layer is exact where it fits.

    keras-hem uses EASE as the ranking score of `Recommender` (`ranking="ease"`, through
    `keras_hem.ranking.EASEBlendScorer`): a model trained to reconstruct ratings has never
    seen which items a user chooses to rate and ranks poorly over the full catalogue, and EASE
    is a strong, cheap model of exactly that. It is not part of the HEM-AAE paper.

    Args:
        l2: the ridge penalty `l2 > 0` (a few hundred suits MovieLens-sized data).
        missing_value: value of entries without an interaction; every other value counts as
            one interaction, whatever the rating.
        max_items: the most items EASE keeps (`M`); `None` (default) sizes it to the machine
            when the layer is built (`default_max_items()`), and the saved config then
            holds the number chosen, so that a saved layer loads with the same shape.
        **kwargs: standard layer arguments.

    Returns:
        Called on `(batch, n_items)` rows: float32 scores of the same shape.

    Raises:
        ValueError: for a bad `l2` or `max_items`; from `adapt()` for data that is not a 2-D
            matrix with at least one interaction, or whose width differs from the built
            layer's.

    Examples:
        >>> import numpy as np
        >>> from keras_hem.layers import EASEScorer
        >>> ratings = np.array([[5, 4, 0], [4, 5, 0], [0, 4, 3], [5, 0, 0]], "float32")
        >>> scorer = EASEScorer(l2=1.0)
        >>> scorer.adapt(ratings)
        >>> scores = np.asarray(scorer(ratings[3:]))  # the user who rated only item 0
        >>> int(np.argmax(scores[0, 1:])) + 1  # item 1 is rated with item 0 more than item 2
        1
    """

    def __init__(
        self,
        l2: float = 500.0,
        missing_value: float = 0.0,
        max_items: int | None = None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        check_number("l2", l2, strict=True)
        if max_items is not None and (
            isinstance(max_items, bool) or not isinstance(max_items, numbers.Integral)
        ):
            raise ValueError(f"`max_items` must be a positive integer or None, got {max_items=!r}.")
        if max_items is not None and max_items < 1:
            raise ValueError(f"`max_items` must be a positive integer or None, got {max_items=!r}.")
        self.l2 = float(l2)
        self.missing_value = float(missing_value)
        self.max_items = None if max_items is None else int(max_items)
        self.n_items = None
        self.item_weights = None
        self.kept_items = None

    def build(self, input_shape: tuple | dict) -> None:
        n = input_shape[-1]
        if n is None:
            raise ValueError(f"EASEScorer needs a known number of items, got {input_shape}.")
        self.n_items = int(n)
        if self.max_items is None:  # sized to this machine, then pinned in the config
            self.max_items = default_max_items()
        kept = min(self.n_items, self.max_items)
        self.item_weights = self.add_weight(
            shape=(kept, kept), initializer="zeros", trainable=False, name="item_weights"
        )
        self.kept_items = self.add_weight(
            shape=(kept,),
            initializer=lambda shape, dtype=None: ops.arange(shape[0], dtype="int32"),
            trainable=False,
            dtype="int32",
            name="kept_items",
        )

    def adapt(self, interactions: ArrayLike, batch_size: int = 1024) -> None:
        """Fits the item weights in closed form (on the most-rated items above `max_items`).

        Args:
            interactions: users x items NumPy array or `scipy.sparse` matrix; every entry not
                equal to `missing_value` is an interaction.
            batch_size: users at a time while converting a dense input to sparse rows (a
                `scipy.sparse` input is never densified).

        Raises:
            ValueError: if `interactions` is not 2-D, holds no interaction, or does not match
                the width of an already built layer.
        """
        binary = binary_interactions(interactions, self.missing_value, batch_size)
        n_items = binary.shape[1]
        if self.built and n_items != self.n_items:
            raise ValueError(
                f"`interactions` has {n_items} items, but the layer was built for {self.n_items}."
            )
        if binary.nnz == 0:
            raise ValueError("EASEScorer.adapt() got no interaction (every entry is missing).")
        if not self.built:
            self.build((None, n_items))
        items = most_rated_items(binary, self.item_weights.shape[0])
        weights = ease_weights(binary, self.l2, items)
        self.kept_items.assign(items.astype("int32"))
        self.item_weights.assign(weights)

    def call(self, inputs: Tensor) -> Tensor:
        binary = self._binary(inputs)
        kept = self.item_weights.shape[0]
        if kept == self.n_items:
            return ops.matmul(binary, self.item_weights)
        scores = ops.matmul(ops.take(binary, self.kept_items, axis=1), self.item_weights)
        # Position of each item among the kept ones plus 1, or 0 for the items left out,
        # which then take their score from a column of zeros.
        positions = ops.scatter(
            ops.expand_dims(self.kept_items, 1),
            ops.arange(1, kept + 1, dtype="int32"),
            (self.n_items,),
        )
        padded = ops.concatenate([ops.zeros_like(scores[:, :1]), scores], axis=1)
        return ops.take(padded, positions, axis=1)

    def _binary(self, rows):
        return ops.cast(observed_mask(ops.cast(rows, "float32"), self.missing_value), "float32")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "l2": self.l2,
            "missing_value": self.missing_value,
            "max_items": self.max_items,
        }
