"""GlobalKernelConv: GLocal-K's global kernel, against a NumPy loop."""

import keras
import numpy as np
import pytest
from backend import value_and_gradient
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_hem.layers import GlobalKernelConv


def reference(rows, statistics, pool_weights, dot_scale):
    """The layer's output, one entry at a time, from the kernel's definition."""
    size = pool_weights.shape[1]
    kernel = np.zeros(size)
    kernel[size // 2] = 1.0
    for j in range(len(statistics)):  # the pooled statistics' dot product with the weights
        kernel += dot_scale * statistics[j] * pool_weights[j].astype(np.float64)
    out = np.zeros(rows.shape)
    for b in range(rows.shape[0]):
        for j in range(rows.shape[1]):
            for t in range(size):
                source = j + t - size // 2
                if 0 <= source < rows.shape[1]:  # zero padding beyond the ends
                    out[b, j] += kernel[t] * rows[b, source]
    return out


@settings(deadline=None, max_examples=15)
@given(
    st.integers(1, 7),
    st.sampled_from([1, 3, 5]),
    st.floats(0.1, 3.0),
    st.integers(0, 2**16),
)
def test_output_matches_the_loop(width, size, dot_scale, seed):
    rng = np.random.default_rng(seed)
    layer = GlobalKernelConv(size, dot_scale=dot_scale)
    rows = rng.normal(size=(3, width)).astype("float32")
    layer.build(rows.shape)
    statistics = rng.uniform(1, 5, size=width).astype("float32")
    pool_weights = rng.normal(scale=0.2, size=(width, size)).astype("float32")
    layer.set_statistics(statistics)
    layer.pool_weights.assign(pool_weights)
    expected = reference(rows, statistics, pool_weights, dot_scale)
    np.testing.assert_allclose(np.asarray(layer(rows)), expected, rtol=1e-4, atol=1e-4)


def test_starts_as_the_identity_and_its_weights_learn_only_once_statistics_are_set():
    layer = GlobalKernelConv(3, activation="relu")
    rows = np.random.default_rng(0).uniform(0, 5, size=(4, 6)).astype("float32")
    np.testing.assert_array_equal(np.asarray(layer(rows)), rows)  # ReLU keeps them too

    def gradient():
        def loss(weights):
            statistics = [layer.statistics.value]
            out, _ = layer.stateless_call([weights], statistics, keras.ops.convert_to_tensor(rows))
            return keras.ops.sum(out**2)

        return value_and_gradient(loss, np.asarray(layer.pool_weights.value))[1]

    np.testing.assert_array_equal(gradient(), 0.0)  # statistics 0: no gradient
    layer.set_statistics(np.full(6, 3.0))
    np.testing.assert_array_equal(np.asarray(layer(rows)), rows)  # still the identity
    assert np.abs(gradient()).max() > 0


def test_statistics_are_checked():
    layer = GlobalKernelConv()
    layer.build((None, 4))
    with pytest.raises(ValueError, match=r"shape \(4,\).*got \(3,\)"):
        layer.set_statistics(np.ones(3))
    with pytest.raises(ValueError, match="entry 2 is nan"):
        layer.set_statistics(np.array([1.0, 2.0, np.nan, 4.0]))


def test_config_and_save_load_round_trip(tmp_path):
    layer = GlobalKernelConv(5, dot_scale=0.5, activation="relu", name="global")
    model = keras.Sequential([keras.Input((6,)), layer])
    rng = np.random.default_rng(1)
    layer.set_statistics(rng.uniform(1, 5, size=6))
    layer.pool_weights.assign(rng.normal(scale=0.1, size=(6, 5)).astype("float32"))
    x = rng.uniform(0, 5, size=(2, 6)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "global.keras")
    loaded = keras.saving.load_model(tmp_path / "global.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    config = loaded.layers[0].get_config()
    assert (config["kernel_size"], config["dot_scale"]) == (5, 0.5)
    assert GlobalKernelConv.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"kernel_size": 0}, "kernel_size=0"),
        ({"kernel_size": 4}, "odd.*kernel_size=4"),
        ({"kernel_size": 2.0}, r"kernel_size=2\.0"),
        ({"dot_scale": 0.0}, r"dot_scale=0\.0"),
        ({"dot_scale": float("inf")}, "dot_scale=inf"),
    ],
)
def test_bad_arguments_are_quoted(kwargs, quoted):
    with pytest.raises(ValueError, match=quoted):
        GlobalKernelConv(**kwargs)
