"""Bad input gets a clear message, never silent nonsense or a traceback."""

import gzip
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_hem.data import RatingMatrix
from keras_hem.datasets import movielens
from keras_hem.evaluation import evaluate
from keras_hem.recommender import Recommender


@given(st.integers(min_value=2**63, max_value=2**80))
def test_ids_beyond_int64_are_kept_exactly(big):
    frame = pd.DataFrame({"user": [big, 2, 3], "item": [1, 1, 2], "rating": [5, 4, 3]})
    matrix = RatingMatrix.from_dataframe(frame)
    assert big in matrix.user_ids.tolist()
    assert matrix.user_index(big) >= 0


@pytest.mark.parametrize(
    ("known", "query", "found"),
    [
        ([1, 42, 7], "42", True),
        ([1, 42, 7], 42, True),
        (["1", "42"], 42, True),
        ([1, 2], "x", False),
    ],
)
def test_ids_are_looked_up_in_the_maps_type(known, query, found):
    matrix = RatingMatrix.from_arrays(known, list(range(len(known))), [3] * len(known))
    assert (matrix.user_index(query) >= 0) == found


def test_a_far_out_rating_that_stretches_the_scale_is_warned_about():
    ratings = np.r_[np.tile([1, 2, 3, 4, 5], 40), 1000]
    frame = pd.DataFrame({"user": np.arange(201), "item": 0, "rating": ratings})
    with pytest.warns(UserWarning, match=r"1 rating\(s\) lie far outside"):
        matrix = RatingMatrix.from_dataframe(frame)
    assert matrix.scale == (1.0, 1000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an ordinary 1-5 table gives no warning
        RatingMatrix.from_dataframe(frame.iloc[:200])


class Constant:
    """Predicts 4 everywhere; scores every item 0."""

    def __init__(self, n_items):
        self.n_items = n_items

    def predict(self, users, items):
        return np.full(len(users), 4.0)

    def score_users(self, user_indices):
        return np.zeros((len(user_indices), self.n_items))


@pytest.mark.parametrize(
    ("users", "items", "ratings", "problem"),
    [
        ([0, 0, 0, 0, 0], [0, 1, 2, 3, 4], [5, 3, 4, 2, 1], "a single user"),
        ([0, 1, 2, 3, 4], [0, 0, 0, 0, 0], [5, 3, 4, 2, 1], "a single item"),
        ([0, 1, 2, 3, 0, 1], [0, 0, 1, 1, 1, 2], [5, 3, 4, 2, 1, 2], None),
        ([0, 1, 0, 1, 2, 2], [0, 1, 1, 0, 2, 0], [4, 4, 4, 4, 4, 4], "every rating equal to 4"),
    ],
)
def test_degenerate_training_data_is_warned_about(users, items, ratings, problem):
    data = RatingMatrix.from_arrays(users, items, ratings)
    train, test = data.random_split(0.2, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = Constant(train.n_items)
        evaluate(model, train, test, ks=(1,), thresholds=(None,), if_empty="nan")
    messages = [str(w.message) for w in caught]
    if problem is None:
        assert not any("nothing to learn" in m for m in messages), messages
    else:
        assert any(problem in m for m in messages), messages


def test_a_threshold_with_nothing_relevant_is_nan_or_an_error():
    data = RatingMatrix.from_arrays([0, 0, 1, 1, 2, 2], [0, 1, 0, 2, 1, 2], [1, 2, 3, 2, 1, 3])
    train, test = data.random_split(0.4, seed=0)
    row = evaluate(Constant(3), train, test, ks=(1,), thresholds=(None, 9), if_empty="nan")
    assert np.isnan(row["P@1_t9"][0]) and row["n_users_t9"][0] == 0
    assert not np.isnan(row["MAE"][0])
    with pytest.raises(ValueError, match="No user has a relevant test item"):
        evaluate(Constant(3), train, test, ks=(1,), thresholds=(9,))


def test_a_damaged_zip_or_gzip_gets_a_message(tmp_path):
    (tmp_path / "ml-100k.zip").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="is not a zip archive"):
        movielens.load_data("ml-100k", data_dir=tmp_path)
    folder = tmp_path / "one" / "ml-1m"
    folder.mkdir(parents=True)
    (folder / "ratings.dat.gz").write_bytes(gzip.compress(b"1::2::5::0\n" * 100)[:30])
    with pytest.raises(ValueError, match="not a complete gzip file"):
        movielens.load_data("ml-1m", data_dir=tmp_path / "one")


@pytest.mark.parametrize("kind", ["gzip", "zip"])
def test_a_compressed_csv_without_its_suffix_is_read(tmp_path, kind):
    text = b"user,item,rating\n1,2,5\n3,4,1\n"
    path = tmp_path / "ratings.csv"
    if kind == "gzip":
        path.write_bytes(gzip.compress(text))
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("ratings.csv", text)
    frame = movielens.load_csv(path)
    assert frame["rating"].tolist() == [5, 1]


def test_a_latin1_file_reads_with_its_encoding(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("user,item,rating\nJos\xe9,1,5\n".encode("latin-1"))
    with pytest.raises(UnicodeDecodeError):
        movielens.load_csv(path)
    assert movielens.load_csv(path, encoding="latin-1")["user"].tolist() == ["Jos\xe9"]


@pytest.mark.parametrize("damage", ["truncate_model", "edit_state", "truncate_ratings"])
def test_a_damaged_saved_recommender_gets_a_message(tmp_path, damage):
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((20, 15)) < 0.4)
    frame = pd.DataFrame({"user": users, "item": items, "rating": rng.integers(1, 6, len(users))})
    rec = Recommender(hidden=4, epochs=1, validation_fraction=0).fit(frame, verbose=0)
    rec.save(tmp_path)
    if damage == "truncate_model":
        model = tmp_path / "model.keras"
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
        match = "damaged saved Recommender"
    elif damage == "truncate_ratings":
        ratings = tmp_path / "ratings.npz"
        ratings.write_bytes(ratings.read_bytes()[:40])
        match = "damaged saved Recommender"
    else:
        (tmp_path / "recommender.json").write_text('{"format": ')
        match = "is damaged"
    with pytest.raises(ValueError, match=match):
        Recommender.load(tmp_path)
