"""Reading a ratings table from a delimited text file (CSV, TSV, ...), compressed or not.

What belongs here: turning a file into the `user`, `item`, `rating` (and `timestamp`)
DataFrame that `keras_hem.data.RatingMatrix.from_dataframe` checks. Nothing here knows a
particular data set; `keras_hem.datasets.movielens` uses it for its derived CSV copies and
`keras-hem fit --data FILE.csv` for a user's own file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from keras_hem.data import validation

__all__ = ["COLUMNS", "load_csv"]

#: The column names of every ratings DataFrame this package returns.
COLUMNS = ("user", "item", "rating", "timestamp")

# The first bytes of the compressed formats pandas reads, for files whose name does not say.
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def _sniff_compression(path):
    """The `compression` argument of pandas for `path`: from its content if its name says none."""
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        return "infer"
    suffix = Path(path).suffix.lower()
    if suffix in (".gz", ".zip", ".bz2", ".xz", ".zst", ".tar"):
        return "infer"
    with open(path, "rb") as f:
        head = f.read(6)
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def load_csv(
    path: str | os.PathLike,
    columns: Sequence[str] = ("user", "item", "rating"),
    sep: str = ",",
    header: bool = True,
    encoding: str | None = None,
) -> pd.DataFrame:
    r"""Read a user's own ratings file.

    Args:
        path: path (or file-like object) of a delimited text file, optionally compressed
            (gzip, bz2, zip, xz or zstd, told by the file name or, failing that, by the
            file's first bytes).
        columns: with `header=True`, the names, in the file's header, of the user, item and
            rating columns, plus optionally a timestamp column; other columns are ignored.
            With `header=False`, the file must have exactly `len(columns)` fields per line, in
            the order user, item, rating[, timestamp].
        sep: field separator.
        header: whether the first line is a header.
        encoding: the file's text encoding (e.g. `"latin-1"`); `None` reads UTF-8.

    Returns:
        `pandas.DataFrame` with columns `user`, `item`, `rating` (and `timestamp` when four
        columns are given), with the types pandas infers. Ratings are not validated here;
        `RatingMatrix.from_dataframe` does that.

    Raises:
        ValueError: if `columns` does not have 3 or 4 names, a named column is missing, the
            field count does not match (`header=False`), or the file holds no rows.

    Examples:
        >>> import io
        >>> frame = load_csv(io.StringIO("u,i,r\n1,2,4.5\n"), columns=("u", "i", "r"))
        >>> list(frame.columns)
        ['user', 'item', 'rating']
    """
    columns = tuple(columns)
    if len(columns) not in (3, 4):
        raise ValueError(
            f"`columns` must name user, item, rating and optionally timestamp, got "
            f"columns={columns!r}."
        )
    compression = _sniff_compression(path)
    if header:
        frame = pd.read_csv(path, sep=sep, encoding=encoding, compression=compression)
        validation.check_columns(frame, columns)
        frame = frame.loc[:, list(columns)]
    else:
        frame = pd.read_csv(
            path,
            sep=sep,
            header=None,
            index_col=False,
            encoding=encoding,
            compression=compression,
        )
        if frame.shape[1] != len(columns):
            raise ValueError(
                f"{path} has {frame.shape[1]} field(s) per line, but columns={columns!r} names "
                f"{len(columns)}."
            )
    validation.check_not_empty(len(frame), f"file {path}")
    frame.columns = list(COLUMNS[: len(columns)])
    return frame
