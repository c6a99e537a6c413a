import keras
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_hem.layers import EASEScorer


def reference_weights(ratings, l2):
    """EASE in float64 from its definition: ridge regression of each item on the others."""
    x = (np.asarray(ratings) != 0).astype(np.float64)
    n = x.shape[1]
    weights = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        a = x[:, others]
        weights[others, j] = np.linalg.solve(a.T @ a + l2 * np.eye(n - 1), a.T @ x[:, j])
    return weights


@settings(deadline=None, max_examples=25)
@given(
    ratings=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 12), st.integers(2, 8)),
        elements=st.sampled_from([0.0, 0.0, 1.0, 3.0, 5.0]),
    ),
    l2=st.sampled_from([0.5, 2.0, 50.0]),
)
def test_matches_per_item_ridge_regressions(ratings, l2):
    if not ratings.any():
        ratings[0, 0] = 4.0
    scorer = EASEScorer(l2=l2)
    scorer.adapt(ratings)
    weights = keras.ops.convert_to_numpy(scorer.item_weights)
    np.testing.assert_allclose(weights, reference_weights(ratings, l2), atol=2e-4)
    np.testing.assert_allclose(np.diag(weights), 0.0)
    scores = keras.ops.convert_to_numpy(scorer(ratings))
    np.testing.assert_allclose(scores, (ratings != 0) @ weights, atol=1e-5)


def test_values_do_not_matter_only_interactions():
    rng = np.random.default_rng(0)
    ratings = rng.integers(0, 6, size=(30, 10)).astype("float32")
    a, b = EASEScorer(l2=3.0), EASEScorer(l2=3.0)
    a.adapt(ratings)
    b.adapt((ratings != 0).astype("float32"))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(a(ratings)), keras.ops.convert_to_numpy(b(ratings != 0))
    )


def test_sparse_input_and_batches_equal_dense():
    rng = np.random.default_rng(1)
    ratings = rng.integers(0, 6, size=(50, 12)).astype("float32") * (rng.random((50, 12)) < 0.3)
    dense, sparse = EASEScorer(l2=5.0), EASEScorer(l2=5.0)
    dense.adapt(ratings)
    sparse.adapt(sp.csr_array(ratings), batch_size=7)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(dense.item_weights),
        keras.ops.convert_to_numpy(sparse.item_weights),
        atol=1e-6,
    )


def test_missing_value_other_than_zero():
    ratings = np.array([[5.0, -1.0, 0.0], [-1.0, 4.0, 0.0], [3.0, 2.0, -1.0]], "float32")
    scorer = EASEScorer(l2=1.0, missing_value=-1.0)
    scorer.adapt(ratings)
    expected = reference_weights((ratings != -1.0).astype("float32"), 1.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(scorer.item_weights), expected, atol=1e-5)


def test_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    ratings = (rng.random((40, 9)) < 0.4).astype("float32") * 4
    inputs = keras.Input((9,))
    model = keras.Model(inputs, EASEScorer(l2=2.0, name="ease")(inputs))
    model.get_layer("ease").adapt(ratings)
    path = tmp_path / "ease.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("ease").l2 == 2.0
    np.testing.assert_array_equal(
        loaded.predict(ratings, verbose=0), model.predict(ratings, verbose=0)
    )


def test_compiles_with_xla():
    ratings = (np.random.default_rng(3).random((16, 6)) < 0.5).astype("float32")
    scorer = EASEScorer(l2=1.0)
    scorer.adapt(ratings)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, scorer(inputs))
    model.compile(jit_compile=True)
    np.testing.assert_allclose(
        model.predict(ratings, verbose=0), keras.ops.convert_to_numpy(scorer(ratings)), atol=1e-6
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"l2": 0.0}, "l2=0.0"),
        ({"l2": -3}, "l2=-3"),
        ({"l2": True}, "l2=True"),
        ({"l2": "a"}, "l2='a'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EASEScorer(**kwargs)


def test_bad_adapt_data():
    with pytest.raises(ValueError, match="shape \\(4,\\)"):
        EASEScorer().adapt(np.ones(4))
    with pytest.raises(ValueError, match="no interaction"):
        EASEScorer().adapt(np.zeros((3, 4)))
    scorer = EASEScorer()
    scorer.adapt(np.ones((3, 4)))
    with pytest.raises(ValueError, match="5 items, but the layer was built for 4"):
        scorer.adapt(np.ones((3, 5)))


def test_sparse_input_ignores_stored_zeros_and_sums_duplicates():
    # Entry (0, 1) is stored twice (counts once); (1, 2) is an explicitly stored zero.
    matrix = sp.csr_array(
        (
            np.array([4.0, 1.0, 2.0, 0.0, 5.0]),
            (np.array([0, 0, 0, 1, 1]), np.array([0, 1, 1, 2, 0])),
        ),
        shape=(2, 3),
    )
    dense = np.array([[4.0, 3.0, 0.0], [5.0, 0.0, 0.0]], "float32")
    a, b = EASEScorer(l2=1.0), EASEScorer(l2=1.0)
    a.adapt(matrix)
    b.adapt(dense)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(a.item_weights), keras.ops.convert_to_numpy(b.item_weights)
    )
