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


# ---------------------------------------------------------------------------------------------
# Catalogues above the memory bound: EASE on the most-rated items


def popular_ratings(seed=4, n_users=60, n_items=12):
    """Interactions whose items have distinct popularity (item j kept with a falling rate)."""
    rng = np.random.default_rng(seed)
    rates = np.linspace(0.9, 0.1, n_items)
    return (rng.random((n_users, n_items)) < rates).astype("float32") * 4


def test_restricted_ease_is_exact_ease_on_the_most_rated_items():
    ratings = popular_ratings()
    counts = (ratings != 0).sum(axis=0)
    kept = np.sort(np.argsort(-counts, kind="stable")[:5])
    scorer = EASEScorer(l2=3.0, max_items=5)
    scorer.adapt(sp.csr_array(ratings))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(scorer.kept_items), kept)
    weights = keras.ops.convert_to_numpy(scorer.item_weights)
    np.testing.assert_allclose(weights, reference_weights(ratings[:, kept], 3.0), atol=1e-5)
    # The other items score 0 and add nothing to the kept items' scores.
    expected = np.zeros(ratings.shape)
    expected[:, kept] = (ratings[:, kept] != 0) @ weights
    np.testing.assert_allclose(keras.ops.convert_to_numpy(scorer(ratings)), expected, atol=1e-5)


def test_sparse_scores_equal_the_layer():
    from keras_hem.layers.ease_scorer import binary_interactions, ease_scores

    ratings = popular_ratings(seed=5)
    scorer = EASEScorer(l2=2.0, max_items=7)
    scorer.adapt(ratings)
    kept = keras.ops.convert_to_numpy(scorer.kept_items)
    weights = keras.ops.convert_to_numpy(scorer.item_weights)
    got = ease_scores(binary_interactions(ratings[:9]), kept, weights, ratings.shape[1])
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(scorer(ratings[:9])), atol=1e-5)


def test_most_rated_items_breaks_ties_by_index():
    from keras_hem.layers.ease_scorer import most_rated_items

    interactions = sp.csr_array(np.array([[1, 1, 1, 0, 1], [0, 1, 1, 1, 0], [0, 0, 0, 1, 1]]))
    # Counts: 1, 2, 2, 2, 2 -> the first three items with 2 win the tie.
    assert most_rated_items(interactions, 3).tolist() == [1, 2, 3]
    assert most_rated_items(interactions, 10).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("memory", "expected"),
    [
        (16 << 30, 16384),  # 16 GiB: a quarter is 4 GiB = 16 B x 16384^2
        (128 << 30, 46340),  # floor(sqrt(32 GiB / 16 B))
        (1000, 3),  # floor(sqrt(250 / 16))
        (1, 1),  # never below one item
    ],
)
def test_memory_bound_picks_the_number_of_items(monkeypatch, memory, expected):
    from keras_hem.layers import ease_scorer

    monkeypatch.setattr(ease_scorer, "physical_memory", lambda: memory)
    assert ease_scorer.max_items_for_memory() == expected
    # The bound is the largest M whose M x M matrices (16 bytes a cell) fit in a quarter.
    assert 16 * expected**2 <= max(memory / 4, 16)
    assert 16 * (expected + 1) ** 2 > memory / 4
    layer = EASEScorer()
    layer.build((None, 20))
    assert layer.item_weights.shape == (min(20, expected),) * 2
    # The default also caps M at DEFAULT_MAX_ITEMS; it is pinned for loading elsewhere.
    assert layer.get_config()["max_items"] == min(expected, ease_scorer.DEFAULT_MAX_ITEMS)


def test_physical_memory_reads_the_os(monkeypatch):
    from keras_hem.layers import ease_scorer

    values = {"SC_PHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(ease_scorer.os, "sysconf", values.__getitem__)
    assert ease_scorer.physical_memory() == 4_096_000
    monkeypatch.setattr(ease_scorer.os, "sysconf", lambda name: -1)
    assert ease_scorer.physical_memory() == 8 << 30


def test_bad_memory_arguments():
    from keras_hem.layers.ease_scorer import max_items_for_memory

    with pytest.raises(ValueError, match="memory=0"):
        max_items_for_memory(memory=0)
    with pytest.raises(ValueError, match="fraction=1.5"):
        max_items_for_memory(memory=1 << 30, fraction=1.5)
    with pytest.raises(ValueError, match="max_items=0"):
        EASEScorer(max_items=0)
    with pytest.raises(ValueError, match="max_items=2.0"):
        EASEScorer(max_items=2.0)


def test_restricted_layer_saves_loads_and_compiles(tmp_path):
    ratings = popular_ratings(seed=6)
    inputs = keras.Input((ratings.shape[1],))
    model = keras.Model(inputs, EASEScorer(l2=2.0, max_items=4, name="ease")(inputs))
    model.get_layer("ease").adapt(ratings)
    path = tmp_path / "ease.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("ease").max_items == 4
    np.testing.assert_array_equal(
        loaded.predict(ratings, verbose=0), model.predict(ratings, verbose=0)
    )
    loaded.compile(jit_compile=True)
    np.testing.assert_allclose(
        loaded.predict(ratings, verbose=0), model.predict(ratings, verbose=0), atol=1e-6
    )
