import functools
import gzip
import hashlib
import http.server
import io
import shutil
import socket
import threading
import zipfile
from pathlib import Path

import pytest

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
    with pytest.raises(ValueError, match="name='ml-20m'"):
        movielens.load_data("ml-20m")


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
