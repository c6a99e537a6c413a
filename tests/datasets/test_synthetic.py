import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import sparse

from keras_hem.datasets import synthetic
from keras_hem.datasets.synthetic import SHAPES, sparse_ratings


@pytest.fixture(autouse=True)
def _reset_keras_state():
    # Overrides tests/conftest.py: these tests keep no Keras state.
    yield


def pairs(matrix):
    coo = matrix.tocoo()
    return coo.row.astype(np.int64) * matrix.shape[1] + coo.col


def check_matrix(matrix, n_users, n_items, n_ratings, scale=(0.5, 5.0), step=0.5):
    assert isinstance(matrix, sparse.csr_array)
    assert matrix.shape == (n_items, n_users) and matrix.dtype == np.float32
    assert matrix.nnz == n_ratings
    assert len(np.unique(pairs(matrix))) == n_ratings  # no duplicate (item, user) pair
    assert matrix.has_sorted_indices
    values = matrix.data.astype(np.float64)
    assert (values >= scale[0]).all() and (values <= scale[1]).all()
    levels = (values - scale[0]) / step
    np.testing.assert_allclose(levels, np.rint(levels), atol=1e-5)
    if n_ratings >= max(n_users, n_items):
        assert (np.diff(matrix.indptr) > 0).all(), "an item without ratings"
        assert (np.bincount(matrix.indices, minlength=n_users) > 0).all(), "a user without ratings"


def test_movielens_shape_and_grid():
    matrix = sparse_ratings(n_users=600, n_items=400, n_ratings=20_000, seed=3)
    check_matrix(matrix, 600, 400, 20_000)
    assert set(np.unique(matrix.data).tolist()) <= {k / 2 for k in range(1, 11)}
    # Roughly MovieLens-like values: most mass between 3 and 4.5 stars.
    assert 3.2 < matrix.data.mean() < 3.8 and 0.8 < matrix.data.std() < 1.2


def test_popularity_is_skewed():
    n_users, n_items, n_ratings = 2000, 1000, 60_000
    matrix = sparse_ratings(n_users, n_items, n_ratings, seed=0)
    per_item = np.sort(np.diff(matrix.indptr))[::-1]
    assert per_item[: n_items // 10].sum() > 0.4 * n_ratings
    per_user = np.sort(np.bincount(matrix.indices, minlength=n_users))[::-1]
    assert per_user[: n_users // 10].sum() > 0.3 * n_ratings
    # No skew asked for: much flatter.
    flat = sparse_ratings(n_users, n_items, n_ratings, item_exponent=0, user_sigma=0, seed=0)
    per_item = np.sort(np.diff(flat.indptr))[::-1]
    assert per_item[: n_items // 10].sum() < 0.15 * n_ratings


def test_deterministic_per_seed():
    a = sparse_ratings(300, 200, 5000, seed=7)
    b = sparse_ratings(300, 200, 5000, seed=7)
    c = sparse_ratings(300, 200, 5000, seed=8)
    assert (a != b).nnz == 0
    assert (a != c).nnz > 0


def test_as_frame_matches_the_matrix():
    matrix = sparse_ratings(50, 30, 400, seed=2)
    frame = sparse_ratings(50, 30, 400, seed=2, as_frame=True)
    assert list(frame.columns) == ["user", "item", "rating"]
    assert [str(t) for t in frame.dtypes] == ["int64", "int64", "float64"]
    assert len(frame) == 400
    dense = matrix.toarray()
    np.testing.assert_array_equal(dense[frame["item"], frame["user"]], frame["rating"])


def test_other_scale_and_options():
    matrix = sparse_ratings(40, 60, 900, scale=(1, 5), step=1, rank=0, noise=0, seed=1)
    check_matrix(matrix, 40, 60, 900, scale=(1, 5), step=1)
    matrix = sparse_ratings(40, 60, 900, scale=(0.1, 1.0), step=0.1, seed=1)
    check_matrix(matrix, 40, 60, 900, scale=(0.1, 1.0), step=0.1)


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1), (1, 7, 7), (7, 1, 3), (3, 4, 12), (20, 30, 599), (20, 30, 600), (50, 40, 10)],
)
def test_edge_shapes_and_dense(shape):
    check_matrix(sparse_ratings(*shape, seed=0), *shape)


def test_extreme_skew_still_gives_exact_counts():
    # Near-dense with extreme skew: popularity sampling stalls and the exact fallback fills in.
    check_matrix(sparse_ratings(60, 50, 2990, item_exponent=8, user_sigma=6, seed=0), 60, 50, 2990)
    # Sparse but extreme: the uniform fallback.
    n_users, n_items, n_ratings = 20_000, 3000, 300_000
    matrix = sparse_ratings(n_users, n_items, n_ratings, item_exponent=30, user_sigma=40, seed=0)
    check_matrix(matrix, n_users, n_items, n_ratings)


@given(
    n_users=st.integers(1, 60),
    n_items=st.integers(1, 60),
    share=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
    item_exponent=st.sampled_from([0.0, 1.5, 4.0]),
    user_sigma=st.sampled_from([0.0, 1.2, 3.0]),
)
def test_property_small_shapes(n_users, n_items, share, seed, item_exponent, user_sigma):
    n_ratings = max(1, round(share * n_users * n_items))
    matrix = sparse_ratings(
        n_users,
        n_items,
        n_ratings,
        item_exponent=item_exponent,
        user_sigma=user_sigma,
        seed=seed,
    )
    check_matrix(matrix, n_users, n_items, n_ratings)


def test_shapes_table():
    assert SHAPES == {
        "ml-1m": (6040, 3706, 1_000_209),
        "ml-10m": (69_878, 10_677, 10_000_054),
        "ml-25m": (162_541, 59_047, 25_000_095),
    }
    assert all(n <= u * i for u, i, n in SHAPES.values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_ratings": 13}, r"cannot exceed n_users \* n_items = 12.*n_ratings=13"),
        ({"n_ratings": 0}, "n_ratings=0"),
        ({"n_users": 0}, "n_users=0"),
        ({"n_items": 2.5}, "n_items=2.5"),
        ({"n_users": True}, "n_users=True"),
        ({"scale": (0, 5)}, r"0 < min < max.*scale=\(0, 5\)"),
        ({"scale": (5, 1)}, r"scale=\(5, 1\)"),
        ({"scale": 5}, "scale=5"),
        ({"step": 0.4}, r"max - min = 4.5.*step=0.4"),
        ({"step": 0}, "step=0"),
        ({"step": 10.0}, "step=10.0"),
        ({"rank": -1}, "rank=-1"),
        ({"noise": float("nan")}, "noise=nan"),
        ({"item_exponent": -1}, "item_exponent=-1"),
        ({"item_offset": float("inf")}, "item_offset=inf"),
        ({"user_sigma": -0.5}, "user_sigma=-0.5"),
    ],
)
def test_bad_arguments(kwargs, message):
    arguments = {"n_users": 3, "n_items": 4, "n_ratings": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        sparse_ratings(**arguments)


def test_low_rank_ratings_unchanged():
    r = synthetic.low_rank_ratings(n_items=50, n_users=40, seed=1)
    assert r.shape == (50, 40) and r.dtype == np.float32
