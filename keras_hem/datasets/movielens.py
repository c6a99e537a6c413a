"""MovieLens 100K and 1M ratings: a local copy when there is one, else a verified download.

Where the ratings come from, in order:

1. the `data_dir` argument, else the folder named by the `KERAS_HEM_DATA` environment variable.
   A folder that is given but lacks the files is an error (no silent download). In it,
   `load_data` accepts:

   * ML-100K: `ml-100k/u.data`, then `ml-100k.zip`;
   * ML-1M: `ml-1m/ratings.dat`, `ml-1m/ratings.dat.gz`, `ml-1m.zip`, and as a last resort
     `ml-1m/ratings.csv.gz`, a derived copy (header `user,item,rating`, complete but without
     timestamps) that is loaded with a warning. `ratings.PARTIAL-users1-2999.dat.gz` is a subset
     of ML-1M and is never accepted.

2. otherwise the Keras cache (`cache_dir`, default `$KERAS_HOME` or `~/.keras`, sub-folder
   `keras_hem`), downloading the official GroupLens zip there with `keras.utils.get_file` if
   needed. The base URL can be overridden with the `origin` argument or the
   `KERAS_HEM_MOVIELENS_URL` environment variable (`{origin}/{name}.zip` is fetched).

Every official-format ratings file is checked against the SHA-256 of the GroupLens original
(`RATINGS_SHA256`; the derived ML-1M copy against `DERIVED_ML1M_CSV_SHA256`), so a truncated or
edited file is not mistaken for the benchmark. The check is on the extracted ratings file rather
than on the zip so that any repackaging of the same data passes. A download that fails the check
is deleted with everything extracted from it. Zip members whose path is absolute or contains
`..` are refused before anything is extracted.

MovieLens is (c) GroupLens Research; its licence forbids redistribution, so keep the files out
of any repository or package.

Keras (and so TensorFlow) is imported only when a download is needed.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import os
import shutil
import warnings
import zipfile
from pathlib import Path, PurePosixPath

import pandas as pd

from keras_hem.data import validation

logger = logging.getLogger(__name__)

DATASETS = ("ml-100k", "ml-1m")
DEFAULT_ORIGIN = "https://files.grouplens.org/datasets/movielens"
ENV_DATA_DIR = "KERAS_HEM_DATA"
ENV_ORIGIN = "KERAS_HEM_MOVIELENS_URL"
CACHE_SUBDIR = "keras_hem"
COLUMNS = ("user", "item", "rating", "timestamp")

# SHA-256 of the official, uncompressed ratings file, wherever it is read from (loose file,
# gzip or zip member). Both values are published independently for the GroupLens files.
RATINGS_SHA256 = {
    "ml-100k": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "ml-1m": "506d64ca44484487c11dc2d9a28de5c54948213e6b96285e298afe28d6ea4e0f",
}
# SHA-256 of the uncompressed derived ML-1M ratings (`ml-1m/ratings.csv.gz`).
DERIVED_ML1M_CSV_SHA256 = "f25237984b8301576cbbf40979b8ea7847d3fd654b010494fe1e5d021cda0c05"

_RATINGS_MEMBER = {"ml-100k": "ml-100k/u.data", "ml-1m": "ml-1m/ratings.dat"}
_TITLES_MEMBER = {"ml-100k": "ml-100k/u.item", "ml-1m": "ml-1m/movies.dat"}
_SEPARATOR = {"ml-100k": b"\t", "ml-1m": b"::"}
_TITLES_SEPARATOR = {"ml-100k": "|", "ml-1m": "::"}


def _check_name(name):
    """Raise `ValueError` unless `name` is a supported data set."""
    if name not in DATASETS:
        raise ValueError(f"`name` must be one of {DATASETS}, got name={name!r}.")


def _candidates(name, folder):
    """Accepted local sources for `name` in `folder`, best first, as `(kind, path)` pairs."""
    if name == "ml-100k":
        return [("file", folder / "ml-100k" / "u.data"), ("zip", folder / "ml-100k.zip")]
    return [
        ("file", folder / "ml-1m" / "ratings.dat"),
        ("gzip", folder / "ml-1m" / "ratings.dat.gz"),
        ("zip", folder / "ml-1m.zip"),
        ("derived", folder / "ml-1m" / "ratings.csv.gz"),
    ]


def _find_source(name, folder):
    """Return the first accepted `(kind, path)` present in `folder`, or `None`."""
    for kind, path in _candidates(name, folder):
        if path.is_file():
            return kind, path
    return None


def _data_folder(data_dir):
    """The folder to read from and how it was chosen, or `(None, None)` to use the cache."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "the data_dir argument"
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser(), f"the {ENV_DATA_DIR} environment variable"
    return None, None


def _cache_root(cache_dir):
    """The Keras cache folder `keras.utils.get_file` will use for `cache_dir`."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))).expanduser()


def _expected_files(name):
    """Human-readable list of the file names `load_data` accepts for `name`."""
    names = [str(path) for _, path in _candidates(name, Path())]
    if name == "ml-1m":
        names[-1] += " (derived copy, no timestamps)"
    return ", ".join(names)


def _not_found_message(name, folder, how):
    """Error text for a data folder that lacks `name`."""
    message = (
        f"MovieLens {name!r} was not found in {folder} (chosen by {how}). Expected one of: "
        f"{_expected_files(name)}, relative to that folder. Put the GroupLens files there, "
        f"point data_dir or {ENV_DATA_DIR} at a folder that holds them, or leave both unset "
        f"to download {name}.zip into the Keras cache."
    )
    if name == "ml-1m" and any((folder / "ml-1m").glob("ratings.PARTIAL*")):
        message += (
            " (ratings.PARTIAL-* files hold only part of ML-1M and are never loaded as ML-1M.)"
        )
    return message


def _sha256(content):
    """Hex SHA-256 of a bytes object."""
    return hashlib.sha256(content).hexdigest()


def _verify(content, expected, source):
    """Raise `ValueError` if `content` does not have the expected SHA-256."""
    actual = _sha256(content)
    if actual != expected:
        raise ValueError(
            f"{source} has SHA-256 {actual}, but the expected file has {expected}. It is not the "
            f"original MovieLens file (truncated, edited or another version); pass verify=False "
            f"to load it anyway."
        )


def _read_bytes(name, kind, path, member):
    """Uncompressed content of a source of kind `file`, `gzip`, `derived` or `zip`."""
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as archive:
                if member not in archive.namelist():
                    raise ValueError(f"{path} has no member {member!r}; it is not a {name} zip.")
                return archive.read(member)
        except zipfile.BadZipFile:
            raise ValueError(
                f"{path} is not a zip archive (damaged or another kind of file); delete it, or "
                "replace it with the original from GroupLens."
            ) from None
    raw = path.read_bytes()
    if kind not in ("gzip", "derived"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError):
        raise ValueError(
            f"{path} is not a complete gzip file (truncated or damaged); delete it, or replace "
            "it with the original."
        ) from None


def _parse_official(content, name):
    """Parse official `user<sep>item<sep>rating<sep>timestamp` lines into a DataFrame."""
    separator = _SEPARATOR[name]
    if separator != b"\t":
        # The C parser needs a one-character separator; "::" never occurs inside a field.
        content = content.replace(separator, b"\t")
    frame = pd.read_csv(
        io.BytesIO(content),
        sep="\t",
        header=None,
        names=list(COLUMNS),
        index_col=False,
        dtype="int64",
    )
    frame["timestamp"] = frame["timestamp"].astype("Int64")
    return frame


def _parse_derived(content):
    """Parse the derived `user,item,rating` ML-1M copy; its timestamps are NA."""
    frame = pd.read_csv(io.BytesIO(content), dtype="int64")
    if list(frame.columns) != ["user", "item", "rating"]:
        raise ValueError(
            f"The derived ML-1M copy must have the header user,item,rating, got "
            f"{list(frame.columns)}."
        )
    frame["timestamp"] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    return frame


def _load_source(name, kind, path, verify):
    """Read, verify and parse one local source of `name`."""
    content = _read_bytes(name, kind, path, _RATINGS_MEMBER[name])
    source = f"{path}!{_RATINGS_MEMBER[name]}" if kind == "zip" else str(path)
    if kind == "derived":
        warnings.warn(
            f"Loading {path}: a derived copy of the ML-1M ratings (complete, 1,000,209 ratings, "
            f"but without timestamps, which are NA). Use ml-1m/ratings.dat for the original.",
            UserWarning,
            stacklevel=3,
        )
        if verify:
            _verify(content, DERIVED_ML1M_CSV_SHA256, source)
        frame = _parse_derived(content)
    else:
        logger.info("Loading MovieLens %s from %s", name, source)
        if verify:
            _verify(content, RATINGS_SHA256[name], source)
        frame = _parse_official(content, name)
    frame.attrs["source"] = source
    frame.attrs["derived"] = kind == "derived"
    return frame


def _safe_extract(zip_path, target):
    """Extract a zip into `target`, refusing members that would land outside it.

    Every member is checked before anything is written, so a refused archive leaves no file.

    Raises:
        ValueError: naming the first member with an absolute path or a `..` component.
    """
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with zipfile.ZipFile(zip_path) as archive:
        for member in archive.namelist():
            parts = PurePosixPath(member.replace("\\", "/")).parts
            # Backslashes and drive letters ("C:") matter when the cache is on Windows.
            escapes = ".." in parts or member.startswith(("/", "\\")) or ":" in member
            if escapes or not (root / member).resolve().is_relative_to(root):
                raise ValueError(
                    f"Refusing to extract {zip_path}: member {member!r} would be written "
                    f"outside {target}."
                )
        archive.extractall(root)


def _download(name, origin, cache_dir):
    """Download, extract and verify `name` into the cache; return the ratings file path."""
    base = origin or os.environ.get(ENV_ORIGIN) or DEFAULT_ORIGIN
    url = f"{base.rstrip('/')}/{name}.zip"
    root = _cache_root(cache_dir)
    # get_file silently switches to /tmp/.keras when the cache folder does not exist yet.
    root.mkdir(parents=True, exist_ok=True)
    import keras  # Deferred: importing Keras loads its backend (TensorFlow), which is slow.

    try:
        zip_path = Path(
            keras.utils.get_file(
                fname=f"{name}.zip", origin=url, cache_dir=str(root), cache_subdir=CACHE_SUBDIR
            )
        )
    except Exception as err:
        raise FileNotFoundError(
            f"Could not download MovieLens {name!r} from {url} ({err}). Without network access, "
            f"put a local copy (one of: {_expected_files(name)}) in a folder and pass "
            f"data_dir=<folder> or set {ENV_DATA_DIR}=<folder>."
        ) from err
    folder = zip_path.parent
    staging = folder / f".{name}-extracting"
    try:
        if not zipfile.is_zipfile(zip_path):
            raise ValueError(
                f"What was downloaded from {url} is not a zip archive (a proxy page or an "
                "interrupted transfer?); it was deleted, so the next run downloads it again."
            )
        _safe_extract(zip_path, staging)
        ratings = staging / _RATINGS_MEMBER[name]
        if not ratings.is_file():
            raise ValueError(f"{url} has no member {_RATINGS_MEMBER[name]!r}.")
        _verify(ratings.read_bytes(), RATINGS_SHA256[name], f"{url}!{_RATINGS_MEMBER[name]}")
        final = folder / name
        if final.exists():
            shutil.rmtree(final)
        (staging / name).rename(final)
    except BaseException:
        # Leave nothing behind: a bad archive must not be picked up from the cache next time.
        zip_path.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return final / PurePosixPath(_RATINGS_MEMBER[name]).name


def _cached_ratings(name, cache_dir):
    """Path of an already extracted ratings file in the cache, or `None`."""
    path = _cache_root(cache_dir) / CACHE_SUBDIR / _RATINGS_MEMBER[name]
    return path if path.is_file() else None


def load_data(name="ml-100k", data_dir=None, origin=None, cache_dir=None, verify=True):
    """Load MovieLens ratings as a DataFrame.

    See the module docstring for where the files are looked for and how they are checked.

    Args:
        name: `"ml-100k"` or `"ml-1m"`.
        data_dir: folder holding a local copy (see the accepted file names above). Overrides
            `KERAS_HEM_DATA`. When either is set, nothing is downloaded.
        origin: base URL to download `{origin}/{name}.zip` from; defaults to
            `KERAS_HEM_MOVIELENS_URL`, else the GroupLens server.
        cache_dir: Keras cache folder for downloads (default `$KERAS_HOME` or `~/.keras`).
        verify: check local files against the SHA-256 of the original. Downloads are always
            checked.

    Returns:
        `pandas.DataFrame` with int64 columns `user`, `item`, `rating` and a nullable Int64
        `timestamp` (NA for the derived ML-1M copy), one row per rating in file order.
        `attrs["source"]` names the file read and `attrs["derived"]` is True for the derived copy.

    Raises:
        ValueError: for an unknown `name`, a checksum mismatch, or a zip member that escapes the
            extraction folder.
        FileNotFoundError: if the chosen folder lacks the files, or no local copy exists and the
            download fails; the message says where to put the files.

    Examples:
        >>> ratings = load_data("ml-100k", data_dir="/data/movielens")  # doctest: +SKIP
        >>> ratings.shape  # doctest: +SKIP
        (100000, 4)
    """
    _check_name(name)
    folder, how = _data_folder(data_dir)
    if folder is not None:
        found = _find_source(name, folder)
        if found is None:
            raise FileNotFoundError(_not_found_message(name, folder, how))
        return _load_source(name, *found, verify=verify)
    cached = _cached_ratings(name, cache_dir)
    if cached is not None:
        try:
            return _load_source(name, "file", cached, verify=True)
        except ValueError:
            logger.warning("Cached %s failed its checksum; downloading it again.", cached)
            shutil.rmtree(cached.parent)
    path = _download(name, origin, cache_dir)
    # _download has just verified the file.
    return _load_source(name, "file", path, verify=False)


def _read_titles(content, name):
    """Parse `u.item` or `movies.dat` content (latin-1) into an id -> title Series."""
    text = content.decode("latin-1")
    separator = _TITLES_SEPARATOR[name]
    if len(separator) > 1:
        text = text.replace(separator, "\t")
        separator = "\t"
    frame = pd.read_csv(
        io.StringIO(text),
        sep=separator,
        header=None,
        usecols=[0, 1],
        names=["item", "title"],
        index_col=False,
        quoting=csv.QUOTE_NONE,
        dtype={"item": "int64", "title": str},
        keep_default_na=False,
    )
    return pd.Series(
        frame["title"].to_numpy(), index=pd.Index(frame["item"], name="item"), name="title"
    )


def load_titles(name="ml-100k", data_dir=None, cache_dir=None):
    """Load movie titles, if a local or cached copy of the title file exists.

    Nothing is downloaded: the file is read from `data_dir` (else `KERAS_HEM_DATA`) as
    `{name}/u.item` / `{name}/movies.dat` or from `{name}.zip`, else from a previous download
    in the Keras cache.

    Args:
        name: `"ml-100k"` (`u.item`) or `"ml-1m"` (`movies.dat`); both are latin-1 encoded.
        data_dir: folder holding a local copy; overrides `KERAS_HEM_DATA`.
        cache_dir: Keras cache folder used by `load_data` downloads.

    Returns:
        `pandas.Series` of titles indexed by item id (index name `item`), or `None` when no
        title file is found.

    Raises:
        ValueError: for an unknown `name`.

    Examples:
        >>> load_titles("ml-100k", data_dir="/data/movielens")[1]  # doctest: +SKIP
        'Toy Story (1995)'
    """
    _check_name(name)
    member = _TITLES_MEMBER[name]
    folder, _ = _data_folder(data_dir)
    if folder is None:
        folder = _cache_root(cache_dir) / CACHE_SUBDIR
    path = folder / member
    if path.is_file():
        return _read_titles(path.read_bytes(), name)
    zip_path = folder / f"{name}.zip"
    if zip_path.is_file():
        with zipfile.ZipFile(zip_path) as archive:
            if member in archive.namelist():
                return _read_titles(archive.read(member), name)
    return None


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


def load_csv(path, columns=("user", "item", "rating"), sep=",", header=True, encoding=None):
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
