"""Input checks shared by every `RatingMatrix` constructor.

Every check is vectorised and raises a `ValueError` whose message names the offending column,
says how many rows are bad and shows up to `MAX_SHOWN` of them, so that a bad input file can be
fixed without a debugger. Nothing is dropped or repaired silently: the only transformation is the
explicit duplicate policy (`duplicates="last"` or `"mean"`).

Ratings must be strictly positive. `RatingMatrix` stores ratings explicitly in a sparse matrix,
but the dense rows fed to the models (`RatingMatrix.item_rows`) use `0` for "not rated", so a
rating of `0` (or below) could not be told apart from a missing entry there.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd

from keras_hem.arguments import check_choice
from keras_hem.types import ArrayLike

MAX_SHOWN = 5
DUPLICATE_POLICIES = ("error", "last", "mean")

# Ratings that lie this close to a grid point (in units of `step`) count as on the grid; this
# absorbs float noise such as 3.4999999 coming from a CSV written by another tool.
GRID_TOLERANCE = 1e-6


def describe_rows(positions, values, labels=None):
    """Format up to `MAX_SHOWN` offending rows for an error message.

    Args:
        positions: 1-D integer array of the offending row positions.
        values: array-like indexed by position; the value shown for each row.
        labels: optional array-like indexed by position giving the name of each row (for example
            a DataFrame index). Defaults to the position itself.

    Returns:
        A string such as `"row 3: nan, row 7: inf"`, followed by `", ..."` when rows are omitted.

    Examples:
        >>> describe_rows(np.array([1]), np.array([0.0, -1.0]))
        'row 1: -1.0'
    """
    shown = np.asarray(positions)[:MAX_SHOWN]
    parts = []
    for pos in shown.tolist():
        label = pos if labels is None else labels[pos]
        value = values[pos]
        value = value.item() if isinstance(value, np.generic) else value
        parts.append(f"row {label!r}: {value!r}")
    more = ", ..." if len(positions) > MAX_SHOWN else ""
    return ", ".join(parts) + more


def bad_rows_error(column, problem, positions, values, labels=None):
    """Build the `ValueError` raised for rows that fail a check.

    Args:
        column: name of the column (or argument) the bad values come from.
        problem: what is wrong with them, phrased to follow "N rows ...".
        positions: 1-D integer array of the offending row positions (not empty).
        values: array-like of the column's values, indexed by position.
        labels: optional row names, indexed by position.

    Returns:
        A `ValueError` ready to be raised.

    Examples:
        >>> str(bad_rows_error("rating", "are NaN", np.array([0]), [float("nan")]))
        "Column 'rating': 1 row(s) are NaN (showing up to 5): row 0: nan."
    """
    n_bad = len(positions)
    shown = describe_rows(positions, values, labels)
    return ValueError(
        f"Column {column!r}: {n_bad} row(s) {problem} (showing up to {MAX_SHOWN}): {shown}."
    )


def check_columns(frame, columns):
    """Check that a DataFrame has the given columns.

    Args:
        frame: the `pandas.DataFrame` to check.
        columns: names of the required columns.

    Raises:
        TypeError: if `frame` is not a DataFrame.
        ValueError: if any column is missing; the message lists the available columns.

    Examples:
        >>> check_columns(pd.DataFrame({"user": [1]}), ["user"])
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame, got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"Missing column(s) {missing}; the DataFrame has columns {list(frame.columns)}."
        )


def check_same_length(arrays):
    """Check that named 1-D arrays all have the same length.

    Args:
        arrays: mapping from argument name to array-like.

    Raises:
        ValueError: if an array is not 1-D or the lengths differ; the message gives every length.

    Examples:
        >>> check_same_length({"users": [1, 2], "items": [3, 4]})
    """
    lengths = {}
    for name, values in arrays.items():
        ndim = np.ndim(values)
        if ndim != 1:
            raise ValueError(f"`{name}` must be 1-D, got an array with {ndim} dimension(s).")
        lengths[name] = len(values)
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"Arrays must have the same length, got lengths {detail}.")


def check_not_empty(n_rows, what):
    """Raise if there are no ratings.

    Args:
        n_rows: number of input rows.
        what: description of the input, used in the message (e.g. `"DataFrame"`).

    Raises:
        ValueError: if `n_rows` is 0.

    Examples:
        >>> check_not_empty(3, "DataFrame")
    """
    if n_rows == 0:
        raise ValueError(f"The {what} holds no ratings; at least one rating is needed.")


def check_ids(values, column, labels=None):
    """Check that a column of user or item ids has no missing values.

    Args:
        values: 1-D array-like of ids.
        column: column name used in the error message.
        labels: optional row names, indexed by position.

    Raises:
        ValueError: if any id is missing (None, NaN or NA).

    Examples:
        >>> check_ids(np.array(["a", "b"], dtype=object), "user")
    """
    missing = np.flatnonzero(np.asarray(pd.isna(values)))
    if len(missing):
        raise bad_rows_error(column, "have a missing id", missing, values, labels)


def coerce_ratings(values, column, labels=None):
    """Convert ratings to float64 and check they are numeric, finite and positive.

    Args:
        values: 1-D array-like of ratings (numbers, or strings holding numbers).
        column: column name used in the error messages.
        labels: optional row names, indexed by position.

    Returns:
        The ratings as a float64 NumPy array.

    Raises:
        ValueError: if the column is boolean, if any value is not a number, is NaN or infinite,
            or is `<= 0` (dense rows use 0 for "missing", so such ratings would vanish there).

    Examples:
        >>> coerce_ratings(["4", 3.5], "rating")
        array([4. , 3.5])
    """
    series = pd.Series(values, copy=False)
    if pd.api.types.is_bool_dtype(series.dtype):
        raise ValueError(f"Column {column!r} is boolean; ratings must be numbers.")
    numeric = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    non_numeric = np.isnan(numeric) & ~np.asarray(pd.isna(series))
    if non_numeric.any():
        raise bad_rows_error(
            column, "are not numbers", np.flatnonzero(non_numeric), series.to_numpy(), labels
        )
    not_finite = ~np.isfinite(numeric)
    if not_finite.any():
        raise bad_rows_error(
            column, "are NaN, missing or infinite", np.flatnonzero(not_finite), numeric, labels
        )
    not_positive = numeric <= 0
    if not_positive.any():
        raise bad_rows_error(
            column,
            "are <= 0; ratings must be > 0 because dense rating rows use 0 for a missing "
            "rating, so these could not be told apart from unrated entries",
            np.flatnonzero(not_positive),
            numeric,
            labels,
        )
    return numeric


def validate_scale(scale, step):
    """Check a declared rating scale and grid step.

    Args:
        scale: `None` (infer from the data) or a `(min, max)` pair of finite numbers with
            `min <= max`.
        step: `None` (no grid) or a positive finite number.

    Returns:
        `(scale, step)` as `(tuple of two floats or None, float or None)`.

    Raises:
        ValueError: if `scale` or `step` is malformed; the message quotes the bad value.

    Examples:
        >>> validate_scale((1, 5), 1)
        ((1.0, 5.0), 1.0)
    """
    if scale is not None:
        try:
            low, high = (float(v) for v in scale)
        except (TypeError, ValueError):
            raise ValueError(f"`scale` must be a (min, max) pair, got scale={scale!r}.") from None
        if not (np.isfinite(low) and np.isfinite(high) and low <= high):
            raise ValueError(f"`scale` must be finite with min <= max, got scale={scale!r}.")
        scale = (low, high)
    if step is not None:
        if not isinstance(step, numbers.Real) or not np.isfinite(step) or step <= 0:
            raise ValueError(f"`step` must be a positive number, got step={step!r}.")
        step = float(step)
    return scale, step


def check_scale(ratings, scale, step, column, labels=None):
    """Check ratings against the declared scale and grid, or infer the scale.

    Args:
        ratings: float64 array of ratings (already passed through `coerce_ratings`).
        scale: validated `(min, max)` pair, or `None` to infer `(ratings.min(), ratings.max())`.
        step: validated grid step or `None`. Ratings must equal `origin + j * step` for an
            integer `j` (within `GRID_TOLERANCE` steps), where `origin` is the declared scale
            minimum, or 0 when the scale is inferred (ratings must then be multiples of `step`).
        column: column name used in the error messages.
        labels: optional row names, indexed by position.

    Returns:
        The scale as a `(min, max)` tuple of floats.

    Raises:
        ValueError: if a rating lies outside the declared scale or off the grid.

    Examples:
        >>> check_scale(np.array([1.0, 4.5]), (0.5, 5.0), 0.5, "rating")
        (0.5, 5.0)
    """
    declared = scale is not None
    if not declared:
        scale = (float(ratings.min()), float(ratings.max()))
        _warn_stretched_scale(ratings, scale, column)
    else:
        outside = (ratings < scale[0]) | (ratings > scale[1])
        if outside.any():
            raise bad_rows_error(
                column,
                f"are outside the declared scale {scale!r}",
                np.flatnonzero(outside),
                ratings,
                labels,
            )
    if step is not None:
        # An inferred minimum may itself be off the grid, so the grid is anchored at 0 then.
        origin = scale[0] if declared else 0.0
        units = (ratings - origin) / step
        off_grid = np.abs(units - np.round(units)) > GRID_TOLERANCE
        if off_grid.any():
            raise bad_rows_error(
                column,
                f"are not on the rating grid {origin!r} + j * {step!r}",
                np.flatnonzero(off_grid),
                ratings,
                labels,
            )
    return scale


def _warn_stretched_scale(ratings, scale, column):
    """Warn when a few far-out ratings stretch an inferred scale (e.g. one 1000 among 1-5).

    The bulk of the ratings spans their 1st to 99th percentile (taken at observed values); a
    rating more than that span beyond it is far outside anything else in the data.
    """
    if len(ratings) < 10:
        return
    low = np.percentile(ratings, 1, method="higher")
    high = np.percentile(ratings, 99, method="lower")
    span = max(high - low, 1e-12)
    far = (ratings > high + span) | (ratings < low - span)
    if far.any():
        warnings.warn(
            f"Column {column!r}: {int(far.sum())} rating(s) lie far outside the rest "
            f"(most are in [{low:g}, {high:g}]) and stretch the inferred scale to "
            f"({scale[0]:g}, {scale[1]:g}), e.g. {ratings[far][:3].tolist()}. Declare the "
            "scale to reject them (`scale=(low, high)`, or --scale LOW,HIGH).",
            UserWarning,
            stacklevel=4,
        )


def validate_duplicates_policy(duplicates):
    """Check the `duplicates` argument.

    Args:
        duplicates: one of `DUPLICATE_POLICIES`.

    Returns:
        `duplicates`, unchanged.

    Raises:
        ValueError: if it is not a supported policy.

    Examples:
        >>> validate_duplicates_policy("mean")
        'mean'
    """
    check_choice("duplicates", duplicates, DUPLICATE_POLICIES)
    return duplicates


def resolve_duplicates(
    users, items, ratings, n_items, duplicates, pair_labels, column="(user, item)", labels=None
):
    """Sort ratings by (user, item) and apply the duplicate policy.

    Args:
        users: int array of user indices.
        items: int array of item indices.
        ratings: float64 array of ratings.
        n_items: number of items (used to build a single sort key per pair).
        duplicates: `"error"` raises on a repeated (user, item) pair, `"last"` keeps the rating
            that comes last in the input, `"mean"` averages the repeated ratings (the mean of
            ratings on a grid may fall between grid points; it is kept as is).
        pair_labels: callable mapping an array of positions to a list of `(user_id, item_id)`
            tuples, used to show the offending pairs with their original ids.
        column: name of the id column pair, used in the error message.
        labels: optional row names, indexed by position.

    Returns:
        `(users, items, ratings)`, sorted by user then item, one entry per pair.

    Raises:
        ValueError: with `duplicates="error"`, if any (user, item) pair occurs more than once.

    Examples:
        >>> u, i, r = resolve_duplicates(
        ...     np.array([0, 0]), np.array([1, 1]), np.array([2.0, 4.0]), 2, "mean", None)
        >>> r
        array([3.])
    """
    keys = users.astype(np.int64) * n_items + items.astype(np.int64)
    # A stable sort keeps equal keys in input order, which is what "last" relies on.
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    if len(starts) == len(keys):
        return users[order], items[order], ratings[order]
    if duplicates == "error":
        counts = np.diff(np.r_[starts, len(keys)])
        repeated = np.repeat(counts > 1, counts)
        positions = np.sort(order[repeated])
        raise bad_rows_error(
            column,
            "repeat a (user, item) pair already rated; pass duplicates='last' or 'mean' "
            "to resolve them",
            positions,
            dict(
                zip(positions[:MAX_SHOWN].tolist(), pair_labels(positions[:MAX_SHOWN]), strict=True)
            ),
            labels,
        )
    if duplicates == "last":
        ends = np.r_[starts[1:], len(keys)] - 1
        chosen = order[ends]
        return users[chosen], items[chosen], ratings[chosen]
    first = order[starts]
    counts = np.diff(np.r_[starts, len(keys)])
    means = np.add.reduceat(ratings[order], starts) / counts
    return users[first], items[first], means


def validate_fraction(value, name):
    """Check that a split fraction lies strictly between 0 and 1.

    Args:
        value: the fraction.
        name: argument name used in the message.

    Returns:
        `value` as a float.

    Raises:
        ValueError: if `value` is not a number in (0, 1).

    Examples:
        >>> validate_fraction(0.2, "test_fraction")
        0.2
    """
    if not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
        raise ValueError(f"`{name}` must be a number in (0, 1), got {name}={value!r}.")
    return float(value)


def as_column(values: ArrayLike) -> np.ndarray:
    """A 1-D array-like as a NumPy array, without losing mixed id types.

    Args:
        values: ids or ratings (a list, Series or array).

    Returns:
        The array itself when `values` is one; otherwise the column pandas infers (int64, str
        or object), so that a list of ints and strings keeps both kinds.
    """
    if isinstance(values, np.ndarray):
        return values
    # A Series infers int64 / str / object column by column; np.asarray would turn a list of
    # ints and strings into all strings.
    return pd.Series(values, copy=False).to_numpy()


def check_indices(indices: ArrayLike, size: int, name: str) -> np.ndarray:
    """`indices` as a 1-D int array, each in `[0, size)`.

    Args:
        indices: integer indices (a scalar or 1-D).
        size: the number of valid indices.
        name: what they index (`"user"`, `"item"`), for the message.

    Returns:
        The indices as a 1-D integer array.

    Raises:
        IndexError: for a non-integer or multi-dimensional input, or indices out of range
            (up to `MAX_SHOWN` of them shown).
    """
    indices = np.atleast_1d(np.asarray(indices))
    if indices.ndim != 1 or not (indices.size == 0 or np.issubdtype(indices.dtype, np.integer)):
        raise IndexError(
            f"{name} indices must be a 1-D array of integers, got dtype={indices.dtype} "
            f"and shape={indices.shape}."
        )
    bad = np.flatnonzero((indices < 0) | (indices >= size))
    if len(bad):
        shown = ", ".join(str(v) for v in indices[bad[:MAX_SHOWN]].tolist())
        raise IndexError(
            f"{len(bad)} {name} index(es) are outside [0, {size}) (showing up to "
            f"{MAX_SHOWN}): {shown}. Note that -1 marks an unknown id in "
            f"{name}_index()."
        )
    return indices.astype(np.intp, copy=False)
