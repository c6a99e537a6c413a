import keras
import numpy as np
import pytest
from backend import BACKEND, requires_tensorflow, xla
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reference import mean_model

from keras_hem.layers import MeanModel


def run(layer, x, **kwargs):
    return keras.ops.convert_to_numpy(layer(x, **kwargs))


def test_hand_worked_example():
    # Row [5, 3, _, 1, 4]: t0 = 13/4 = 3.25; <= 3.25 -> {3, 1} = 2; > 3.25 -> {5, 4} = 4.5;
    # level 2: {1} = 1, {3} = 3, {4} = 4, {5} = 5.
    x = np.array([[5.0, 3.0, 0.0, 1.0, 4.0]])
    np.testing.assert_allclose(run(MeanModel(depth=3), x), [[3.25, 2, 4.5, 1, 3, 4, 5]])


@given(
    ratings=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 6), st.integers(1, 40)),
        elements=st.sampled_from([0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.5, 3.5]),
    ),
    depth=st.integers(1, 6),
)
# Eager ops are slow on the second backend; the TensorFlow pass draws the profile's 40.
@settings(max_examples=40 if BACKEND == "tensorflow" else 8)
def test_matches_reference(ratings, depth):
    np.testing.assert_allclose(
        run(MeanModel(depth=depth), ratings), mean_model(ratings, depth), rtol=1e-5, atol=1e-5
    )


@given(
    ratings=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 30)),
        elements=st.floats(-10, 10, allow_nan=False, width=32),
    ),
    depth=st.integers(1, 4),
)
def test_continuous_values_and_explicit_mask(ratings, depth):
    observed = np.abs(ratings) > 2.0  # observed entries may hold any value, 0 included
    expected = mean_model(ratings, depth, observed=observed)
    got = run(MeanModel(depth=depth), ratings.astype("float32"), mask=observed)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_edge_cases(depth):
    rows = np.array(
        [
            [0, 0, 0, 0, 0, 0],  # all missing -> fill_value
            [0, 0, 4, 0, 0, 0],  # a single rating fills the whole tree
            [3, 3, 3, 0, 3, 3],  # all equal: every tie goes to the even child
            [2, 4, 0, 3, 0, 0],  # t0 = 3 ties with a rating: 3 goes to the <= child
        ],
        dtype="float32",
    )
    out = run(MeanModel(depth=depth, fill_value=-1.0), rows)
    assert out.shape == (4, 2**depth - 1)
    np.testing.assert_array_equal(out[0], -1.0)
    np.testing.assert_array_equal(out[1], 4.0)
    np.testing.assert_array_equal(out[2], 3.0)
    np.testing.assert_allclose(out, mean_model(rows, depth, fill_value=-1.0), atol=1e-6)
    if depth >= 2:
        np.testing.assert_allclose(out[3, :3], [3.0, 2.5, 4.0])


def test_nan_missing_value():
    x = np.array([[np.nan, 0.0, 2.0, np.nan]], "float32")
    np.testing.assert_allclose(run(MeanModel(2, missing_value=float("nan")), x), [[1, 0, 2]])


def test_integer_and_half_precision_inputs_give_float32():
    x = np.array([[5, 3, 0, 1]])
    assert run(MeanModel(), x).dtype == np.float32
    for dtype in ("float16", "bfloat16"):
        out = MeanModel()(keras.ops.cast(x, dtype))
        assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_float32_output_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    out = MeanModel()(np.ones((2, 5), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


@pytest.mark.parametrize("depth", [0, 17, 2.0, True, "3"])
def test_rejects_bad_depth(depth):
    with pytest.raises(ValueError, match=f"depth={depth!r}"):
        MeanModel(depth=depth)


def test_rejects_bad_rank_and_dtype():
    with pytest.raises(ValueError, match="rank-3"):
        MeanModel()(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="rank-1"):
        MeanModel()(np.ones((4,), "float32"))
    with pytest.raises(ValueError, match="bool"):
        MeanModel()(np.ones((2, 2), bool))


@requires_tensorflow
def test_rejects_string_tensors():
    import tensorflow as tf

    with pytest.raises(ValueError, match="string"):
        MeanModel()(tf.constant([["a", "b"]]))


def test_jit_compile_and_inside_model(rng):
    x = rng.integers(0, 6, size=(32, 50)).astype("float32")
    inputs = keras.Input((50,))
    model = keras.Model(inputs, keras.layers.Dense(2)(MeanModel(depth=4)(inputs)))
    model.compile(loss="mse", jit_compile=True)
    model.fit(x, np.zeros((32, 2)), epochs=1, verbose=0)
    compiled = xla(MeanModel(depth=4))
    np.testing.assert_allclose(np.asarray(compiled(x)), mean_model(x, 4), rtol=1e-5, atol=1e-5)


@requires_tensorflow
def test_in_tf_data_pipeline(rng):
    import tensorflow as tf

    x = rng.integers(0, 6, size=(10, 20)).astype("float32")
    layer = MeanModel(depth=3)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(4).map(layer)
    out = np.concatenate([b.numpy() for b in ds])
    np.testing.assert_allclose(out, mean_model(x, 3), rtol=1e-5)


def test_get_config_round_trip():
    layer = MeanModel(depth=5, missing_value=-1.0, fill_value=2.5, name="mm")
    clone = MeanModel.from_config(layer.get_config())
    assert (clone.depth, clone.missing_value, clone.fill_value) == (5, -1.0, 2.5)
    assert keras.saving.get_registered_name(MeanModel) == "keras_hem>MeanModel"
