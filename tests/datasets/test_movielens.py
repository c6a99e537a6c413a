import functools
import gzip
import hashlib
import http.server
import io
import shutil
import socket
import tempfile
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_hem.datasets import movielens

REPO = Path(__file__).resolve().parents[2]
# shared/ sits inside the checkout on some machines and beside it (../shared) on others.
SHARED_DATA = next(
    (p for p in (REPO / "shared" / "data", REPO.parent / "shared" / "data") if p.is_dir()),
    REPO / "shared" / "data",
)
U_DATA = SHARED_DATA / "ml-100k" / "u.data"
ML1M_CSV = SHARED_DATA / "ml-1m" / "ratings.csv.gz"
needs_ml100k = pytest.mark.skipif(not U_DATA.is_file(), reason=f"{U_DATA} not found")
needs_ml1m = pytest.mark.skipif(not ML1M_CSV.is_file(), reason=f"{ML1M_CSV} not found")

SYNTHETIC_100K = b"1\t10\t4\t881250949\n2\t10\t5\t891717742\n1\t20\t3\t878887116\n"
SYNTHETIC_1M = b"1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"


@pytest.fixture(autouse=True)
def _reset_keras_state():
    # Overrides tests/conftest.py: these tests keep no Keras state, and its clear_session()
    # costs about 0.4 s per test.
    yield


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    """Make sure no test reads the user's data folders or reaches the real internet."""
    monkeypatch.delenv(movielens.ENV_DATA_DIR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    monkeypatch.setenv(movielens.ENV_ORIGIN, f"http://127.0.0.1:{closed_port()}")


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sha256(content):
    return hashlib.sha256(content).hexdigest()


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving the files of a temporary folder."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll interval keeps shutdown() fast.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/movielens"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


# --------------------------------------------------------------------------------------------
# Real files from the shared folder


@needs_ml100k
def test_load_ml100k_from_shared_folder():
    frame = movielens.load_data("ml-100k", data_dir=SHARED_DATA)
    assert list(frame.columns) == ["user", "item", "rating", "timestamp"]
    assert len(frame) == 100_000
    assert frame["user"].nunique() == 943 and frame["item"].nunique() == 1682
    assert frame["rating"].value_counts().sort_index().tolist() == [
        6110,
        11370,
        27145,
        34174,
        21201,
    ]
    assert frame.iloc[0].tolist() == [196, 242, 3, 881250949]
    assert str(frame["timestamp"].dtype) == "Int64" and not frame["timestamp"].isna().any()
    assert frame.attrs == {"source": str(U_DATA), "derived": False}


@needs_ml100k
def test_env_var_is_used_when_data_dir_is_not_given(monkeypatch):
    monkeypatch.setenv(movielens.ENV_DATA_DIR, str(SHARED_DATA))
    assert len(movielens.load_data("ml-100k")) == 100_000


@needs_ml1m
def test_load_ml1m_derived_csv_with_warning():
    with pytest.warns(UserWarning, match="derived copy of the ML-1M ratings"):
        frame = movielens.load_data("ml-1m", data_dir=SHARED_DATA)
    assert len(frame) == 1_000_209
    assert frame["user"].nunique() == 6040 and frame["item"].nunique() == 3706
    assert frame["timestamp"].isna().all()
    assert frame.attrs["derived"] is True


@needs_ml100k
def test_load_titles_ml100k():
    titles = movielens.load_titles("ml-100k", data_dir=SHARED_DATA)
    assert len(titles) == 1682 and titles.index.name == "item"
    assert titles[1] == "Toy Story (1995)"


@needs_ml1m
def test_load_titles_ml1m_latin1():
    titles = movielens.load_titles("ml-1m", data_dir=SHARED_DATA)
    assert len(titles) == 3883 and titles.index.max() == 3952
    assert titles[1] == "Toy Story (1995)"
    assert titles.str.contains("é").any()  # decoded as latin-1, not mangled


def test_load_titles_absent_returns_none(tmp_path):
    assert movielens.load_titles("ml-100k", data_dir=tmp_path) is None
    assert movielens.load_titles("ml-1m") is None  # empty Keras cache, nothing downloaded


# --------------------------------------------------------------------------------------------
# Local folder layouts


@needs_ml100k
def test_ml100k_zip_in_folder(tmp_path):
    make_zip(tmp_path / "ml-100k.zip", {"ml-100k/u.data": U_DATA.read_bytes()})
    frame = movielens.load_data("ml-100k", data_dir=tmp_path)
    assert len(frame) == 100_000
    assert frame.attrs["source"].endswith("ml-100k.zip!ml-100k/u.data")


def test_ml1m_accepted_files_in_priority_order(tmp_path, monkeypatch):
    monkeypatch.setitem(movielens.RATINGS_SHA256, "ml-1m", sha256(SYNTHETIC_1M))
    derived = b"user,item,rating\n1,1,5\n"
    monkeypatch.setattr(movielens, "DERIVED_ML1M_CSV_SHA256", sha256(derived))
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.PARTIAL-users1-2999.dat.gz").write_bytes(gzip.compress(SYNTHETIC_1M))
    with pytest.raises(FileNotFoundError, match="PARTIAL.*never loaded as ML-1M"):
        movielens.load_data("ml-1m", data_dir=tmp_path)

    (folder / "ratings.csv.gz").write_bytes(gzip.compress(derived))
    with pytest.warns(UserWarning, match="derived"):
        assert len(movielens.load_data("ml-1m", data_dir=tmp_path)) == 1

    make_zip(tmp_path / "ml-1m.zip", {"ml-1m/ratings.dat": SYNTHETIC_1M})
    assert (
        movielens.load_data("ml-1m", data_dir=tmp_path)
        .attrs["source"]
        .endswith(".zip!ml-1m/ratings.dat")
    )

    (folder / "ratings.dat.gz").write_bytes(gzip.compress(SYNTHETIC_1M))
    assert movielens.load_data("ml-1m", data_dir=tmp_path).attrs["source"].endswith(".dat.gz")

    (folder / "ratings.dat").write_bytes(SYNTHETIC_1M)
    frame = movielens.load_data("ml-1m", data_dir=tmp_path)
    assert frame.attrs["source"].endswith("ratings.dat")
    assert frame.values.tolist() == [
        [1, 1193, 5, 978300760],
        [1, 661, 3, 978302109],
        [2, 1193, 4, 978298413],
    ]


def test_checksum_mismatch_in_folder_raises_unless_verify_false(tmp_path):
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_bytes(SYNTHETIC_100K)
    with pytest.raises(ValueError, match="SHA-256.*verify=False"):
        movielens.load_data("ml-100k", data_dir=tmp_path)
    assert len(movielens.load_data("ml-100k", data_dir=tmp_path, verify=False)) == 3


def test_missing_files_in_folder_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv(movielens.ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        movielens.load_data("ml-100k")
    message = str(info.value)
    for part in (str(tmp_path), "KERAS_HEM_DATA", "ml-100k/u.data", "ml-100k.zip"):
        assert part in message


def test_unknown_name():
    with pytest.raises(ValueError, match="name='ml-30m'"):
        movielens.load_data("ml-30m")
    with pytest.raises(ValueError, match="name='ml-latest'"):
        movielens.load_titles("ml-latest")


# --------------------------------------------------------------------------------------------
# Download from a local HTTP server


def test_download_good_zip(server, tmp_path, monkeypatch):
    root, url = server
    (root / "movielens").mkdir()
    make_zip(
        root / "movielens" / "ml-100k.zip",
        {"ml-100k/u.data": SYNTHETIC_100K, "ml-100k/u.item": b"10|Film (1999)|x\n"},
    )
    monkeypatch.setitem(movielens.RATINGS_SHA256, "ml-100k", sha256(SYNTHETIC_100K))
    cache = tmp_path / "cache"
    frame = movielens.load_data("ml-100k", origin=url, cache_dir=cache)
    assert frame.values.tolist()[0] == [1, 10, 4, 881250949]
    assert files_under(cache) == [
        "keras_hem/ml-100k.zip",
        "keras_hem/ml-100k/u.data",
        "keras_hem/ml-100k/u.item",
    ]
    # Titles come from the cache, and a second load needs no server.
    assert movielens.load_titles("ml-100k", cache_dir=cache).to_dict() == {10: "Film (1999)"}
    (root / "movielens" / "ml-100k.zip").unlink()
    assert len(movielens.load_data("ml-100k", origin=url, cache_dir=cache)) == 3


def test_download_origin_from_env_var(server, tmp_path, monkeypatch):
    root, url = server
    (root / "movielens").mkdir()
    make_zip(root / "movielens" / "ml-1m.zip", {"ml-1m/ratings.dat": SYNTHETIC_1M})
    monkeypatch.setitem(movielens.RATINGS_SHA256, "ml-1m", sha256(SYNTHETIC_1M))
    monkeypatch.setenv(movielens.ENV_ORIGIN, url + "/")
    assert len(movielens.load_data("ml-1m", cache_dir=tmp_path / "cache")) == 3


def test_download_checksum_mismatch_leaves_nothing_in_cache(server, tmp_path):
    root, url = server
    (root / "movielens").mkdir()
    make_zip(root / "movielens" / "ml-100k.zip", {"ml-100k/u.data": SYNTHETIC_100K})
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="SHA-256"):
        movielens.load_data("ml-100k", origin=url, cache_dir=cache)
    assert files_under(cache) == []
    assert not (cache / "keras_hem").exists()


@pytest.mark.parametrize("evil", ["../evil.txt", "ml-100k/../../evil.txt", "/tmp/evil.txt"])
def test_download_refuses_members_escaping_the_cache(server, tmp_path, monkeypatch, evil):
    root, url = server
    (root / "movielens").mkdir()
    make_zip(
        root / "movielens" / "ml-100k.zip",
        {"ml-100k/u.data": SYNTHETIC_100K, evil: b"owned"},
    )
    monkeypatch.setitem(movielens.RATINGS_SHA256, "ml-100k", sha256(SYNTHETIC_100K))
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=f"member '{evil}'"):
        movielens.load_data("ml-100k", origin=url, cache_dir=cache)
    assert files_under(cache) == []
    assert not (tmp_path / "evil.txt").exists() and not (cache / "evil.txt").exists()


def test_download_missing_member(server, tmp_path):
    root, url = server
    (root / "movielens").mkdir()
    make_zip(root / "movielens" / "ml-100k.zip", {"ml-100k/README": b"hi"})
    with pytest.raises(ValueError, match="no member 'ml-100k/u.data'"):
        movielens.load_data("ml-100k", origin=url, cache_dir=tmp_path / "cache")
    assert files_under(tmp_path / "cache") == []


def test_offline_without_local_copy_explains_where_to_put_files(tmp_path):
    # The autouse fixture points the origin at a closed local port.
    with pytest.raises(FileNotFoundError) as info:
        movielens.load_data("ml-1m", cache_dir=tmp_path / "cache")
    message = str(info.value)
    for part in ("Could not download", "data_dir", "KERAS_HEM_DATA", "ml-1m/ratings.dat"):
        assert part in message


# --------------------------------------------------------------------------------------------
# load_csv


def test_load_csv_with_header_selects_and_renames(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("when,who,what,stars\n5,ann,x,4.5\n6,bob,y,3\n")
    frame = movielens.load_csv(path, columns=("who", "what", "stars", "when"))
    assert list(frame.columns) == ["user", "item", "rating", "timestamp"]
    assert frame.values.tolist() == [["ann", "x", 4.5, 5], ["bob", "y", 3.0, 6]]


def test_load_csv_without_header_and_other_separator():
    frame = movielens.load_csv(io.StringIO("1;2;5\n3;4;1\n"), sep=";", header=False)
    assert frame.values.tolist() == [[1, 2, 5], [3, 4, 1]]


def test_load_csv_gzip(tmp_path):
    path = tmp_path / "ratings.csv.gz"
    path.write_bytes(gzip.compress(b"user,item,rating\n1,2,3\n"))
    assert len(movielens.load_csv(path)) == 1


def test_load_csv_errors(tmp_path):
    with pytest.raises(ValueError, match=r"Missing column\(s\) \['rating'\]"):
        movielens.load_csv(io.StringIO("user,item,score\n1,2,3\n"))
    with pytest.raises(ValueError, match=r"3 field\(s\) per line.*names 4"):
        movielens.load_csv(io.StringIO("1,2,3\n"), columns=("a", "b", "c", "d"), header=False)
    with pytest.raises(ValueError, match="holds no ratings"):
        movielens.load_csv(io.StringIO("user,item,rating\n"))
    with pytest.raises(ValueError, match="columns="):
        movielens.load_csv(io.StringIO("a\n1\n"), columns=("a",))


@needs_ml100k
def test_load_csv_reads_u_data(tmp_path):
    path = tmp_path / "u.tsv"
    shutil.copy(U_DATA, path)
    frame = movielens.load_csv(path, columns=("u", "i", "r", "t"), sep="\t", header=False)
    assert len(frame) == 100_000 and frame["rating"].between(1, 5).all()


# --------------------------------------------------------------------------------------------
# ML-10M, ML-20M and ML-25M, with small files in the official formats

# ML-10M: "::"-separated, no header; whole stars are written without a decimal point.
SMALL_10M = b"1::122::5::838985046\n1::185::4.5::838983525\n7::122::0.5::1049764929\n"
# ML-20M and ML-25M: CSV with a header, ratings always with one decimal.
SMALL_CSV = (
    b"userId,movieId,rating,timestamp\n"
    b"1,296,5.0,1147880044\n1,306,3.5,1147868817\n3,296,0.5,1439472215\n"
)
SMALL = {
    "ml-10m": (
        "ml-10M100K/ratings.dat",
        SMALL_10M,
        [[1, 122, 5.0, 838985046], [1, 185, 4.5, 838983525], [7, 122, 0.5, 1049764929]],
    ),
    "ml-20m": (
        "ml-20m/ratings.csv",
        SMALL_CSV,
        [[1, 296, 5.0, 1147880044], [1, 306, 3.5, 1147868817], [3, 296, 0.5, 1439472215]],
    ),
}
SMALL["ml-25m"] = ("ml-25m/ratings.csv", SMALL_CSV, SMALL["ml-20m"][2])
TITLES_10M = "1::Toy Story (1995)::Animation\n122::Boomerang (1992)::Comedy|Romance\n"
TITLES_CSV = (
    "movieId,title,genres\n1,Toy Story (1995),Animation\n"
    '11,"American President, The (1995)",Comedy|Drama|Romance\n'
    "2925,Conformista Il (Conformist The) (1970),Drama\n"
    '26409,"Clonus Horror, The (1979)",Horror\n'
    "100,Amélie (2001),Comedy\n"
)
TITLES = {
    "ml-10m": ("ml-10M100K/movies.dat", TITLES_10M.encode("latin-1")),
    "ml-20m": ("ml-20m/movies.csv", TITLES_CSV.encode("utf-8")),
    "ml-25m": ("ml-25m/movies.csv", TITLES_CSV.encode("utf-8")),
}
LARGE = pytest.mark.parametrize("name", ["ml-10m", "ml-20m", "ml-25m"])


def write_member(folder, member, content):
    path = Path(folder) / member
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def assert_large_frame(frame, name):
    assert list(frame.columns) == ["user", "item", "rating", "timestamp"]
    assert [str(t) for t in frame.dtypes] == ["int64", "int64", "float64", "Int64"]
    assert frame.astype(object).values.tolist() == SMALL[name][2]
    assert frame.attrs["derived"] is False


def official_lines(name, table):
    """Ratings rows written exactly as the GroupLens file of `name` writes them."""
    if name == "ml-10m":
        lines = [f"{u}::{i}::{r:g}::{t}\n" for u, i, r, t in table]
    else:
        lines = ["userId,movieId,rating,timestamp\n"]
        lines += [f"{u},{i},{r:.1f},{t}\n" for u, i, r, t in table]
    return "".join(lines).encode()


@LARGE
def test_large_loose_file_is_checked_by_count(tmp_path, name):
    member, content, _ = SMALL[name]
    path = write_member(tmp_path, member, content)
    frame = movielens.load_data(name, data_dir=tmp_path, verify=False)
    assert_large_frame(frame, name)
    assert frame.attrs["source"] == str(path)
    expected = f"{movielens.N_RATINGS[name]:,}"
    with pytest.raises(ValueError, match=f"holds 3 ratings.*exactly {expected}.*verify=False"):
        movielens.load_data(name, data_dir=tmp_path)


@LARGE
def test_large_loose_file_with_the_expected_count_passes(tmp_path, monkeypatch, name):
    member, content, _ = SMALL[name]
    write_member(tmp_path, member, content)
    monkeypatch.setitem(movielens.N_RATINGS, name, 3)
    assert_large_frame(movielens.load_data(name, data_dir=tmp_path), name)


@LARGE
def test_large_truncated_file_fails_verification(tmp_path, monkeypatch, name):
    member, content, _ = SMALL[name]
    monkeypatch.setitem(movielens.N_RATINGS, name, 3)
    # Cut after the second rating, as an interrupted copy would be.
    write_member(tmp_path, member, content[: content.rindex(b"\n", 0, -1) + 1])
    with pytest.raises(ValueError, match="holds 2 ratings.*exactly 3.*truncated"):
        movielens.load_data(name, data_dir=tmp_path)
    assert len(movielens.load_data(name, data_dir=tmp_path, verify=False)) == 2
    # A line cut short cannot be parsed at all.
    write_member(tmp_path, member, content[:-14])
    with pytest.raises(ValueError, match=f"could not be read as the {name} ratings"):
        movielens.load_data(name, data_dir=tmp_path, verify=False)


@LARGE
def test_large_ratings_off_the_half_star_grid_fail_verification(tmp_path, monkeypatch, name):
    member, content, _ = SMALL[name]
    monkeypatch.setitem(movielens.N_RATINGS, name, 3)
    write_member(tmp_path, member, content.replace(b"4.5", b"4.2").replace(b"3.5", b"4.2"))
    with pytest.raises(ValueError, match=r"1 rating\(s\) that are not half stars.*4\.2"):
        movielens.load_data(name, data_dir=tmp_path)
    assert 4.2 in movielens.load_data(name, data_dir=tmp_path, verify=False)["rating"].tolist()


@pytest.mark.parametrize("name", ["ml-20m", "ml-25m"])
def test_csv_header_is_checked(tmp_path, monkeypatch, name):
    monkeypatch.setitem(movielens.N_RATINGS, name, 3)
    member, content, rows = SMALL[name]
    other = content.replace(b"userId,movieId", b"user,item")
    write_member(tmp_path, member, other)
    with pytest.raises(ValueError, match="starts with 'user,item,rating,timestamp'.*header"):
        movielens.load_data(name, data_dir=tmp_path)
    assert movielens.load_data(name, data_dir=tmp_path, verify=False).values.tolist() == rows
    # Without a header (verify=False), the first line is a rating.
    write_member(tmp_path, member, content.split(b"\n", 1)[1])
    assert movielens.load_data(name, data_dir=tmp_path, verify=False).values.tolist() == rows


def test_ml10m_folder_names(tmp_path, monkeypatch):
    monkeypatch.setitem(movielens.N_RATINGS, "ml-10m", 3)
    with pytest.raises(FileNotFoundError) as info:
        movielens.load_data("ml-10m", data_dir=tmp_path)
    for part in ("ml-10M100K/ratings.dat", "ml-10m/ratings.dat", "ml-10m.zip"):
        assert part in str(info.value)
    lower = write_member(tmp_path, "ml-10m/ratings.dat", SMALL_10M)
    assert movielens.load_data("ml-10m", data_dir=tmp_path).attrs["source"] == str(lower)
    official = write_member(tmp_path, "ml-10M100K/ratings.dat", SMALL_10M)
    assert movielens.load_data("ml-10m", data_dir=tmp_path).attrs["source"] == str(official)


@LARGE
def test_large_local_zip_is_checked_by_its_sha256(tmp_path, monkeypatch, name):
    member, content, _ = SMALL[name]
    zip_path = make_zip(tmp_path / f"{name}.zip", {member: content})
    with pytest.raises(ValueError, match=f"SHA-256.*official {name}.zip.*verify=False"):
        movielens.load_data(name, data_dir=tmp_path)
    assert_large_frame(movielens.load_data(name, data_dir=tmp_path, verify=False), name)

    monkeypatch.setitem(movielens.ZIP_SHA256, name, sha256(zip_path.read_bytes()))
    frame = movielens.load_data(name, data_dir=tmp_path)  # its count is not checked
    assert_large_frame(frame, name)
    assert frame.attrs["source"] == f"{zip_path}!{member}"
    # A loose file comes first.
    loose = write_member(tmp_path, member, content)
    frame = movielens.load_data(name, data_dir=tmp_path, verify=False)
    assert frame.attrs["source"] == str(loose)


@LARGE
def test_large_zip_without_the_member_or_not_a_zip(tmp_path, monkeypatch, name):
    zip_path = make_zip(tmp_path / f"{name}.zip", {f"{name}/README.txt": b"hi"})
    monkeypatch.setitem(movielens.ZIP_SHA256, name, sha256(zip_path.read_bytes()))
    with pytest.raises(ValueError, match=f"no member '{SMALL[name][0]}'"):
        movielens.load_data(name, data_dir=tmp_path)
    zip_path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not a zip archive"):
        movielens.load_data(name, data_dir=tmp_path)


@LARGE
def test_large_download_good_zip(server, tmp_path, monkeypatch, name):
    root, url = server
    member, content, _ = SMALL[name]
    titles_member, titles = TITLES[name]
    (root / "movielens").mkdir()
    zip_path = make_zip(
        root / "movielens" / f"{name}.zip", {member: content, titles_member: titles}
    )
    monkeypatch.setitem(movielens.ZIP_SHA256, name, sha256(zip_path.read_bytes()))
    monkeypatch.setitem(movielens.N_RATINGS, name, 3)  # for the cached copy
    cache = tmp_path / "cache"
    frame = movielens.load_data(name, origin=url, cache_dir=cache)
    assert_large_frame(frame, name)
    assert files_under(cache) == sorted(
        [f"keras_hem/{name}.zip", f"keras_hem/{member}", f"keras_hem/{titles_member}"]
    )
    assert movielens.load_titles(name, cache_dir=cache)[1] == "Toy Story (1995)"
    # A second load reads the cache and needs no server.
    zip_path.unlink()
    assert_large_frame(movielens.load_data(name, origin=url, cache_dir=cache), name)


def test_large_cached_file_failing_its_check_is_extracted_again(server, tmp_path, monkeypatch):
    root, url = server
    (root / "movielens").mkdir()
    zip_path = make_zip(root / "movielens" / "ml-25m.zip", {"ml-25m/ratings.csv": SMALL_CSV})
    monkeypatch.setitem(movielens.ZIP_SHA256, "ml-25m", sha256(zip_path.read_bytes()))
    monkeypatch.setitem(movielens.N_RATINGS, "ml-25m", 3)
    cache = tmp_path / "cache"
    movielens.load_data("ml-25m", origin=url, cache_dir=cache)
    zip_path.unlink()  # no second download possible: the cached zip is used
    cached = cache / "keras_hem" / "ml-25m" / "ratings.csv"
    cached.write_bytes(SMALL_CSV[:-25])  # truncated
    assert_large_frame(movielens.load_data("ml-25m", origin=url, cache_dir=cache), "ml-25m")
    assert cached.read_bytes() == SMALL_CSV


@LARGE
def test_large_download_with_wrong_zip_hash_leaves_nothing(server, tmp_path, name):
    root, url = server
    member, content, _ = SMALL[name]
    (root / "movielens").mkdir()
    make_zip(root / "movielens" / f"{name}.zip", {member: content})
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=f"SHA-256.*official {name}.zip.*deleted"):
        movielens.load_data(name, origin=url, cache_dir=cache)
    assert files_under(cache) == []
    assert not (cache / "keras_hem").exists()


def test_small_sets_keep_integer_ratings(tmp_path, monkeypatch):
    monkeypatch.setitem(movielens.RATINGS_SHA256, "ml-1m", sha256(SYNTHETIC_1M))
    write_member(tmp_path, "ml-1m/ratings.dat", SYNTHETIC_1M)
    frame = movielens.load_data("ml-1m", data_dir=tmp_path)
    assert [str(t) for t in frame.dtypes] == ["int64", "int64", "int64", "Int64"]


@LARGE
def test_load_titles_large_sets(tmp_path, name):
    member, content = TITLES[name]
    write_member(tmp_path / "loose", member, content)
    zip_folder = tmp_path / "zipped"
    zip_folder.mkdir()
    make_zip(zip_folder / f"{name}.zip", {member: content})
    for folder in (tmp_path / "loose", zip_folder):
        titles = movielens.load_titles(name, data_dir=folder)
        assert titles.index.name == "item" and titles.index.dtype == "int64"
        assert titles[1] == "Toy Story (1995)"
        if name != "ml-10m":
            assert titles[11] == "American President, The (1995)"
            assert titles[26409] == "Clonus Horror, The (1979)"
            assert titles[100] == "Amélie (2001)"
            assert len(titles) == 5
        else:
            assert titles.to_dict() == {1: "Toy Story (1995)", 122: "Boomerang (1992)"}
    assert movielens.load_titles(name, data_dir=tmp_path) is None


def test_load_titles_ml10m_encodings_and_folder(tmp_path):
    latin = "5::Misérables, Les (1995)::Drama\n".encode("latin-1")
    write_member(tmp_path, "ml-10m/movies.dat", latin)
    assert movielens.load_titles("ml-10m", data_dir=tmp_path)[5] == "Misérables, Les (1995)"
    utf8 = "5::Misérables, Les (1995)::Drama\n".encode()
    write_member(tmp_path, "ml-10M100K/movies.dat", utf8)
    assert movielens.load_titles("ml-10m", data_dir=tmp_path)[5] == "Misérables, Les (1995)"


# Rows (user, item, rating, timestamp) as the GroupLens files hold them: positive ids, half-star
# ratings, Unix timestamps.
rating_tables = st.lists(
    st.tuples(
        st.integers(1, 300_000),
        st.integers(1, 300_000),
        st.integers(1, 10).map(lambda half_stars: half_stars / 2),
        st.integers(789_652_009, 1_700_000_000),
    ),
    min_size=1,
    max_size=40,
)


@given(name=st.sampled_from(["ml-10m", "ml-20m", "ml-25m"]), table=rating_tables)
def test_official_format_round_trips(name, table):
    content = official_lines(name, table)
    with tempfile.TemporaryDirectory() as folder:
        write_member(folder, SMALL[name][0], content)
        loose = movielens.load_data(name, data_dir=folder, verify=False)
        zipped = Path(folder) / "zipped"
        zipped.mkdir()
        make_zip(zipped / f"{name}.zip", {SMALL[name][0]: content})
        from_zip = movielens.load_data(name, data_dir=zipped, verify=False)
    expected = pd.DataFrame(table, columns=["user", "item", "rating", "timestamp"])
    expected["timestamp"] = expected["timestamp"].astype("Int64")
    for frame in (loose, from_zip):
        pd.testing.assert_frame_equal(frame, expected)


@LARGE
def test_large_files_are_read_in_chunks_into_growing_arrays(tmp_path, monkeypatch, name):
    table = [(u, 10 + u, (u % 10 + 1) / 2, 1_000_000_000 + u) for u in range(1, 12)]
    write_member(tmp_path, SMALL[name][0], official_lines(name, table))
    monkeypatch.setattr(movielens, "_ROWS_PER_CHUNK", 2)
    monkeypatch.setitem(movielens.N_RATINGS, name, 3)  # fewer than the file holds
    frame = movielens.load_data(name, data_dir=tmp_path, verify=False)
    assert frame.astype(object).values.tolist() == [list(row) for row in table]
    assert str(frame["timestamp"].dtype) == "Int64"
    monkeypatch.setitem(movielens.N_RATINGS, name, 11)
    assert len(movielens.load_data(name, data_dir=tmp_path)) == 11


@given(
    lines=st.lists(
        st.lists(st.sampled_from(["1", "22", "4.5", "::", "\n", ":"]), max_size=12),
        max_size=8,
    ),
    block=st.integers(1, 7),
    read_size=st.integers(1, 9),
)
def test_tab_reader_replaces_separators_across_block_boundaries(lines, block, read_size):
    content = "".join("".join(parts) for parts in lines).encode()
    reader = movielens._TabReader(io.BytesIO(content), block=block)
    out = b""
    while piece := reader.read(read_size):
        out += piece
    assert out == content.replace(b"::", b"\t")
