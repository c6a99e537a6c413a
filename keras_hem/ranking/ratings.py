"""Ranking by the model's reconstructed ratings, decoded for a few users at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from keras_hem.ranking.protocol import check_user_indices
from keras_hem.ranking.statistics import RatingStatistics
from keras_hem.types import ArrayLike

if TYPE_CHECKING:
    import keras

    from keras_hem.data import RatingMatrix

ORIENTATIONS = ("item", "user")
# (code, column) pairs decoded per `decode_pairs` call: bounds its (pairs, hidden) temporaries.
PAIR_CHUNK = 1 << 16
# `predict_pairs` decodes whole columns (a matrix product) instead of single pairs when that
# decodes at most this many cells per pair: on 2 CPU cores a decoded cell of a product cost
# about 1/170 of a pair decoded alone (gathers), at hidden 400.
DENSE_CELLS_PER_PAIR = 32
# Cells of the (n_rows, columns) blocks decoded at once by `predict_pairs`.
_BLOCK_CELLS = 1 << 23


class RatingScorer:
    """The model's reconstructed ratings (unclipped), with fallbacks where they mean nothing.

    The model's codes of every row are computed once, here (`model.encode`: `(n_rows, hidden)`,
    small); scores are then decoded for the users asked for only, so no users x items array is
    ever held. With the default item orientation the rows are items and a chunk of users is
    `model.decode(item_codes, columns=users).T`; with `orientation="user"` the rows are users
    and it is `model.decode(user_codes[users])`.

    Fallbacks, as `Recommender` documents them: items without training ratings score the
    user's mean rating; users without training ratings get the popularity row
    (`RatingStatistics.popularity`), since their reconstruction is informed by no rating.

    Args:
        model: a fitted `keras_hem.models.HEMAAE`, or any object with its `orientation`,
            `encode(rows, batch_size)`, `decode(codes, columns=None)` and
            `decode_pairs(codes, columns)`.
        train: the training `keras_hem.data.RatingMatrix` the model was fitted on.
        statistics: its `RatingStatistics` (computed when `None`).
        batch_size: rows per `encode` step (`None`: the model's default).

    Attributes:
        codes: float32 `(n_rows, hidden)` codes of the model's rows (items, or users).

    Raises:
        ValueError: if the model's orientation is neither `"item"` nor `"user"`.

    Example:
        >>> from keras_hem import HEMAAE, RatingMatrix
        >>> train = RatingMatrix.from_arrays([0, 0, 1, 2], [0, 1, 1, 2], [5.0, 3.0, 4.0, 2.0])
        >>> model = HEMAAE(hidden=4, seed=0)
        >>> model.compile()
        >>> _ = model.fit(train.to_item_user_csr(), epochs=1, verbose=0)
        >>> scorer = RatingScorer(model, train)
        >>> scorer.score([0, 2]).shape
        (2, 3)
    """

    name = "ratings"

    def __init__(
        self,
        model: keras.Model,
        train: RatingMatrix,
        statistics: RatingStatistics | None = None,
        batch_size: int | None = None,
    ):
        orientation = getattr(model, "orientation", "item")
        if orientation not in ORIENTATIONS:
            raise ValueError(
                f"The model's orientation must be one of {ORIENTATIONS}, got {orientation!r}."
            )
        self.model = model
        self.train = train
        self.orientation = orientation
        self.statistics = statistics or RatingStatistics.from_ratings(train)
        rows = train.csr if orientation == "user" else train.to_item_user_csr()
        self.codes = np.asarray(model.encode(rows, batch_size=batch_size), dtype=np.float32)

    @property
    def n_items(self) -> int:
        """Number of items."""
        return self.train.n_items

    def decode_users(self, decode, user_indices):
        """`decode`'s output over every item for some users, users x items.

        Args:
            decode: `model.decode` or `model.observation_scores` (called as
                `decode(codes, columns=None)`).
            user_indices: 1-D int array of valid user indices.

        Returns:
            float32 C-contiguous array `(len(user_indices), n_items)`.
        """
        users = np.asarray(user_indices, dtype=np.intp)
        if len(users) == 0:
            return np.zeros((0, self.n_items), dtype=np.float32)
        if self.orientation == "user":
            out = decode(self.codes[users])
        else:
            out = np.asarray(decode(self.codes, users)).T
        return np.ascontiguousarray(out, dtype=np.float32)

    def reconstruction(self, user_indices: ArrayLike) -> np.ndarray:
        """The raw reconstruction of some users over every item: no fallback, unclipped.

        Args:
            user_indices: 1-D int array of user indices.

        Returns:
            float32 array `(len(user_indices), n_items)`.

        Raises:
            IndexError: if an index is out of range.
        """
        users = check_user_indices(user_indices, self.train.n_users)
        return self.decode_users(self.model.decode, users)

    def score(self, user_indices: ArrayLike) -> np.ndarray:
        """Reconstructed ratings with the fallbacks (see the class docstring), unclipped.

        Args:
            user_indices: 1-D int array of user indices.

        Returns:
            float32 array `(len(user_indices), n_items)`.

        Raises:
            IndexError: if an index is out of range.
        """
        users = check_user_indices(user_indices, self.train.n_users)
        stats = self.statistics
        scores = self.decode_users(self.model.decode, users)
        if not stats.item_seen.all():
            scores[:, ~stats.item_seen] = stats.user_mean[users][:, None]
        return stats.fill_unseen_users(scores, users)

    def predict_pairs(self, user_indices: ArrayLike, item_indices: ArrayLike) -> np.ndarray:
        """The raw reconstruction at `(user, item)` pairs only: no fallback, unclipped.

        Many pairs over few columns (users, for item rows) are decoded as whole columns,
        a block of columns at a time (`model.decode`: a matrix product, fast per cell); few
        scattered pairs one by one (`model.decode_pairs`, O(hidden) each), `PAIR_CHUNK` per
        call. The two orders of summation agree within float rounding. Either way memory stays
        at a block of `2**23` cells or `PAIR_CHUNK x hidden` floats.

        Args:
            user_indices: 1-D int array of valid user indices.
            item_indices: 1-D int array of valid item indices, one per user index.

        Returns:
            float32 array, one value per pair.
        """
        users = np.asarray(user_indices, dtype=np.intp)
        items = np.asarray(item_indices, dtype=np.intp)
        rows, columns = (users, items) if self.orientation == "user" else (items, users)
        out = np.empty(len(users), dtype=np.float32)
        if len(out) == 0:
            return out
        unique, inverse = np.unique(columns, return_inverse=True)
        n_rows = len(self.codes)
        if n_rows * len(unique) <= DENSE_CELLS_PER_PAIR * len(out):
            order = np.argsort(inverse, kind="stable")
            sorted_inverse = inverse[order]
            step = max(1, _BLOCK_CELLS // n_rows)
            for a in range(0, len(unique), step):
                block = np.asarray(self.model.decode(self.codes, unique[a : a + step]))
                lo, hi = np.searchsorted(sorted_inverse, [a, a + step])
                pairs = order[lo:hi]
                out[pairs] = block[rows[pairs], inverse[pairs] - a]
            return out
        for a in range(0, len(users), PAIR_CHUNK):
            part = slice(a, a + PAIR_CHUNK)
            out[part] = self.model.decode_pairs(self.codes[rows[part]], columns[part])
        return out
