"""Explicit ratings as a users x items sparse matrix, with id maps, dense rows and splits.

`RatingMatrix` is the single container the models, splits and metrics of keras-hem exchange.
User and item ids of any hashable type (ints, strings, ...) are mapped to contiguous indices
`0..n-1`, sorted by id when the ids can be sorted, otherwise in order of first appearance.
Ratings are stored explicitly (CSR plus sorted coordinate arrays), but the dense rows handed to
the models use `0` for "not rated", which is why every rating must be strictly positive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from keras_hem.data import validation
from keras_hem.types import ArrayLike

_DICT_FORMAT = "keras_hem.RatingMatrix"
_DICT_VERSION = 1
# JSON keeps these id types intact (an int comes back an int, a str a str).
_JSON_ID_TYPES = (int, float, str)


def _frozen(array):
    """Return `array` as a read-only NumPy array, copying it first if it is writable."""
    array = np.asarray(array)
    if array.flags.writeable:
        array = array.copy()
        array.setflags(write=False)
    return array


def _normalise_ids(ids):
    """Give an id array a natural dtype: int64, float64, or object (strings, mixed types)."""
    kind = pd.api.types.infer_dtype(ids, skipna=False)
    if kind == "integer":
        values = np.asarray(ids)
        # Ids beyond int64 stay Python ints (exact), never wrapped around or an OverflowError.
        if values.dtype.kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
            return np.asarray([int(v) for v in values], dtype=object)
        try:
            return np.asarray(ids, dtype=np.int64)
        except OverflowError:
            return np.asarray([int(v) for v in values], dtype=object)
    if kind == "floating":
        return np.asarray(ids, dtype=np.float64)
    return np.asarray(ids, dtype=object)


def _factorize(values):
    """Map ids to contiguous codes, sorting the unique ids when they are mutually comparable."""
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:
        # Ids of types that cannot be ordered against each other keep first-appearance order.
        codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int32), _normalise_ids(np.asarray(uniques))


def _match_id_type(query, known_ids):
    """Query ids in the type of the known ids, where that loses nothing.

    `"42"` finds the integer id 42 (a command line or a web form gives strings), and 42 finds
    the string id `"42"`; anything else is looked up as it is (and may be unknown).
    """
    known = pd.api.types.infer_dtype(known_ids, skipna=False)
    given = pd.api.types.infer_dtype(query, skipna=False)
    if known == "integer" and given in ("string", "mixed-integer"):
        numbers = pd.to_numeric(pd.Series(query, dtype=object), errors="coerce")
        whole = (numbers.notna() & (numbers % 1 == 0)).to_numpy()
        if not whole.any():
            return query
        out = np.asarray(query, dtype=object).copy()
        out[whole] = [int(v) for v in numbers[whole]]
        return out
    if known == "string" and given == "integer":
        return np.asarray([str(v) for v in query], dtype=object)
    return query


def _ids_to_json(ids, name):
    """Convert an id array to a JSON-able list, refusing ids JSON would not round-trip."""
    values = ids.tolist()
    types = pd.Series(values, dtype=object).map(type)
    bad = np.flatnonzero(~types.isin(_JSON_ID_TYPES).to_numpy())
    if len(bad):
        shown = ", ".join(repr(values[i]) for i in bad[: validation.MAX_SHOWN])
        raise TypeError(
            f"{len(bad)} {name} id(s) are not int, float or str and cannot be saved as JSON "
            f"(showing up to {validation.MAX_SHOWN}): {shown}."
        )
    return values


class _PairLabels:
    """Row labels `(row, col)` for entries of a sparse matrix, built only for shown rows."""

    def __init__(self, rows, cols):
        self._rows = rows
        self._cols = cols

    def __getitem__(self, position):
        return (int(self._rows[position]), int(self._cols[position]))


class RatingMatrix:
    """Explicit ratings of users on items, with id maps and dense row access.

    Build one with `from_dataframe`, `from_arrays` or `from_sparse`; they validate the input (see
    `keras_hem.data.validation`). The constructor itself expects indices that are already
    validated, sorted by (user, item) and unique.

    The model's orientation is items x users: each training sample is one item's vector of
    ratings over all users (`item_rows`). `0` in a dense row means "not rated".

    Attributes:
        users: read-only int32 array of the user index of each rating, sorted by (user, item).
        items: read-only int32 array of the item index of each rating.
        ratings: read-only float32 array of the ratings.
        user_ids: read-only array of the original user ids, in index order.
        item_ids: read-only array of the original item ids, in index order.
        scale: `(min, max)` rating scale as floats, declared or inferred from the data.
        step: rating grid step, or `None` when the ratings were not checked against a grid.
        csr: users x items `scipy.sparse.csr_array` of float32 ratings.

    Examples:
        >>> rm = RatingMatrix.from_arrays(["ann", "bob", "ann"], [10, 10, 20], [4.0, 3.0, 5.0])
        >>> rm.n_users, rm.n_items, rm.n_ratings
        (2, 2, 3)
        >>> rm.item_rows([0])
        array([[4., 3.]], dtype=float32)
    """

    def __init__(self, users, items, ratings, user_ids, item_ids, scale, step=None):
        """Wrap validated coordinate arrays.

        Args:
            users: int array of user indices in `[0, len(user_ids))`.
            items: int array of item indices in `[0, len(item_ids))`.
            ratings: float array of ratings, same length.
            user_ids: unique user ids in index order.
            item_ids: unique item ids in index order.
            scale: `(min, max)` rating scale.
            step: rating grid step or `None`.

        Raises:
            ValueError: if the arrays differ in length, the ids are not unique, an index is out
                of range, or the (user, item) pairs are not sorted and unique.
        """
        self._user_ids = _frozen(user_ids)
        self._item_ids = _frozen(item_ids)
        for name, ids in (("user", self._user_ids), ("item", self._item_ids)):
            if ids.ndim != 1 or not pd.Index(ids, tupleize_cols=False).is_unique:
                raise ValueError(f"`{name}_ids` must be a 1-D array of unique ids.")
        validation.check_same_length({"users": users, "items": items, "ratings": ratings})
        self._users = _frozen(np.asarray(users, dtype=np.int32))
        self._items = _frozen(np.asarray(items, dtype=np.int32))
        self._ratings = _frozen(np.asarray(ratings, dtype=np.float32))
        validation.check_indices(self._users, self.n_users, "user")
        validation.check_indices(self._items, self.n_items, "item")
        keys = self._users.astype(np.int64) * self.n_items + self._items
        if np.any(np.diff(keys) <= 0):
            raise ValueError(
                "(user, item) pairs must be unique and sorted; build a RatingMatrix with "
                "from_dataframe, from_arrays or from_sparse instead."
            )
        self.scale = (float(scale[0]), float(scale[1]))
        self.step = None if step is None else float(step)
        counts = np.bincount(self._users, minlength=self.n_users)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        # The CSR gets its own copies so that callers may modify it without touching `.ratings`.
        self.csr = sparse.csr_array(
            (self._ratings.copy(), self._items.copy(), indptr), shape=(self.n_users, self.n_items)
        )
        self._item_user_csr = None

    # ----------------------------------------------------------------------------------------
    # Constructors

    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str = "rating",
        scale: tuple[float, float] | None = None,
        step: float | None = None,
        duplicates: str = "error",
    ) -> RatingMatrix:
        """Build a RatingMatrix from a DataFrame with one rating per row.

        Args:
            df: `pandas.DataFrame`; other columns (e.g. timestamps) are ignored.
            user_col: name of the user id column.
            item_col: name of the item id column.
            rating_col: name of the rating column (numbers, or strings holding numbers).
            scale: `(min, max)` allowed rating range; inferred from the data when `None`.
            step: if given, ratings must lie on the grid `scale[0] + j * step` (multiples of
                `step` when `scale` is inferred).
            duplicates: `"error"` (default) raises on a repeated (user, item) pair; `"last"`
                keeps the last one in row order; `"mean"` averages them.

        Returns:
            A new `RatingMatrix`.

        Raises:
            TypeError: if `df` is not a DataFrame.
            ValueError: on a missing column, an empty frame, missing ids, non-numeric, NaN,
                infinite or non-positive ratings, ratings outside `scale` or off the `step`
                grid, duplicate pairs (with `duplicates="error"`), or bad arguments. Messages
                name the column, count the bad rows and show up to 5 of them by index label.

        Examples:
            >>> df = pd.DataFrame({"user": [1, 2], "item": ["a", "b"], "rating": [4, 5]})
            >>> RatingMatrix.from_dataframe(df, scale=(1, 5), step=1).n_ratings
            2
        """
        validation.check_columns(df, [user_col, item_col, rating_col])
        validation.check_not_empty(len(df), "DataFrame")
        return cls._from_columns(
            validation.as_column(df[user_col]),
            validation.as_column(df[item_col]),
            df[rating_col].to_numpy(),
            names=(user_col, item_col, rating_col),
            labels=df.index,
            scale=scale,
            step=step,
            duplicates=duplicates,
        )

    @classmethod
    def from_arrays(
        cls,
        users: ArrayLike,
        items: ArrayLike,
        ratings: ArrayLike,
        scale: tuple[float, float] | None = None,
        step: float | None = None,
        duplicates: str = "error",
    ) -> RatingMatrix:
        """Build a RatingMatrix from three parallel 1-D arrays.

        Args:
            users: user ids (any hashable values).
            items: item ids (any hashable values).
            ratings: ratings, one per (user, item).
            scale: `(min, max)` allowed rating range; inferred from the data when `None`.
            step: if given, ratings must lie on the grid `scale[0] + j * step` (multiples of
                `step` when `scale` is inferred).
            duplicates: `"error"`, `"last"` or `"mean"`, as in `from_dataframe`.

        Returns:
            A new `RatingMatrix`.

        Raises:
            ValueError: if the arrays are not 1-D or differ in length, and for every problem
                listed in `from_dataframe` (the argument names stand in for column names and
                rows are shown by position).

        Examples:
            >>> RatingMatrix.from_arrays([1, 1], [5, 6], [2.5, 3.0], step=0.5).scale
            (2.5, 3.0)
        """
        validation.check_same_length({"users": users, "items": items, "ratings": ratings})
        validation.check_not_empty(len(ratings), "input")
        return cls._from_columns(
            validation.as_column(users),
            validation.as_column(items),
            ratings,
            names=("users", "items", "ratings"),
            labels=None,
            scale=scale,
            step=step,
            duplicates=duplicates,
        )

    @classmethod
    def from_sparse(
        cls,
        matrix: sparse.spmatrix | sparse.sparray,
        scale: tuple[float, float] | None = None,
        step: float | None = None,
        duplicates: str = "error",
    ) -> RatingMatrix:
        """Build a RatingMatrix from a users x items SciPy sparse matrix.

        User and item ids are the row and column indices, and the shape is kept: empty rows and
        columns stay as users and items without ratings. Every stored entry counts as a rating,
        so explicitly stored zeros raise (call `matrix.eliminate_zeros()` first if they mean
        "missing"). Repeated coordinates of a non-canonical matrix are duplicates and follow
        `duplicates` rather than being summed.

        Args:
            matrix: any `scipy.sparse` matrix or array, rows = users, columns = items.
            scale: `(min, max)` allowed rating range; inferred from the data when `None`.
            step: if given, ratings must lie on the grid `scale[0] + j * step` (multiples of
                `step` when `scale` is inferred).
            duplicates: `"error"`, `"last"` or `"mean"`, as in `from_dataframe`.

        Returns:
            A new `RatingMatrix`.

        Raises:
            TypeError: if `matrix` is not a SciPy sparse matrix.
            ValueError: if it stores no entries, or for the rating problems listed in
                `from_dataframe` (rows are shown as `(row, column)` coordinates).

        Examples:
            >>> m = sparse.csr_array(np.array([[0.0, 4.0], [5.0, 0.0], [0.0, 0.0]]))
            >>> RatingMatrix.from_sparse(m).n_users
            3
        """
        if not sparse.issparse(matrix):
            raise TypeError(f"Expected a scipy.sparse matrix, got {type(matrix).__name__}.")
        coo = matrix.tocoo()
        validation.check_not_empty(coo.nnz, "sparse matrix")
        labels = _PairLabels(coo.row, coo.col)
        scale, step = validation.validate_scale(scale, step)
        validation.validate_duplicates_policy(duplicates)
        values = validation.coerce_ratings(coo.data, "matrix entries", labels)
        scale = validation.check_scale(values, scale, step, "matrix entries", labels)
        n_users, n_items = matrix.shape
        users, items, values = validation.resolve_duplicates(
            coo.row.astype(np.int64),
            coo.col.astype(np.int64),
            values,
            n_items,
            duplicates,
            lambda pos: list(zip(coo.row[pos].tolist(), coo.col[pos].tolist(), strict=True)),
            "(row, column)",
            labels,
        )
        return cls(users, items, values, np.arange(n_users), np.arange(n_items), scale, step)

    @classmethod
    def _from_columns(cls, users, items, ratings, names, labels, scale, step, duplicates):
        """Validate id and rating columns, map ids to indices and resolve duplicates."""
        user_col, item_col, rating_col = names
        scale, step = validation.validate_scale(scale, step)
        validation.validate_duplicates_policy(duplicates)
        validation.check_ids(users, user_col, labels)
        validation.check_ids(items, item_col, labels)
        values = validation.coerce_ratings(ratings, rating_col, labels)
        scale = validation.check_scale(values, scale, step, rating_col, labels)
        user_index, user_ids = _factorize(users)
        item_index, item_ids = _factorize(items)
        users_sorted, items_sorted, values = validation.resolve_duplicates(
            user_index,
            item_index,
            values,
            len(item_ids),
            duplicates,
            lambda pos: list(zip(users[pos].tolist(), items[pos].tolist(), strict=True)),
            f"({user_col}, {item_col})",
            labels,
        )
        return cls(users_sorted, items_sorted, values, user_ids, item_ids, scale, step)

    # ----------------------------------------------------------------------------------------
    # Sizes and coordinates

    @property
    def users(self) -> np.ndarray:
        """Read-only int32 user index of each rating, sorted by (user, item)."""
        return self._users

    @property
    def items(self) -> np.ndarray:
        """Read-only int32 item index of each rating."""
        return self._items

    @property
    def ratings(self) -> np.ndarray:
        """Read-only float32 rating values, aligned with `users` and `items`."""
        return self._ratings

    @property
    def user_ids(self) -> np.ndarray:
        """Read-only array of original user ids; `user_ids[i]` is the id of user index `i`."""
        return self._user_ids

    @property
    def item_ids(self) -> np.ndarray:
        """Read-only array of original item ids; `item_ids[j]` is the id of item index `j`."""
        return self._item_ids

    @property
    def n_users(self) -> int:
        """Number of users (rows of `csr`), including users without ratings."""
        return len(self._user_ids)

    @property
    def n_items(self) -> int:
        """Number of items (columns of `csr`), including items without ratings."""
        return len(self._item_ids)

    @property
    def n_ratings(self) -> int:
        """Number of stored ratings."""
        return len(self._ratings)

    def __repr__(self):
        return (
            f"RatingMatrix(n_users={self.n_users}, n_items={self.n_items}, "
            f"n_ratings={self.n_ratings}, scale={self.scale}, step={self.step})"
        )

    # ----------------------------------------------------------------------------------------
    # Id maps

    def user_index(self, ids: ArrayLike, strict: bool = False) -> np.ndarray:
        """Map user ids to indices.

        Args:
            ids: one id, or a 1-D array-like of ids.
            strict: if True, raise on unknown ids instead of returning -1 for them.

        Returns:
            An int for a single id, else an int64 array; unknown ids map to -1.

        Raises:
            ValueError: with `strict=True`, if any id is unknown (count and up to 5 shown).

        Examples:
            >>> rm = RatingMatrix.from_arrays(["a", "b"], [1, 1], [3, 4])
            >>> rm.user_index(["b", "zz"]).tolist()
            [1, -1]
        """
        return self._lookup(self._user_ids, ids, strict, "user")

    def item_index(self, ids: ArrayLike, strict: bool = False) -> np.ndarray:
        """Map item ids to indices.

        Args:
            ids: one id, or a 1-D array-like of ids.
            strict: if True, raise on unknown ids instead of returning -1 for them.

        Returns:
            An int for a single id, else an int64 array; unknown ids map to -1.

        Raises:
            ValueError: with `strict=True`, if any id is unknown (count and up to 5 shown).

        Examples:
            >>> rm = RatingMatrix.from_arrays(["a", "b"], [1, 2], [3, 4])
            >>> rm.item_index(2)
            1
        """
        return self._lookup(self._item_ids, ids, strict, "item")

    @staticmethod
    def _lookup(known_ids, ids, strict, name):
        """Vectorised id -> index lookup shared by `user_index` and `item_index`."""
        scalar = np.ndim(ids) == 0
        query = _match_id_type(validation.as_column([ids] if scalar else ids), known_ids)
        indices = pd.Index(known_ids, tupleize_cols=False).get_indexer(query).astype(np.int64)
        unknown = np.flatnonzero(indices < 0)
        if strict and len(unknown):
            shown = ", ".join(repr(v) for v in query[unknown[: validation.MAX_SHOWN]].tolist())
            raise ValueError(
                f"{len(unknown)} unknown {name} id(s) (showing up to "
                f"{validation.MAX_SHOWN}): {shown}."
            )
        return int(indices[0]) if scalar else indices

    # ----------------------------------------------------------------------------------------
    # Dense rows

    def to_item_user_csr(self) -> sparse.csr_array:
        """Return the items x users CSR matrix (the model's orientation).

        The matrix is built once and cached; do not modify it in place.

        Returns:
            `scipy.sparse.csr_array` of shape `(n_items, n_users)` with float32 ratings.

        Examples:
            >>> rm = RatingMatrix.from_arrays([1, 2], [7, 7], [3, 4])
            >>> rm.to_item_user_csr().shape
            (1, 2)
        """
        if self._item_user_csr is None:
            self._item_user_csr = self.csr.T.tocsr()
            self._item_user_csr.sort_indices()
        return self._item_user_csr

    def item_rows(self, item_indices: ArrayLike) -> np.ndarray:
        """Dense rating vectors of some items over all users.

        Args:
            item_indices: item index or 1-D array of item indices (not ids; see `item_index`).

        Returns:
            float32 array of shape `(len(item_indices), n_users)`; 0 means "not rated".

        Raises:
            IndexError: if an index is not an integer in `[0, n_items)`.

        Examples:
            >>> rm = RatingMatrix.from_arrays([1, 2], [7, 8], [3, 4])
            >>> rm.item_rows([1, 0])
            array([[0., 4.],
                   [3., 0.]], dtype=float32)
        """
        indices = validation.check_indices(item_indices, self.n_items, "item")
        return self.to_item_user_csr()[indices].toarray()

    def user_rows(self, user_indices: ArrayLike) -> np.ndarray:
        """Dense rating vectors of some users over all items.

        Args:
            user_indices: user index or 1-D array of user indices (not ids; see `user_index`).

        Returns:
            float32 array of shape `(len(user_indices), n_items)`; 0 means "not rated".

        Raises:
            IndexError: if an index is not an integer in `[0, n_users)`.

        Examples:
            >>> rm = RatingMatrix.from_arrays([1, 2], [7, 8], [3, 4])
            >>> rm.user_rows(0)
            array([[3., 0.]], dtype=float32)
        """
        indices = validation.check_indices(user_indices, self.n_users, "user")
        return self.csr[indices].toarray()

    def to_dataframe(self) -> pd.DataFrame:
        """Return the ratings as a DataFrame with the original ids.

        Returns:
            `pandas.DataFrame` with columns `user`, `item`, `rating`, sorted by (user, item) index.

        Examples:
            >>> RatingMatrix.from_arrays(["u"], ["i"], [2.0]).to_dataframe().shape
            (1, 3)
        """
        return pd.DataFrame(
            {
                "user": self._user_ids[self._users],
                "item": self._item_ids[self._items],
                "rating": self._ratings,
            }
        )

    # ----------------------------------------------------------------------------------------
    # Splits

    def random_split(
        self, test_fraction: float = 0.2, seed: int = 0
    ) -> tuple[RatingMatrix, RatingMatrix]:
        """Split the ratings at random into train and test sets.

        This is the protocol of the HEM-AAE paper: a random `1 - test_fraction` /
        `test_fraction` split of the (user, item, rating) triples. The test set gets
        `round(test_fraction * n_ratings)` ratings, rounded half up.

        Args:
            test_fraction: fraction of ratings held out, in (0, 1).
            seed: seed of the NumPy random generator; the same seed gives the same split.

        Returns:
            `(train, test)` RatingMatrix objects that share this matrix's id maps, scale and
            shape, so user and item indices mean the same in all three.

        Raises:
            ValueError: if `test_fraction` is not in (0, 1), or if either side would be empty.

        Examples:
            >>> rm = RatingMatrix.from_arrays([1, 1, 2, 2, 3], [1, 2, 1, 2, 1], [1, 2, 3, 4, 5])
            >>> train, test = rm.random_split(0.2, seed=0)
            >>> train.n_ratings, test.n_ratings, test.n_users
            (4, 1, 3)
        """
        fraction = validation.validate_fraction(test_fraction, "test_fraction")
        n_test = int(np.floor(fraction * self.n_ratings + 0.5))
        if n_test in (0, self.n_ratings):
            raise ValueError(
                f"test_fraction={test_fraction!r} of {self.n_ratings} rating(s) leaves an "
                f"empty {'test' if n_test == 0 else 'train'} set."
            )
        rng = np.random.default_rng(seed)
        is_test = np.zeros(self.n_ratings, dtype=bool)
        is_test[rng.permutation(self.n_ratings)[:n_test]] = True
        return self._subset(~is_test), self._subset(is_test)

    def per_user_split(
        self, test_fraction: float = 0.2, seed: int = 0, min_train: int = 1
    ) -> tuple[RatingMatrix, RatingMatrix]:
        """Hold out a random fraction of each user's ratings.

        A user with `n` ratings gives `min(round(test_fraction * n), n - min_train)` of them
        (rounded half up, never below 0) to the test set, so users with at most `min_train`
        ratings stay entirely in train.

        Args:
            test_fraction: fraction of each user's ratings held out, in (0, 1).
            seed: seed of the NumPy random generator.
            min_train: number of ratings each user keeps in train at least (if they have them).

        Returns:
            `(train, test)` RatingMatrix objects that share this matrix's id maps, scale and
            shape.

        Raises:
            ValueError: if `test_fraction` is not in (0, 1), `min_train` is not a non-negative
                integer, or the test set would be empty.

        Examples:
            >>> rm = RatingMatrix.from_arrays([1] * 5 + [2] * 5, list(range(5)) * 2, [3] * 10)
            >>> train, test = rm.per_user_split(0.2, seed=0)
            >>> np.bincount(test.users).tolist()
            [1, 1]
        """
        fraction = validation.validate_fraction(test_fraction, "test_fraction")
        if not isinstance(min_train, (int, np.integer)) or min_train < 0:
            raise ValueError(
                f"`min_train` must be a non-negative integer, got min_train={min_train!r}."
            )
        counts = np.bincount(self._users, minlength=self.n_users)
        n_test = np.floor(fraction * counts + 0.5).astype(np.int64)
        n_test = np.clip(np.minimum(n_test, counts - min_train), 0, None)
        if n_test.sum() == 0:
            raise ValueError(
                f"test_fraction={test_fraction!r} with min_train={min_train!r} holds out no "
                f"rating of any user; the test set would be empty."
            )
        rng = np.random.default_rng(seed)
        # Rank each user's ratings by a random key; the n_test lowest ranks go to test.
        order = np.lexsort((rng.random(self.n_ratings), self._users))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(self.n_ratings, dtype=np.int64)
        rank[order] = np.arange(self.n_ratings) - starts[self._users[order]]
        is_test = rank < n_test[self._users]
        return self._subset(~is_test), self._subset(is_test)

    def _subset(self, mask):
        """A RatingMatrix with the masked ratings and the same (shared) id maps."""
        return RatingMatrix(
            self._users[mask],
            self._items[mask],
            self._ratings[mask],
            self._user_ids,
            self._item_ids,
            self.scale,
            self.step,
        )

    # ----------------------------------------------------------------------------------------
    # Serialisation

    def to_dict(self, include_ratings: bool = True) -> dict:
        """Describe the matrix as JSON-able data.

        Ids keep their type through `json.dumps` / `json.loads` (ints stay ints, strings stay
        strings).

        Args:
            include_ratings: if False, only the id maps, scale and step are kept (what a fitted
                model needs to map ids to indices), not the ratings themselves.

        Returns:
            A dict of lists, floats and strings.

        Raises:
            TypeError: if an id is not an int, float or str.

        Examples:
            >>> d = RatingMatrix.from_arrays(["a"], [3], [4.0]).to_dict()
            >>> d["user_ids"], d["item_ids"], d["ratings"]
            (['a'], [3], [4.0])
        """
        data = {
            "format": _DICT_FORMAT,
            "version": _DICT_VERSION,
            "user_ids": _ids_to_json(self._user_ids, "user"),
            "item_ids": _ids_to_json(self._item_ids, "item"),
            "scale": list(self.scale),
            "step": self.step,
        }
        if include_ratings:
            data["users"] = self._users.tolist()
            data["items"] = self._items.tolist()
            data["ratings"] = self._ratings.tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RatingMatrix:
        """Rebuild a RatingMatrix from `to_dict` output.

        Args:
            data: a dict produced by `to_dict` (possibly after a JSON round trip). Without
                ratings, the result has the id maps and no ratings.

        Returns:
            A new `RatingMatrix`.

        Raises:
            ValueError: if `data` is not in the `to_dict` format or its indices are invalid.

        Examples:
            >>> rm = RatingMatrix.from_arrays(["a", "b"], [3, 4], [4.0, 5.0])
            >>> RatingMatrix.from_dict(rm.to_dict()).user_ids.tolist()
            ['a', 'b']
        """
        if not isinstance(data, dict) or data.get("format") != _DICT_FORMAT:
            raise ValueError(f"Not a RatingMatrix dict (expected format={_DICT_FORMAT!r}).")
        if data.get("version") != _DICT_VERSION:
            raise ValueError(f"Unsupported RatingMatrix dict version={data.get('version')!r}.")
        user_ids = _normalise_ids(np.asarray(data["user_ids"], dtype=object))
        item_ids = _normalise_ids(np.asarray(data["item_ids"], dtype=object))
        users = np.asarray(data.get("users", []), dtype=np.int64)
        items = np.asarray(data.get("items", []), dtype=np.int64)
        ratings = np.asarray(data.get("ratings", []), dtype=np.float32)
        return cls(users, items, ratings, user_ids, item_ids, data["scale"], data["step"])

    def get_config(self) -> dict:
        """Return the id maps, scale and step (no ratings) as JSON-able data.

        Returns:
            `to_dict(include_ratings=False)`.

        Examples:
            >>> sorted(RatingMatrix.from_arrays([1], [2], [3]).get_config())[:3]
            ['format', 'item_ids', 'scale']
        """
        return self.to_dict(include_ratings=False)

    @classmethod
    def from_config(cls, config: dict) -> RatingMatrix:
        """Rebuild a rating-free RatingMatrix (id maps only) from `get_config` output.

        Args:
            config: a dict produced by `get_config`.

        Returns:
            A `RatingMatrix` with the saved id maps and no ratings.

        Examples:
            >>> rm = RatingMatrix.from_arrays([1], [2], [3])
            >>> RatingMatrix.from_config(rm.get_config()).n_ratings
            0
        """
        return cls.from_dict(config)
