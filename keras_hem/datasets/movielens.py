"""MovieLens 100K to 25M ratings: a local copy when there is one, else a verified download.

Where the ratings come from, in order:

1. the `data_dir` argument, else the folder named by the `KERAS_HEM_DATA` environment variable.
   A folder that is given but lacks the files is an error (no silent download). In it,
   `load_data` accepts:

   * ML-100K: `ml-100k/u.data`, then `ml-100k.zip`;
   * ML-1M: `ml-1m/ratings.dat`, `ml-1m/ratings.dat.gz`, `ml-1m.zip`, and as a last resort
     `ml-1m/ratings.csv.gz`, a derived copy (header `user,item,rating`, complete but without
     timestamps) that is loaded with a warning. `ratings.PARTIAL-users1-2999.dat.gz` is a subset
     of ML-1M and is never accepted.
   * ML-10M: `ml-10M100K/ratings.dat` (the folder name inside the official zip),
     `ml-10m/ratings.dat`, then `ml-10m.zip`;
   * ML-20M and ML-25M: `ml-20m/ratings.csv` / `ml-25m/ratings.csv`, then `ml-20m.zip` /
     `ml-25m.zip`.

2. otherwise the Keras cache (`cache_dir`, default `$KERAS_HOME` or `~/.keras`, sub-folder
   `keras_hem`), downloading the official GroupLens zip there with `keras.utils.get_file` if
   needed. The base URL can be overridden with the `origin` argument or the
   `KERAS_HEM_MOVIELENS_URL` environment variable (`{origin}/{name}.zip` is fetched). The whole
   archive is extracted next to the zip, into the folder the zip names (`ml-10M100K` for
   ML-10M); for ML-25M that is well over 1 GB.

What is checked, so that a truncated or edited file is not mistaken for the benchmark:

* ML-100K and ML-1M: every official-format ratings file is checked against the SHA-256 of the
  GroupLens original (`RATINGS_SHA256`; the derived ML-1M copy against
  `DERIVED_ML1M_CSV_SHA256`), wherever it is read from (loose file, gzip, zip member, cache).
  The check is on the extracted ratings file rather than on the zip so that any repackaging of
  the same data passes.
* ML-10M, ML-20M and ML-25M: no SHA-256 of their extracted ratings files is published, so the
  zip is what is checked against a hash: `ZIP_SHA256`, the SHA-256 of the official archive
  (sizes in `ZIP_BYTES`). Every download is checked before anything is extracted, and so is a
  `{name}.zip` in the data folder when `verify=True`. A loose ratings file (in the data folder,
  or extracted in the cache) cannot be hashed against anything, so with `verify=True` it is
  checked by its format and its exact number of ratings (`N_RATINGS`): ML-20M/25M must start
  with the header `userId,movieId,rating,timestamp`, every line must have the four fields, every
  rating must be a half star from 0.5 to 5.0, and the count must match. This catches truncated,
  partial or differently formatted files, but not an edit that keeps the count (a changed
  rating); use the zip when that matters.

A download that fails its check is deleted with everything extracted from it. Zip members whose
path is absolute or contains `..` are refused before anything is extracted. `verify=False` loads
a local file that fails its checks anyway; downloads are always checked.

The ratings of ML-10M and later are half stars, so their `rating` column is float64; ML-100K and
ML-1M keep int64. The ML-25M table takes about 0.8 GB in memory. The larger files are never held
in memory: the pandas C parser reads them straight from the file or zip member (the `::`
separator of ML-10M rewritten to a tab as the stream is read) with fixed dtypes, a million lines
at a time, into arrays sized for the expected number of ratings, so loading ML-25M peaks at about
1.1 times the table.

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

import numpy as np
import pandas as pd

from keras_hem.arguments import check_choice
from keras_hem.datasets.csv_ratings import COLUMNS, load_csv  # noqa: F401 - re-exported

logger = logging.getLogger(__name__)

DATASETS = ("ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m")
DEFAULT_ORIGIN = "https://files.grouplens.org/datasets/movielens"
ENV_DATA_DIR = "KERAS_HEM_DATA"
ENV_ORIGIN = "KERAS_HEM_MOVIELENS_URL"
CACHE_SUBDIR = "keras_hem"

# SHA-256 of the official, uncompressed ratings file, wherever it is read from (loose file,
# gzip or zip member). Both values are published independently for the GroupLens files.
RATINGS_SHA256 = {
    "ml-100k": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "ml-1m": "506d64ca44484487c11dc2d9a28de5c54948213e6b96285e298afe28d6ea4e0f",
}
# SHA-256 of the uncompressed derived ML-1M ratings (`ml-1m/ratings.csv.gz`).
DERIVED_ML1M_CSV_SHA256 = "f25237984b8301576cbbf40979b8ea7847d3fd654b010494fe1e5d021cda0c05"

# The larger sets: GroupLens publishes no hash of their extracted ratings files, so the official
# zip is checked by its SHA-256 (its size is quoted in the error message), and a loose ratings
# file by its format and its exact number of ratings.
ZIP_SHA256 = {
    "ml-10m": "813c411ccb6122564edfe752e7f80c4dcc5aa25fa94c93622f6877a7ba252862",
    "ml-20m": "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
    "ml-25m": "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
}
ZIP_BYTES = {"ml-10m": 65_566_137, "ml-20m": 198_702_078, "ml-25m": 261_978_986}
N_RATINGS = {"ml-10m": 10_000_054, "ml-20m": 20_000_263, "ml-25m": 25_000_095}
# First line of the ML-20M and ML-25M ratings.csv.
CSV_HEADER = "userId,movieId,rating,timestamp"

_RATINGS_MEMBER = {
    "ml-100k": "ml-100k/u.data",
    "ml-1m": "ml-1m/ratings.dat",
    "ml-10m": "ml-10M100K/ratings.dat",
    "ml-20m": "ml-20m/ratings.csv",
    "ml-25m": "ml-25m/ratings.csv",
}
_TITLES_MEMBER = {
    "ml-100k": "ml-100k/u.item",
    "ml-1m": "ml-1m/movies.dat",
    "ml-10m": "ml-10M100K/movies.dat",
    "ml-20m": "ml-20m/movies.csv",
    "ml-25m": "ml-25m/movies.csv",
}
_SEPARATOR = {"ml-100k": b"\t", "ml-1m": b"::", "ml-10m": b"::"}
_TITLES_SEPARATOR = {"ml-100k": "|", "ml-1m": "::", "ml-10m": "::"}
# Column types of the larger sets: their ratings are half stars.
_LARGE_DTYPES = {"user": "int64", "item": "int64", "rating": "float64", "timestamp": "int64"}
_CHUNK_BYTES = 1 << 20
_ROWS_PER_CHUNK = 1 << 20


def _check_name(name):
    """Raise `ValueError` unless `name` is a supported data set."""
    check_choice("name", name, DATASETS)


def _candidates(name, folder):
    """Accepted local sources for `name` in `folder`, best first, as `(kind, path)` pairs."""
    if name == "ml-100k":
        return [("file", folder / "ml-100k" / "u.data"), ("zip", folder / "ml-100k.zip")]
    if name == "ml-10m":
        return [
            ("file", folder / "ml-10M100K" / "ratings.dat"),
            ("file", folder / "ml-10m" / "ratings.dat"),
            ("zip", folder / "ml-10m.zip"),
        ]
    if name in ZIP_SHA256:
        return [("file", folder / name / "ratings.csv"), ("zip", folder / f"{name}.zip")]
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


def _sha256_file(path):
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_zip(path, name, source, remedy):
    """Raise `ValueError` unless the zip at `path` is the official `{name}.zip` (SHA-256)."""
    actual = _sha256_file(path)
    expected = ZIP_SHA256[name]
    if actual != expected:
        raise ValueError(
            f"{source} has SHA-256 {actual} ({Path(path).stat().st_size:,} bytes), but the "
            f"official {name}.zip has {expected} ({ZIP_BYTES[name]:,} bytes). It is not the "
            f"original MovieLens archive (truncated, edited or another version); {remedy}"
        )


def _not_a_zip(path):
    """The error for a file that is not a zip archive."""
    return ValueError(
        f"{path} is not a zip archive (damaged or another kind of file); delete it, or "
        "replace it with the original from GroupLens."
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
            raise _not_a_zip(path) from None
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


def _format_of(name):
    """How a ratings line of a larger set looks, for error messages."""
    if name == "ml-10m":
        return "lines UserID::MovieID::Rating::Timestamp, no header"
    return f"the header {CSV_HEADER} and lines of four comma-separated fields"


class _TabReader(io.RawIOBase):
    """A binary stream reading another one with every `::` replaced by a tab, block by block.

    The pandas C parser needs a one-character separator; rewriting the stream as it is read
    avoids holding the ML-10M file (or a rewritten copy) in memory.
    """

    def __init__(self, raw, block=_CHUNK_BYTES):
        super().__init__()
        self._raw = raw
        self._block = block
        self._held = b""  # a trailing ":" that may be the first half of a "::"
        self._out = memoryview(b"")

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._out:
            block = self._raw.read(self._block)
            if not block:
                self._out, self._held = memoryview(self._held), b""
                if not self._out:
                    return 0
                break
            data = (self._held + block).replace(b"::", b"\t")
            self._held = b""
            if data.endswith(b":"):
                data, self._held = data[:-1], b":"
            self._out = memoryview(data)
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


def _read_large(name, stream, source, size):
    """Parse the ratings of ML-10M/20M/25M from a binary stream, positioned at the first line.

    The pandas C parser reads the four columns with fixed dtypes, `_ROWS_PER_CHUNK` lines at a
    time, into arrays sized for the expected number of ratings (at most `size` bytes / 8, the
    shortest line), so the table is built about once in memory rather than concatenated.
    """
    sep = ","
    if name == "ml-10m":
        stream, sep = io.BufferedReader(_TabReader(stream), _CHUNK_BYTES), "\t"
    capacity = min(N_RATINGS[name], size // 8 + 1)
    columns = {column: np.empty(capacity, dtype) for column, dtype in _LARGE_DTYPES.items()}
    n = 0
    try:
        with pd.read_csv(
            stream,
            sep=sep,
            header=None,
            names=list(COLUMNS),
            index_col=False,
            dtype=_LARGE_DTYPES,
            engine="c",
            chunksize=_ROWS_PER_CHUNK,
        ) as reader:
            for chunk in reader:
                m = len(chunk)
                if n + m > capacity:  # more lines than the original has
                    capacity = max(n + m, capacity + capacity // 4)
                    columns = {c: np.resize(a[:n], capacity) for c, a in columns.items()}
                for column, values in columns.items():
                    values[n : n + m] = chunk[column].to_numpy()
                n += m
    except (ValueError, pd.errors.ParserError) as err:
        raise ValueError(
            f"{source} could not be read as the {name} ratings ({_format_of(name)}): {err}. "
            f"It is damaged (a line cut short?) or in another format."
        ) from None
    if n < capacity:
        columns = {c: a[:n].copy() for c, a in columns.items()}
    timestamp = columns.pop("timestamp")
    columns["timestamp"] = pd.arrays.IntegerArray(timestamp, np.zeros(n, dtype=bool))
    return pd.DataFrame(columns, copy=False)


def _parse_large(name, stream, source, strict, size):
    """Read the ratings of a larger set; `strict` requires the official header (ML-20M/25M)."""
    if name != "ml-10m":
        first = stream.readline()
        header = first.decode("utf-8", "replace").strip().lstrip("\ufeff")
        if strict and header != CSV_HEADER:
            raise ValueError(
                f"{source} starts with {header[:80]!r}, but the {name} ratings file starts with "
                f"the header {CSV_HEADER!r}. It is not the original file (another version or "
                f"format); pass verify=False to load it anyway."
            )
        if not first[:1].isdigit():
            return _read_large(name, stream, source, size)  # after the header line
        stream.seek(0)  # no header (verify=False): the first line is a rating
    return _read_large(name, stream, source, size)


def _check_large(frame, name, source):
    """Raise `ValueError` unless a loose ratings file has the count and ratings of the original."""
    expected = N_RATINGS[name]
    if len(frame) != expected:
        raise ValueError(
            f"{source} holds {len(frame):,} ratings, but the original {name} ratings file holds "
            f"exactly {expected:,}. It is not the complete original (truncated, partial, edited "
            f"or another version); pass verify=False to load it anyway. (GroupLens publishes no "
            f"checksum of this file, so a loose copy is checked by its format and count; the "
            f"official {name}.zip is checked by its SHA-256.)"
        )
    ratings = frame["rating"].to_numpy()
    n_bad, first = 0, None
    for start in range(0, len(ratings), _ROWS_PER_CHUNK):  # small temporaries
        doubled = ratings[start : start + _ROWS_PER_CHUNK] * 2
        off = np.flatnonzero((doubled < 1) | (doubled > 10) | (doubled != np.rint(doubled)))
        if first is None and len(off):
            first = start + int(off[0])
        n_bad += len(off)
    if n_bad:
        raise ValueError(
            f"{source} has {n_bad:,} rating(s) that are not half stars from 0.5 to 5.0 (the "
            f"first, in data row {first + 1:,}, is {float(ratings[first])!r}). It is not the "
            f"original {name} file; pass verify=False to load it anyway."
        )


def _load_large(name, kind, path, verify):
    """Read, check and parse one local source of ML-10M, ML-20M or ML-25M.

    A zip is checked by its SHA-256 (with `verify`); a loose file by its header, format and
    number of ratings (with `verify`).
    """
    member = _RATINGS_MEMBER[name]
    if kind == "zip":
        source = f"{path}!{member}"
        if not zipfile.is_zipfile(path):
            raise _not_a_zip(path)
        if verify:
            _verify_zip(path, name, str(path), "pass verify=False to load it anyway.")
        logger.info("Loading MovieLens %s from %s", name, source)
        with zipfile.ZipFile(path) as archive:
            if member not in archive.namelist():
                raise ValueError(f"{path} has no member {member!r}; it is not a {name} zip.")
            size = archive.getinfo(member).file_size
            with archive.open(member) as stream:
                frame = _parse_large(name, stream, source, strict=False, size=size)
    else:
        source = str(path)
        logger.info("Loading MovieLens %s from %s", name, source)
        with open(path, "rb") as stream:
            frame = _parse_large(name, stream, source, strict=verify, size=path.stat().st_size)
        if verify:
            _check_large(frame, name, source)
    frame.attrs["source"] = source
    frame.attrs["derived"] = False
    return frame


def _load_source(name, kind, path, verify):
    """Read, verify and parse one local source of `name`."""
    if name in ZIP_SHA256:
        return _load_large(name, kind, path, verify)
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
    member = _RATINGS_MEMBER[name]
    top = PurePosixPath(member).parts[0]  # the zip's folder: "ml-10M100K" for ML-10M
    try:
        if not zipfile.is_zipfile(zip_path):
            raise ValueError(
                f"What was downloaded from {url} is not a zip archive (a proxy page or an "
                "interrupted transfer?); it was deleted, so the next run downloads it again."
            )
        if name in ZIP_SHA256:
            # Checked before extracting: no published hash of the extracted files exists.
            _verify_zip(zip_path, name, url, "it was deleted, so the next run downloads it again.")
        _safe_extract(zip_path, staging)
        ratings = staging / member
        if not ratings.is_file():
            raise ValueError(f"{url} has no member {member!r}.")
        if name in RATINGS_SHA256:
            _verify(ratings.read_bytes(), RATINGS_SHA256[name], f"{url}!{member}")
        final = folder / top
        if final.exists():
            shutil.rmtree(final)
        (staging / top).rename(final)
    except BaseException:
        # Leave nothing behind: a bad archive must not be picked up from the cache next time.
        zip_path.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return final / PurePosixPath(member).name


def _cached_ratings(name, cache_dir):
    """Path of an already extracted ratings file in the cache, or `None`."""
    path = _cache_root(cache_dir) / CACHE_SUBDIR / _RATINGS_MEMBER[name]
    return path if path.is_file() else None


def load_data(
    name: str = "ml-100k",
    data_dir: str | os.PathLike | None = None,
    origin: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    verify: bool = True,
) -> pd.DataFrame:
    """Load MovieLens ratings as a DataFrame.

    See the module docstring for where the files are looked for and how they are checked.

    Args:
        name: `"ml-100k"`, `"ml-1m"`, `"ml-10m"`, `"ml-20m"` or `"ml-25m"`.
        data_dir: folder holding a local copy (see the accepted file names above). Overrides
            `KERAS_HEM_DATA`. When either is set, nothing is downloaded.
        origin: base URL to download `{origin}/{name}.zip` from; defaults to
            `KERAS_HEM_MOVIELENS_URL`, else the GroupLens server.
        cache_dir: Keras cache folder for downloads (default `$KERAS_HOME` or `~/.keras`).
        verify: check local files: against the SHA-256 of the original ratings file (ML-100K,
            ML-1M) or of the official zip (ML-10M and later, for a `{name}.zip`); a loose
            ML-10M/20M/25M ratings file by its format and exact number of ratings. Downloads
            are always checked.

    Returns:
        `pandas.DataFrame` with int64 columns `user` and `item`, a `rating` column (int64 for
        ML-100K and ML-1M, float64 half stars for the larger sets) and a nullable Int64
        `timestamp` (NA for the derived ML-1M copy), one row per rating in file order.
        `attrs["source"]` names the file read and `attrs["derived"]` is True for the derived copy.

    Raises:
        ValueError: for an unknown `name`, a checksum, count or format mismatch, or a zip member
            that escapes the extraction folder.
        FileNotFoundError: if the chosen folder lacks the files, or no local copy exists and the
            download fails; the message says where to put the files.

    Examples:
        >>> ratings = load_data("ml-100k", data_dir="/data/movielens")  # doctest: +SKIP
        >>> ratings.shape  # doctest: +SKIP
        (100000, 4)
        >>> load_data("ml-25m")["rating"].dtype  # doctest: +SKIP
        dtype('float64')
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
            logger.warning("Cached %s failed its check; extracting it again.", cached)
            shutil.rmtree(cached.parent)
    path = _download(name, origin, cache_dir)
    # _download has just verified the file (or, for ML-10M and later, its zip).
    return _load_source(name, "file", path, verify=False)


def _read_titles(content, name):
    """Parse a title file of `name` (see `load_titles`) into an id -> title Series."""
    if name in ("ml-20m", "ml-25m"):
        # movies.csv: header movieId,title,genres; UTF-8; titles with commas are quoted.
        frame = pd.read_csv(
            io.BytesIO(content),
            usecols=["movieId", "title"],
            dtype={"movieId": "int64", "title": str},
            keep_default_na=False,
            encoding="utf-8",
        ).rename(columns={"movieId": "item"})
    else:
        if name == "ml-10m":
            # latin-1 like ML-1M, unless the file is valid UTF-8 (then decoded as such).
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text = content.decode("latin-1")
        else:
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


def _title_files(name, folder):
    """Loose title files of `name` that `load_titles` accepts in `folder`, best first."""
    paths = [folder / _TITLES_MEMBER[name]]
    if name == "ml-10m":
        paths.append(folder / "ml-10m" / "movies.dat")
    return paths


def load_titles(
    name: str = "ml-100k",
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> pd.Series | None:
    """Load movie titles, if a local or cached copy of the title file exists.

    Nothing is downloaded: the file is read from `data_dir` (else `KERAS_HEM_DATA`) as
    `ml-100k/u.item`, `ml-1m/movies.dat`, `ml-10M100K/movies.dat` (or `ml-10m/movies.dat`),
    `ml-20m/movies.csv` or `ml-25m/movies.csv`, or from `{name}.zip`, else from a previous
    download in the Keras cache.

    Args:
        name: `"ml-100k"` (`u.item`, `|`-separated), `"ml-1m"` or `"ml-10m"` (`movies.dat`,
            `::`-separated; latin-1, or UTF-8 for an ML-10M file that is valid UTF-8), or
            `"ml-20m"` / `"ml-25m"` (`movies.csv`: header `movieId,title,genres`, UTF-8,
            quoted titles).
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
    for path in _title_files(name, folder):
        if path.is_file():
            return _read_titles(path.read_bytes(), name)
    zip_path = folder / f"{name}.zip"
    if zip_path.is_file():
        with zipfile.ZipFile(zip_path) as archive:
            if member in archive.namelist():
                return _read_titles(archive.read(member), name)
    return None
