"""HEMAAE on sparse batches: the same losses and updates as on dense ones, chosen by density."""

import keras
import numpy as np
import pytest
import scipy.sparse as sp

from keras_hem import HEMAAE
from keras_hem.data.pipeline import SparseRowBatches, make_row_batches
from keras_hem.datasets.synthetic import low_rank_ratings
from keras_hem.models import hem_aae


def trained(batch_format, ratings, validation=None, learning_rate=0.01, **kwargs):
    """A model after two epochs of plain SGD, so that each update is the gradient itself.

    Without denoising unless asked for: dense and sparse batches draw their random masks over
    different shapes (every entry / the observed ones), so only the noiseless steps match.
    """
    keras.utils.set_random_seed(0)
    kwargs.setdefault("input_dropout", 0.0)
    model = HEMAAE(hidden=8, seed=0, batch_format=batch_format, **kwargs)
    model.compile(
        autoencoder_optimizer=keras.optimizers.SGD(learning_rate),
        discriminator_optimizer=keras.optimizers.SGD(0.01),
        jit_compile=True,
    )
    history = model.fit(
        ratings, epochs=2, batch_size=32, verbose=0, shuffle=True, validation_data=validation
    )
    return model, history.history


@pytest.mark.parametrize(
    "output_activation, reduction, encoder_units, local_kernel_dim",
    [
        # Between them: both output activations, both reductions, a two-layer encoder (only
        # its first layer reads sparse ratings) and a local kernel on that layer.
        ("sigmoid", "mean", (), 0),
        ("identity", "sum", (12,), 3),
    ],
)
def test_sparse_and_dense_batches_give_the_same_losses_and_weights(
    output_activation, reduction, encoder_units, local_kernel_dim
):
    ratings = low_rank_ratings(n_items=90, n_users=70, density=0.1, seed=0)
    held_out = low_rank_ratings(n_items=90, n_users=70, density=0.05, seed=1)
    options = {
        "output_activation": output_activation,
        "reconstruction_reduction": reduction,
        "encoder_units": encoder_units,
        "local_kernel_dim": local_kernel_dim,
        "kernel_sparsity": 0.1 if local_kernel_dim else 0.0,
        # A summed loss has gradients ~ a batch's ratings (~200 here) times larger.
        "learning_rate": 0.01 if reduction == "mean" else 5e-5,
    }
    dense, dense_logs = trained("dense", ratings, (ratings, held_out), **options)
    sparse, sparse_logs = trained("sparse", ratings, (ratings, held_out), **options)
    assert sorted(dense_logs) == sorted(sparse_logs)
    for name, values in dense_logs.items():
        np.testing.assert_allclose(sparse_logs[name], values, rtol=1e-4, atol=1e-6, err_msg=name)
    # Two epochs of SGD steps: equal weights mean equal gradients at every step.
    for a, b in zip(dense.get_weights(), sparse.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_auto_picks_sparse_batches_below_the_density_threshold(monkeypatch):
    ratings = sp.csr_array(low_rank_ratings(n_items=40, n_users=30, density=0.1, seed=0))
    made = []
    original = hem_aae.make_row_batches

    def spy(*args, **kwargs):
        batches = original(*args, **kwargs)
        made.append(isinstance(batches, SparseRowBatches))
        return batches

    monkeypatch.setattr(hem_aae, "make_row_batches", spy)
    for threshold, expected in ((0.5, True), (0.05, False)):
        monkeypatch.setattr(hem_aae, "SPARSE_DENSITY", threshold)
        made.clear()
        model = HEMAAE(hidden=4, seed=0)
        model.compile()
        model.fit(ratings, epochs=1, batch_size=16, verbose=0)
        assert made == [expected]


def test_a_ranking_head_keeps_auto_dense_and_refuses_forced_sparse():
    ratings = low_rank_ratings(n_items=600, n_users=500, density=0.008, seed=0)
    assert HEMAAE(hidden=4).uses_sparse_batches(ratings)  # sparse enough
    model = HEMAAE(hidden=4, ranking_weight=0.1)
    model.compile()
    model.fit(ratings, epochs=1, verbose=0)
    assert not model.uses_sparse_batches(ratings)
    with pytest.raises(ValueError, match="ranking head"):
        HEMAAE(batch_format="sparse", ranking_weight=0.1)


def test_bad_batch_format_is_refused():
    with pytest.raises(ValueError, match="batch_format='csr'"):
        HEMAAE(batch_format="csr")


def test_sparse_batches_refuse_a_multi_device_distribution(monkeypatch):
    monkeypatch.setattr("keras_hem.data.pipeline.distribution_layout", lambda: (0, 1, 2))
    with pytest.raises(ValueError, match="devices"):
        make_row_batches(np.eye(4, dtype="float32"), batch_size=2, sparse=True)


def test_encode_steps_are_bounded_by_their_ratings(monkeypatch):
    ratings = low_rank_ratings(n_items=50, n_users=40, density=0.2, seed=0)
    ratings[3] = 4.0  # one row with more ratings than a step may hold
    model = HEMAAE(hidden=6, seed=0)
    model.compile()
    model.build((None, 40))
    expected = model.encode(sp.csr_array(ratings))  # one step
    steps = []
    encode_step = model._encode
    monkeypatch.setattr(hem_aae, "_ENTRY_CHUNK", 30)
    monkeypatch.setattr(model, "_encode", lambda x, t: steps.append(x) or encode_step(x, t))
    np.testing.assert_allclose(model.encode(sp.csr_array(ratings)), expected, atol=1e-6)
    counts = [int(np.sum(np.asarray(x["row_counts"]))) for x in steps]
    assert sum(counts) == np.count_nonzero(ratings)
    assert max(counts) == 40 and sorted(counts)[-2] <= 30  # the full row alone, others <= 30
    assert sum(int(np.asarray(x["row_counts"]).shape[0]) for x in steps) == 50


def test_encode_decode_and_pairs_match_predict():
    ratings = low_rank_ratings(n_items=50, n_users=40, density=0.2, seed=0)
    for activation in ("identity", "sigmoid"):
        model = HEMAAE(hidden=6, seed=0, output_activation=activation)
        model.compile()
        model.fit(ratings, epochs=1, verbose=0)
        full = model.predict(ratings, verbose=0)
        codes = model.encode(sp.csr_array(ratings), batch_size=7)
        np.testing.assert_allclose(model.decode(codes), full, atol=1e-5)
        columns = np.array([3, 0, 39])
        np.testing.assert_allclose(model.decode(codes, columns), full[:, columns], atol=1e-5)
        rows = np.array([0, 49, 7, 7])
        pairs = model.decode_pairs(codes[rows], [1, 2, 3, 39])
        np.testing.assert_allclose(pairs, full[rows, [1, 2, 3, 39]], atol=1e-5)


def test_batch_format_survives_save_and_load(tmp_path):
    model = HEMAAE(hidden=4, seed=0, batch_format="sparse")
    model.compile()
    model.fit(low_rank_ratings(n_items=30, n_users=20, seed=0), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.batch_format == "sparse"


def test_output_dense_starts_as_the_dense_layer_it_replaces(tmp_path):
    from keras_hem.layers import OutputDense

    x = np.random.default_rng(0).normal(size=(5, 7)).astype("float32")
    dense = keras.layers.Dense(3, "sigmoid", kernel_initializer=keras.initializers.GlorotUniform(4))
    output = OutputDense(3, "sigmoid", kernel_initializer=keras.initializers.GlorotUniform(4))
    np.testing.assert_allclose(np.asarray(output(x)), np.asarray(dense(x)), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(output.kernel), np.asarray(dense.kernel).T)
    model = keras.Sequential([keras.Input((7,)), output])
    model.save(tmp_path / "o.keras")
    loaded = keras.models.load_model(tmp_path / "o.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].get_config()["units"] == 3
    with pytest.raises(ValueError, match="units=0"):
        OutputDense(0)


def test_replicated_training_stays_dense(monkeypatch):
    ratings = low_rank_ratings(n_items=600, n_users=500, density=0.008, seed=0)
    auto, forced = HEMAAE(hidden=4), HEMAAE(hidden=4, batch_format="sparse")
    assert auto.uses_sparse_batches(ratings)
    monkeypatch.setattr(HEMAAE, "_replicas", lambda self: 2)  # e.g. a MirroredStrategy
    assert not auto.uses_sparse_batches(ratings)
    with pytest.raises(ValueError, match="replicas or devices"):
        forced.uses_sparse_batches(ratings)
