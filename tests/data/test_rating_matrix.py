import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from keras_hem.data import RatingMatrix

REPO = Path(__file__).resolve().parents[2]
# shared/ sits inside the checkout on some machines and beside it (../shared) on others.
SHARED_DATA = next(
    (p for p in (REPO / "shared" / "data", REPO.parent / "shared" / "data") if p.is_dir()),
    REPO / "shared" / "data",
)


@pytest.fixture(autouse=True)
def _reset_keras_state():
    # Overrides tests/conftest.py: nothing here touches Keras, and its clear_session() costs
    # about 0.4 s per test.
    yield


U_DATA = SHARED_DATA / "ml-100k" / "u.data"


def small_frame():
    return pd.DataFrame(
        {
            "user": ["bob", "ann", "ann", "cid"],
            "item": [20, 10, 30, 10],
            "rating": [3.0, 4.0, 5.0, 1.0],
            "timestamp": [1, 2, 3, 4],
        }
    )


# --------------------------------------------------------------------------------------------
# Construction and id maps


def test_from_dataframe_maps_ids_in_sorted_order():
    rm = RatingMatrix.from_dataframe(small_frame())
    assert rm.user_ids.tolist() == ["ann", "bob", "cid"]
    assert rm.item_ids.tolist() == [10, 20, 30]
    assert rm.item_ids.dtype == np.int64
    assert (rm.n_users, rm.n_items, rm.n_ratings) == (3, 3, 4)
    assert rm.scale == (1.0, 5.0) and rm.step is None
    # Coordinates are sorted by (user, item) and typed as documented.
    assert rm.users.tolist() == [0, 0, 1, 2]
    assert rm.items.tolist() == [0, 2, 1, 0]
    assert rm.ratings.tolist() == [4.0, 5.0, 3.0, 1.0]
    assert (rm.users.dtype, rm.items.dtype, rm.ratings.dtype) == (np.int32, np.int32, np.float32)
    np.testing.assert_array_equal(
        rm.csr.toarray(), [[4.0, 0.0, 5.0], [0.0, 3.0, 0.0], [1.0, 0.0, 0.0]]
    )


def test_from_dataframe_custom_columns_scale_and_step():
    frame = small_frame().rename(columns={"user": "u", "item": "i", "rating": "stars"})
    rm = RatingMatrix.from_dataframe(
        frame, user_col="u", item_col="i", rating_col="stars", scale=(0.5, 5), step=0.5
    )
    assert rm.scale == (0.5, 5.0) and rm.step == 0.5


def test_coordinate_arrays_are_read_only():
    rm = RatingMatrix.from_dataframe(small_frame())
    for array in (rm.users, rm.items, rm.ratings, rm.user_ids, rm.item_ids):
        with pytest.raises(ValueError):
            array[0] = array[1]


def test_from_arrays_keeps_mixed_id_types():
    rm = RatingMatrix.from_arrays([1, "a", 2, 1], ["x", "x", "y", "y"], [1, 2, 3, 4])
    assert rm.user_ids.tolist() == [1, 2, "a"]
    assert rm.user_index([2, "a", "2", 99]).tolist() == [1, 2, -1, -1]


def test_from_arrays_accepts_any_hashable_ids():
    ids = [(1, 2), "a", (0, 1), frozenset({3})]
    users = np.empty(4, dtype=object)
    users[:] = ids
    rm = RatingMatrix.from_arrays(users, [0, 0, 0, 0], [1, 2, 3, 4])
    assert rm.n_users == 4
    back = rm.to_dataframe()
    assert dict(zip(back["user"], back["rating"], strict=True)) == dict(
        zip(ids, [1, 2, 3, 4], strict=True)
    )


def test_from_sparse_keeps_shape_and_uses_indices_as_ids():
    dense = np.array([[0, 4, 0, 0], [5, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float64)
    rm = RatingMatrix.from_sparse(sparse.csr_matrix(dense))
    assert (rm.n_users, rm.n_items) == (3, 4)
    assert rm.user_ids.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(rm.csr.toarray(), dense)
    np.testing.assert_array_equal(rm.item_rows(np.arange(4)), dense.T)


def test_from_sparse_applies_duplicate_policy_instead_of_summing():
    coo = sparse.coo_array(
        (np.array([2.0, 4.0, 1.0]), (np.array([0, 0, 1]), np.array([1, 1, 0]))), shape=(2, 2)
    )
    with pytest.raises(ValueError, match=r"'\(row, column\)': 2 row\(s\) repeat"):
        RatingMatrix.from_sparse(coo)
    assert RatingMatrix.from_sparse(coo, duplicates="mean").csr.toarray()[0, 1] == 3.0
    assert RatingMatrix.from_sparse(coo, duplicates="last").csr.toarray()[0, 1] == 4.0


def test_from_sparse_rejects_explicit_zeros_and_non_sparse():
    matrix = sparse.csr_array(np.array([[1.0, 2.0]]))
    matrix.data[1] = 0.0
    with pytest.raises(ValueError, match=r"'matrix entries': 1 row\(s\) are <= 0.*\(0, 1\)"):
        RatingMatrix.from_sparse(matrix)
    with pytest.raises(TypeError, match="scipy.sparse"):
        RatingMatrix.from_sparse(np.ones((2, 2)))
    with pytest.raises(ValueError, match="no ratings"):
        RatingMatrix.from_sparse(sparse.csr_array((2, 2)))


def test_user_and_item_index():
    rm = RatingMatrix.from_dataframe(small_frame())
    assert rm.user_index("bob") == 1
    assert rm.user_index(["cid", "zed"]).tolist() == [2, -1]
    assert rm.item_index(np.array([30, 10])).tolist() == [2, 0]
    assert rm.item_index(11) == -1
    with pytest.raises(ValueError, match=r"2 unknown item id\(s\).*11, 12"):
        rm.item_index([10, 11, 12], strict=True)
    assert rm.item_index([10], strict=True).tolist() == [0]


# --------------------------------------------------------------------------------------------
# Validation through the constructors


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"rating": [3, "bad", 5, 1]}, r"'rating': 1 row\(s\) are not numbers.*row 1: 'bad'"),
        ({"rating": [3, np.nan, 5, np.inf]}, r"'rating': 2 row\(s\) are NaN"),
        ({"rating": [3, 0, 5, 1]}, r"'rating': 1 row\(s\) are <= 0"),
        ({"user": ["a", None, "b", "c"]}, r"'user': 1 row\(s\) have a missing id"),
        ({"item": [1, 2, np.nan, 4]}, r"'item': 1 row\(s\) have a missing id.*row 2"),
        ({"item": [10, 10, 30, 10], "user": ["a", "a", "b", "a"]}, r"'\(user, item\)': 3 row"),
    ],
)
def test_from_dataframe_rejects_bad_rows(change, pattern):
    frame = small_frame().assign(**change)
    with pytest.raises(ValueError, match=pattern):
        RatingMatrix.from_dataframe(frame)


def test_errors_show_dataframe_index_labels():
    frame = small_frame().set_axis(["w", "x", "y", "z"]).assign(rating=[3, 4, -1, 1])
    with pytest.raises(ValueError, match="row 'y': -1.0"):
        RatingMatrix.from_dataframe(frame)


def test_errors_show_at_most_five_rows():
    frame = pd.DataFrame({"user": range(8), "item": 1, "rating": 0.0})
    with pytest.raises(ValueError, match=r"8 row\(s\).*row 4: 0.0, \.\.\.\.$") as info:
        RatingMatrix.from_dataframe(frame)
    assert "row 5" not in str(info.value)


def test_scale_and_step_are_enforced():
    frame = small_frame()
    with pytest.raises(ValueError, match=r"outside the declared scale \(2.0, 5.0\).*row 3: 1.0"):
        RatingMatrix.from_dataframe(frame, scale=(2, 5))
    with pytest.raises(ValueError, match=r"not on the rating grid 1.0 \+ j \* 2.0"):
        RatingMatrix.from_dataframe(frame, scale=(1, 5), step=2)
    with pytest.raises(ValueError, match="scale="):
        RatingMatrix.from_dataframe(frame, scale=5)


def test_argument_and_shape_errors():
    with pytest.raises(ValueError, match=r"Missing column\(s\) \['stars'\]"):
        RatingMatrix.from_dataframe(small_frame(), rating_col="stars")
    with pytest.raises(ValueError, match="no ratings"):
        RatingMatrix.from_dataframe(small_frame().iloc[:0])
    with pytest.raises(ValueError, match="users=2, items=1, ratings=2"):
        RatingMatrix.from_arrays([1, 2], [1], [3, 4])
    with pytest.raises(ValueError, match="no ratings"):
        RatingMatrix.from_arrays([], [], [])
    with pytest.raises(ValueError, match="duplicates='sum'"):
        RatingMatrix.from_dataframe(small_frame(), duplicates="sum")


def test_duplicates_last_and_mean():
    frame = pd.DataFrame({"user": [1, 1, 1, 2], "item": [5, 5, 5, 5], "rating": [1, 2, 4, 3]})
    assert RatingMatrix.from_dataframe(frame, duplicates="last").ratings.tolist() == [4, 3]
    mean = RatingMatrix.from_dataframe(frame, duplicates="mean")
    np.testing.assert_allclose(mean.ratings, [7 / 3, 3])


def test_constructor_rejects_unsorted_or_out_of_range_indices():
    with pytest.raises(ValueError, match="unique and sorted"):
        RatingMatrix([1, 0], [0, 0], [1, 2], [0, 1], [0], (1, 2))
    with pytest.raises(IndexError, match=r"outside \[0, 1\)"):
        RatingMatrix([0], [3], [1], [0], [0], (1, 1))
    with pytest.raises(ValueError, match="unique ids"):
        RatingMatrix([0], [0], [1], [7, 7], [0], (1, 1))


@st.composite
def rating_frames(draw):
    n = draw(st.integers(1, 40))
    users = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=n, max_size=n))
    items = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    ratings = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    return pd.DataFrame({"user": users, "item": items, "rating": ratings})


@settings(max_examples=60, deadline=None)
@given(rating_frames(), st.sampled_from(["last", "mean"]))
def test_duplicate_policies_match_pandas_groupby(frame, policy):
    rm = RatingMatrix.from_dataframe(frame, duplicates=policy)
    expected = frame.groupby(["user", "item"])["rating"].agg(policy).sort_index()
    got = rm.to_dataframe().set_index(["user", "item"])["rating"]
    assert got.index.tolist() == expected.index.tolist()
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-6)
    # Dense rows agree with the coordinates, in both orientations.
    dense = np.zeros((rm.n_users, rm.n_items), dtype=np.float32)
    dense[rm.users, rm.items] = rm.ratings
    np.testing.assert_array_equal(rm.user_rows(np.arange(rm.n_users)), dense)
    np.testing.assert_array_equal(rm.item_rows(np.arange(rm.n_items)), dense.T)
    np.testing.assert_array_equal(rm.to_item_user_csr().toarray(), dense.T)


# --------------------------------------------------------------------------------------------
# Dense rows


def test_item_rows_orientation_and_dtype():
    rm = RatingMatrix.from_dataframe(small_frame())
    rows = rm.item_rows([0, 2])
    assert rows.dtype == np.float32 and rows.shape == (2, 3)
    # Item 10 (index 0) was rated 4 by ann and 1 by cid; item 30 only by ann.
    np.testing.assert_array_equal(rows, [[4.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    assert rm.item_rows(1).shape == (1, 3)
    assert rm.user_rows([]).shape == (0, 3)


@pytest.mark.parametrize("bad", [[-1], [3], [0.5], [[0]]])
def test_rows_reject_bad_indices(bad):
    rm = RatingMatrix.from_dataframe(small_frame())
    with pytest.raises(IndexError):
        rm.item_rows(bad)


# --------------------------------------------------------------------------------------------
# Splits


def grid_matrix(n_users=30, n_items=20, density=0.5, seed=0):
    rng = np.random.default_rng(seed)
    dense = rng.integers(1, 6, size=(n_users, n_items)) * (rng.random((n_users, n_items)) < density)
    return RatingMatrix.from_sparse(sparse.csr_array(dense.astype(float)))


def pairs(rm):
    return set(zip(rm.users.tolist(), rm.items.tolist(), rm.ratings.tolist(), strict=True))


def test_random_split_partitions_ratings_and_shares_id_maps():
    rm = grid_matrix()
    train, test = rm.random_split(test_fraction=0.2, seed=3)
    assert test.n_ratings == int(np.floor(0.2 * rm.n_ratings + 0.5))
    assert pairs(train) | pairs(test) == pairs(rm)
    assert not pairs(train) & pairs(test)
    for part in (train, test):
        assert part.user_ids is rm.user_ids and part.item_ids is rm.item_ids
        assert (part.n_users, part.n_items, part.scale) == (rm.n_users, rm.n_items, rm.scale)


def test_random_split_is_reproducible_and_seed_dependent():
    rm = grid_matrix()
    a = rm.random_split(seed=1)[1]
    b = rm.random_split(seed=1)[1]
    c = rm.random_split(seed=2)[1]
    assert pairs(a) == pairs(b) != pairs(c)


def test_random_split_errors():
    rm = RatingMatrix.from_arrays([1, 2], [1, 1], [3, 4])
    with pytest.raises(ValueError, match="empty test set"):
        rm.random_split(0.2)
    with pytest.raises(ValueError, match="test_fraction=1"):
        rm.random_split(1)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 10_000),
    st.floats(0.05, 0.95),
    st.integers(0, 3),
)
def test_per_user_split_counts_follow_the_formula(seed, fraction, min_train):
    rm = grid_matrix(n_users=12, n_items=9, density=0.6, seed=seed)
    counts = np.bincount(rm.users, minlength=rm.n_users)
    expected = np.clip(np.minimum(np.floor(fraction * counts + 0.5), counts - min_train), 0, None)
    if expected.sum() == 0:
        with pytest.raises(ValueError, match="test set would be empty"):
            rm.per_user_split(fraction, seed=seed, min_train=min_train)
        return
    train, test = rm.per_user_split(fraction, seed=seed, min_train=min_train)
    # Reference: count each user's test ratings with a plain loop.
    for user in range(rm.n_users):
        assert np.sum(test.users == user) == expected[user]
        assert np.sum(train.users == user) == counts[user] - expected[user]
    assert pairs(train) | pairs(test) == pairs(rm)
    assert not pairs(train) & pairs(test)
    assert train.user_ids is rm.user_ids and test.n_items == rm.n_items


def test_per_user_split_errors():
    rm = grid_matrix()
    with pytest.raises(ValueError, match="min_train=-1"):
        rm.per_user_split(min_train=-1)
    with pytest.raises(ValueError, match="test_fraction=0"):
        rm.per_user_split(0)


# --------------------------------------------------------------------------------------------
# Serialisation


@pytest.mark.parametrize(
    ("users", "items"),
    [
        ([1, 2, 3], [7, 8, 7]),
        (["a", "b", "c"], ["x", "y", "x"]),
        ([1, "a", 2], [0.5, 1.5, 0.5]),
    ],
)
def test_to_dict_json_round_trip_keeps_id_types(users, items):
    rm = RatingMatrix.from_arrays(users, items, [1.5, 2.0, 5.0], scale=(0.5, 5), step=0.5)
    back = RatingMatrix.from_dict(json.loads(json.dumps(rm.to_dict())))
    assert back.user_ids.tolist() == rm.user_ids.tolist()
    assert [type(v) for v in back.user_ids.tolist()] == [type(v) for v in rm.user_ids.tolist()]
    assert [type(v) for v in back.item_ids.tolist()] == [type(v) for v in rm.item_ids.tolist()]
    assert back.user_ids.dtype == rm.user_ids.dtype
    assert (back.scale, back.step) == (rm.scale, rm.step)
    np.testing.assert_array_equal(back.csr.toarray(), rm.csr.toarray())


def test_get_config_holds_only_id_maps():
    rm = RatingMatrix.from_dataframe(small_frame())
    config = json.loads(json.dumps(rm.get_config()))
    assert "ratings" not in config
    restored = RatingMatrix.from_config(config)
    assert restored.n_ratings == 0
    assert restored.user_index(["cid", "bob"]).tolist() == [2, 1]
    assert restored.item_ids.tolist() == [10, 20, 30]


def test_to_dict_refuses_ids_json_cannot_round_trip():
    users = np.empty(2, dtype=object)
    users[:] = [(1, 2), (3, 4)]
    rm = RatingMatrix.from_arrays(users, [1, 1], [2, 3])
    with pytest.raises(TypeError, match=r"2 user id\(s\) are not int, float or str"):
        rm.to_dict()


def test_from_dict_rejects_other_data():
    with pytest.raises(ValueError, match="Not a RatingMatrix dict"):
        RatingMatrix.from_dict({"user_ids": []})


# --------------------------------------------------------------------------------------------
# Real data


@pytest.mark.skipif(not U_DATA.is_file(), reason=f"MovieLens 100K not found at {U_DATA}")
def test_movielens_100k_matrix():
    frame = pd.read_csv(U_DATA, sep="\t", names=["user", "item", "rating", "timestamp"])
    rm = RatingMatrix.from_dataframe(frame, scale=(1, 5), step=1)
    assert (rm.n_users, rm.n_items, rm.n_ratings) == (943, 1682, 100_000)
    assert rm.user_ids[0] == 1 and rm.item_ids[-1] == 1682
    # Spot-check the first line of u.data: user 196 rated item 242 with 3.
    assert rm.item_rows([rm.item_index(242)])[0, rm.user_index(196)] == 3.0
    train, test = rm.random_split(0.2, seed=0)
    assert (train.n_ratings, test.n_ratings) == (80_000, 20_000)
