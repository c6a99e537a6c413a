"""LocalKernelDense: kernelNet's sparsified dense layer, against a NumPy loop."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_hem.datasets.synthetic import low_rank_ratings
from keras_hem.layers import LocalKernelDense, MeanModel, MeanModelLabeler
from keras_hem.mining import TripletHardMiner
from keras_hem.models import AdversarialAutoencoder


def reference(x, kernel, bias, u, v):
    """The layer's output, one weight at a time: x @ (W * max(0, 1 - |u_i - v_j|^2)) + b."""
    gated = np.zeros_like(kernel, dtype=np.float64)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            distance = np.sum((u[i].astype(np.float64) - v[j]) ** 2)
            gated[i, j] = kernel[i, j] * max(0.0, 1.0 - distance)
    return x.astype(np.float64) @ gated + bias


@settings(deadline=None, max_examples=15)
@given(
    st.integers(1, 6),
    st.integers(1, 5),
    st.integers(1, 3),
    st.floats(0.05, 1.0),
    st.integers(0, 2**16),
)
def test_output_matches_the_loop(n_in, units, kernel_dim, spread, seed):
    layer = LocalKernelDense(units, kernel_dim=kernel_dim, embedding_stddev=spread, seed=seed)
    x = np.random.default_rng(seed).normal(size=(4, n_in)).astype("float32")
    out = np.asarray(layer(x))
    weights = [np.asarray(w) for w in (layer.kernel, layer.bias)]
    points = [np.asarray(w) for w in (layer.input_embeddings, layer.output_embeddings)]
    np.testing.assert_allclose(out, reference(x, *weights, *points), rtol=1e-4, atol=1e-5)
    kernel = np.asarray(layer.local_kernel())
    assert ((kernel >= 0) & (kernel <= 1)).all()
    np.testing.assert_allclose(float(layer.kernel_sparsity()), np.sum(kernel**2), rtol=1e-5)


def test_far_apart_points_cut_the_connection_and_pass_no_gradient_through_it():
    layer = LocalKernelDense(2, kernel_dim=1, kernel_initializer="ones")
    layer.build((None, 2))
    layer.input_embeddings.assign(np.array([[0.0], [0.0]], "float32"))
    layer.output_embeddings.assign(np.array([[0.5], [3.0]], "float32"))  # unit 1: 3 apart
    out = np.asarray(layer(np.array([[1.0, 2.0]], "float32")))
    np.testing.assert_allclose(out, [[3 * 0.75, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(layer.effective_kernel())[:, 1], 0.0)


def test_starts_as_the_dense_layer_with_the_same_kernel():
    init = keras.initializers.GlorotUniform(seed=3)
    dense = keras.layers.Dense(4, kernel_initializer=init)
    local = LocalKernelDense(4, kernel_initializer=keras.initializers.GlorotUniform(seed=3))
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    np.testing.assert_allclose(np.asarray(local(x)), np.asarray(dense(x)), rtol=1e-4, atol=1e-5)


def test_config_and_save_load_round_trip(tmp_path):
    layer = LocalKernelDense(3, kernel_dim=2, activation="sigmoid", seed=4, name="local")
    model = keras.Sequential([keras.Input((5,)), layer])
    x = np.random.default_rng(1).normal(size=(2, 5)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "local.keras")
    loaded = keras.saving.load_model(tmp_path / "local.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    config = loaded.layers[0].get_config()
    assert (config["units"], config["kernel_dim"], config["seed"]) == (3, 2, 4)
    assert LocalKernelDense.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"units": 0}, "units=0"),
        ({"units": 2, "kernel_dim": 0}, "kernel_dim=0"),
        ({"units": 2, "embedding_stddev": 0.0}, "embedding_stddev=0.0"),
        ({"units": 2, "embedding_stddev": True}, "embedding_stddev=True"),
    ],
)
def test_bad_arguments_are_quoted(kwargs, quoted):
    with pytest.raises(ValueError, match=quoted):
        LocalKernelDense(**kwargs)


def test_trains_as_the_adversarial_autoencoders_networks():
    ratings = low_rank_ratings(n_items=64, n_users=30, seed=2)
    labeler = MeanModelLabeler()
    labeler.adapt(ratings)
    model = AdversarialAutoencoder(
        keras.Sequential([keras.Input((30,)), LocalKernelDense(8, activation="sigmoid", seed=0)]),
        keras.Sequential([keras.Input((8,)), LocalKernelDense(30, seed=1)]),
        keras.Sequential([keras.Input((16,)), keras.layers.Dense(1)]),
        labeler=labeler,
        miner=TripletHardMiner(),
        feature_layer=MeanModel(),
    )
    model.compile(jit_compile=True)
    points = model.encoder.layers[0].input_embeddings
    before = keras.ops.convert_to_numpy(points).copy()
    history = model.fit(ratings, epochs=8, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # The points moved: the kernel itself is learnt, not only the weights it gates.
    assert np.abs(keras.ops.convert_to_numpy(points) - before).max() > 1e-4
