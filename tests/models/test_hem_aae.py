import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import scipy.sparse as sp
from backend import requires_tensorflow
from scipy.special import expit

from keras_hem import HEMAAE, RatingMatrix
from keras_hem.datasets.synthetic import low_rank_ratings
from keras_hem.layers import GlobalKernelConv, LocalKernelDense


def split_entries(ratings, fraction=0.2, seed=0):
    """Hold out a random share of the observed entries: (train, test) matrices."""
    rng = np.random.default_rng(seed)
    held_out = (ratings > 0) & (rng.random(ratings.shape) < fraction)
    return np.where(held_out, 0.0, ratings), np.where(held_out, ratings, 0.0)


def frozen():
    """Compile arguments with learning rate 0 for all three optimizers: nothing moves."""
    parts = ("autoencoder", "discriminator", "generator")
    return {f"{part}_optimizer": keras.optimizers.SGD(0.0) for part in parts}


def small_model(**kwargs):
    compile_kwargs = kwargs.pop("compile", {})
    model = HEMAAE(hidden=kwargs.pop("hidden", 16), seed=0, **kwargs)
    model.compile(**compile_kwargs)
    return model


def test_fit_beats_the_global_mean_on_held_out_ratings():
    ratings = low_rank_ratings(n_items=300, n_users=200, density=0.25, seed=0)
    train, test = split_entries(ratings)
    model = small_model(hidden=32)
    model.fit(train, epochs=40, batch_size=16, verbose=0)
    observed = test > 0
    prediction = np.clip(model.predict(train, verbose=0), 1, 5)
    mae = np.abs(prediction - test)[observed].mean()
    baseline = np.abs(train[train > 0].mean() - test[observed]).mean()
    # Stated margin: at least 15% below the global-mean predictor's MAE (measured: 23%).
    assert mae < 0.85 * baseline, (mae, baseline)


def test_sparse_dataset_and_rating_matrix_inputs_agree():
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=1)
    dense = small_model()
    dense.fit(ratings, epochs=2, batch_size=16, shuffle=False, verbose=0)
    sparse = small_model()
    sparse.fit(sp.csr_array(ratings), epochs=2, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        dense.predict(ratings, verbose=0),
        sparse.predict(sp.csr_matrix(ratings), verbose=0),
        rtol=1e-5,
        atol=1e-5,
    )
    items, users = np.nonzero(ratings)
    matrix = RatingMatrix.from_arrays(users, items, ratings[items, users])
    from_matrix = small_model()
    from_matrix.fit(matrix, epochs=1, batch_size=16, verbose=0)
    assert from_matrix.predict(matrix, verbose=0).shape == (matrix.n_items, matrix.n_users)


@requires_tensorflow
def test_tf_data_input():
    import tensorflow as tf

    ratings = low_rank_ratings(n_items=40, n_users=30, seed=1)
    dense = small_model()
    dense.fit(ratings, epochs=1, batch_size=16, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices(ratings).batch(16)
    from_dataset = small_model()
    history = from_dataset.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # Adapting on a dataset sees the same ratings as adapting on the array.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(from_dataset.labeler.thresholds),
        keras.ops.convert_to_numpy(dense.labeler.thresholds),
    )


def test_py_dataset_input():
    from keras_hem.data.pipeline import RowBatches

    ratings = low_rank_ratings(n_items=40, n_users=30, seed=1)
    model = small_model()
    history = model.fit(RowBatches(ratings, batch_size=16), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))
    assert model.predict(ratings, verbose=0).shape == ratings.shape


def test_user_orientation_transposes():
    ratings = low_rank_ratings(n_items=30, n_users=20, seed=2)
    model = small_model(orientation="user")
    model.fit(ratings, epochs=1, batch_size=8, verbose=0)
    assert model.encoder.input_shape == (None, 30)  # samples are users: rows of width n_items
    assert model.predict(ratings, verbose=0).shape == (30, 20)


def test_paper_setting_sigmoid_output_stays_on_the_scale():
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=3)
    model = small_model(output_activation="sigmoid")
    model.fit(ratings, epochs=1, batch_size=16, verbose=0)
    assert model.rating_scale == (1.0, 5.0)
    prediction = model.predict(ratings, verbose=0)
    assert prediction.min() >= 1.0 and prediction.max() <= 5.0


def test_standard_callbacks_and_summary(tmp_path, capsys):
    ratings = low_rank_ratings(n_items=60, n_users=30, seed=4)
    train, valid = split_entries(ratings)
    model = small_model()
    callbacks = [
        keras.callbacks.EarlyStopping("val_mae", patience=1, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(
            tmp_path / "best.keras", monitor="val_mae", save_best_only=True
        ),
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
        keras.callbacks.TerminateOnNaN(),
    ]
    history = model.fit(
        train,
        epochs=4,
        batch_size=32,
        validation_data=(train, valid),
        callbacks=callbacks,
        verbose=0,
    )
    assert {"val_mae", "val_rmse", "val_loss", "val_d_loss"} <= set(history.history)
    assert (tmp_path / "best.keras").exists()
    best = keras.models.load_model(tmp_path / "best.keras")
    assert isinstance(best, HEMAAE)
    model.summary()
    assert "encoder" in capsys.readouterr().out


def test_save_load_identical_predictions_also_in_a_fresh_process(tmp_path):
    ratings = low_rank_ratings(n_items=50, n_users=30, seed=5)
    model = small_model(label_depth=2, strategy="semi_hard", reconstruction_reduction="sum")
    model.fit(ratings, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    expected = model.predict(ratings, verbose=0)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(ratings, verbose=0), expected)
    assert loaded.get_config() == model.get_config()
    np.save(tmp_path / "ratings.npy", ratings)
    script = textwrap.dedent(f"""
        import keras, numpy as np, keras_hem  # the backend comes from the environment
        model = keras.models.load_model({str(path)!r})
        out = model.predict(np.load({str(tmp_path / "ratings.npy")!r}), verbose=0)
        np.save({str(tmp_path / "fresh.npy")!r}, out)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    np.testing.assert_array_equal(np.load(tmp_path / "fresh.npy"), expected)


def test_fixed_seed_gives_identical_weights():
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=6)
    weights = []
    for _ in range(2):
        model = small_model()
        model.fit(ratings, epochs=2, batch_size=16, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_jit_compile():
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=7)
    model = small_model(compile={"jit_compile": True})  # denoising, as by default
    history = model.fit(ratings, epochs=1, batch_size=16, verbose=0)
    after_one = keras.ops.convert_to_numpy(model._dropout_seed.state).copy()
    history = model.fit(ratings, epochs=1, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    # The compiled step draws a new mask each time: the generator's state moves on.
    assert not np.array_equal(keras.ops.convert_to_numpy(model._dropout_seed.state), after_one)


def test_mixed_precision_trains_with_finite_losses():
    keras.config.set_dtype_policy("mixed_float16")
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=8)
    model = small_model()
    history = model.fit(ratings, epochs=2, batch_size=16, verbose=0)
    for values in history.history.values():
        assert np.all(np.isfinite(values))
    assert model.predict(ratings, verbose=0).dtype == np.float32


@pytest.mark.slow
@requires_tensorflow
def test_mirrored_strategy_matches_one_device(tmp_path):
    # Logical devices must be set before TensorFlow starts, so this runs in a fresh process.
    script = textwrap.dedent(f"""
        import json, keras, numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        two_cpus = [tf.config.LogicalDeviceConfiguration()] * 2
        tf.config.set_logical_device_configuration(cpu, two_cpus)
        from keras_hem import HEMAAE
        from keras_hem.datasets.synthetic import low_rank_ratings
        ratings = low_rank_ratings(n_items=64, n_users=30, seed=9)

        def run(strategy, **settings):
            settings.setdefault("input_dropout", 0.0)  # replicas draw their own masks
            with strategy.scope():
                model = HEMAAE(hidden=8, seed=0, **settings)
                model.compile(autoencoder_optimizer=keras.optimizers.SGD(0.05),
                              discriminator_optimizer=keras.optimizers.SGD(0.05),
                              generator_optimizer=keras.optimizers.SGD(0.05))
            h = model.fit(ratings, epochs=1, batch_size=64, shuffle=False, verbose=0)
            return model, {{k: float(v[0]) for k, v in h.history.items()}}

        one, logs_one = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
        two, logs_two = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
        two.save({str(tmp_path / "mirrored.keras")!r})
        loaded = keras.models.load_model({str(tmp_path / "mirrored.keras")!r})
        gap = loaded.predict(ratings, verbose=0) - two.predict(ratings, verbose=0)
        # Without mining (triplets are found within a replica's share), one update on the
        # whole batch must give the same weights under either strategy, for either reduction.
        step_gaps = {{}}
        for reduction in ("sum", "mean"):
            plain = dict(triplet_weight=0.0, adversarial_weight=0.0,
                         reconstruction_reduction=reduction)
            a, _ = run(tf.distribute.OneDeviceStrategy("/cpu:0"), **plain)
            b, _ = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), **plain)
            diff = a.predict(ratings, verbose=0) - b.predict(ratings, verbose=0)
            step_gaps[reduction] = float(np.abs(diff).max())
        # Denoising (the default) trains under the strategy too: its masks hide ratings
        # (another result than without) and its seed state advances once per step.
        noisy, logs_noisy = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
                                input_dropout=0.5)
        noise_gap = noisy.predict(ratings, verbose=0) - two.predict(ratings, verbose=0)
        seed_state = keras.ops.convert_to_numpy(noisy._dropout_seed.state).tolist()
        print(json.dumps({{"one": logs_one, "two": logs_two, "gap": float(np.abs(gap).max()),
                          "step_gaps": step_gaps, "noisy": logs_noisy,
                          "noise_gap": float(np.abs(noise_gap).max()),
                          "seed_state": seed_state}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Same weights; mirrored prediction splits batches, so float32 sums may round differently.
    assert result["gap"] < 1e-5
    # One batch of 64 split 32/32: per-replica means summed over replicas equal the global
    # mean only up to the split of observed entries between replicas; stated tolerance 5%.
    for key in ("reconstruction_loss", "mae", "rmse"):
        assert result["two"][key] == pytest.approx(result["one"][key], rel=0.05), key
    # The "sum" update is exact (replica sums add up); "mean" only up to the entry split.
    assert result["step_gaps"]["sum"] < 1e-4
    assert result["step_gaps"]["mean"] < 0.05
    assert all(np.isfinite(value) for value in result["noisy"].values())
    assert result["noise_gap"] > 1e-3
    assert result["seed_state"][1] > 0  # the generator's counter moved on


@pytest.mark.parametrize(
    "data, match",
    [
        (np.full((10, 30), np.nan, "float32"), "NaN or infinite"),
        (np.zeros((10, 30), "float32"), "no rating"),
        (np.ones((10, 5, 2), "float32"), "2-D"),
        (np.full((10, 30), -1.0, "float32"), "negative rating"),
    ],
)
def test_bad_input_raises_before_training(data, match):
    with pytest.raises(ValueError, match=match):
        small_model().fit(data, epochs=1, verbose=0)


def test_wrong_width_after_building():
    model = small_model()
    model.fit(low_rank_ratings(n_items=20, n_users=30, seed=0), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="rows have 31 entries, but the model was built for 30"):
        model.predict(np.ones((4, 31), "float32"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden": 0}, "hidden=0"),
        ({"output_activation": "relu"}, "output_activation='relu'"),
        ({"orientation": "row"}, "orientation='row'"),
        ({"rating_scale": (5, 1)}, "rating_scale"),
        ({"ranking_weight": -1.0}, "ranking_weight=-1.0"),
        ({"mining_features": "ratings"}, "mining_features='ratings'"),
        ({"output_bias_init": "ones"}, "output_bias_init='ones'"),
        ({"ranking_loss": "softmax"}, "ranking_loss='softmax'"),
        ({"input_dropout": 1.0}, r"in \[0, 1\), got input_dropout=1.0"),
        ({"input_dropout": -0.1}, "input_dropout=-0.1"),
        ({"input_dropout": True}, "input_dropout=True"),
        ({"encoder_units": 500}, "sequence of positive integers .*got 500"),
        ({"encoder_units": "500"}, "sequence of positive integers .*got '500'"),
        ({"encoder_units": (500, 0)}, r"encoder_units\[1\]=0"),
        ({"encoder_units": (2.5,)}, r"encoder_units\[0\]=2.5"),
        ({"local_kernel_dim": -1}, "local_kernel_dim=-1"),
        ({"local_kernel_dim": 2.5}, "local_kernel_dim=2.5"),
        ({"local_kernel_dim": 5, "kernel_sparsity": -0.1}, "kernel_sparsity=-0.1"),
        (
            {"kernel_sparsity": 0.1},
            "kernel_sparsity=0.1 penalises a local kernel.*local_kernel_dim=0",
        ),
        ({"global_kernel_size": -1}, "global_kernel_size=-1"),
        ({"global_kernel_size": 2}, "odd.*global_kernel_size=2"),
        (
            {"global_kernel_size": 3, "batch_format": "sparse"},
            "batch_format='sparse' cannot feed the global kernel",
        ),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HEMAAE(**kwargs)


@pytest.mark.parametrize("output_activation", ["identity", "sigmoid"])
def test_output_bias_can_start_at_the_mean_rating(output_activation):
    ratings = low_rank_ratings(n_items=30, n_users=20, seed=13)

    model = small_model(
        output_activation=output_activation, output_bias_init="mean", compile=frozen()
    )
    model.fit(ratings, epochs=1, batch_size=8, verbose=0)  # learning rate 0: nothing moves
    bias = np.asarray(model.decoder.layers[0].bias)
    mean = ratings[ratings > 0].mean()
    if output_activation == "sigmoid":
        low, high = model.rating_scale
        bias = low + (high - low) / (1 + np.exp(-bias))
    np.testing.assert_allclose(bias, mean, rtol=1e-5)
    assert HEMAAE.from_config(model.get_config()).output_bias_init == "mean"
    # Zeros (the default) leaves Keras's zero bias.
    default = small_model(compile=frozen())
    default.fit(ratings, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(np.asarray(default.decoder.layers[0].bias), 0.0)


def test_mining_on_codes_mines_every_step_and_saves(tmp_path):
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=12)
    model = small_model(mining_features="codes")
    assert model.feature_layer is None
    # Codes change every step, so only the labels are computed once per fit.
    history = model.fit(ratings, epochs=2, batch_size=16, verbose=0)
    assert set(model._mining_inputs(ratings)) == {"labels"}
    assert all(np.isfinite(history.history["triplet_loss"]))
    assert history.history["triplet_loss"][0] > 0
    model.save(tmp_path / "codes.keras")
    loaded = keras.models.load_model(tmp_path / "codes.keras")
    assert loaded.mining_features == "codes" and loaded.feature_layer is None
    np.testing.assert_array_equal(
        loaded.predict(ratings, verbose=0), model.predict(ratings, verbose=0)
    )


def test_ranking_head_learns_which_entries_are_observed(tmp_path):
    # The first 10 users rate 70% of the items, the other 30 users 5%.
    rng = np.random.default_rng(10)
    dense = low_rank_ratings(n_items=60, n_users=40, density=1.0, seed=10)
    activity = np.where(np.arange(40) < 10, 0.7, 0.05)
    ratings = np.where(rng.random((60, 40)) < activity, dense, 0.0).astype("float32")
    model = small_model(ranking_weight=1.0)
    model.fit(ratings, epochs=40, batch_size=8, verbose=0)
    scores = model.ranking_scores(ratings, verbose=0)
    assert scores.shape == ratings.shape and scores.min() >= 0 and scores.max() <= 1
    assert scores[:, :10].mean() > 2 * scores[:, 10:].mean()
    model.save(tmp_path / "ranking.keras")
    loaded = keras.models.load_model(tmp_path / "ranking.keras")
    assert loaded.ranking_weight == 1.0
    np.testing.assert_array_equal(loaded.ranking_scores(ratings, verbose=0), scores)
    with pytest.raises(ValueError, match="ranking head"):
        small_model().ranking_scores(ratings)


def multinomial_loss_loop(ratings, logits):
    """The in-batch multinomial loss with loops: for each column, -sum of observed log p."""
    total = 0.0
    for column in range(ratings.shape[1]):
        shifted = logits[:, column] - logits[:, column].max()
        log_p = shifted - np.log(np.exp(shifted).sum())
        for row in range(ratings.shape[0]):
            if ratings[row, column] != 0:
                total -= log_p[row]
    return total


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_multinomial_ranking_loss_matches_a_loop(reduction):
    ratings = low_rank_ratings(n_items=12, n_users=9, density=0.4, seed=14)
    model = small_model(
        ranking_weight=0.5, ranking_loss="multinomial", reconstruction_reduction=reduction
    )
    model.fit(ratings, epochs=1, batch_size=12, verbose=0)  # builds the head
    codes = model.encode(ratings)
    logits = model.ranking_logits(codes)
    expected = multinomial_loss_loop(ratings, logits.astype(np.float64))
    if reduction == "mean":
        expected /= (ratings != 0).sum()
    got = model._auxiliary_loss(
        keras.ops.convert_to_tensor(ratings), keras.ops.convert_to_tensor(codes), False
    )
    np.testing.assert_allclose(float(got), 0.5 * expected, rtol=1e-4)
    # Per column, a constant shift of the logits (the column's bias) changes nothing.
    shifted = multinomial_loss_loop(ratings, logits.astype(np.float64) + np.arange(9.0))
    unreduced = expected * ((ratings != 0).sum() if reduction == "mean" else 1)
    np.testing.assert_allclose(shifted, unreduced, rtol=1e-9)


def test_multinomial_head_ranks_each_users_items_and_saves(tmp_path):
    # Items 0-19 are rated by most users, items 20-59 rarely: for every user, the head must
    # rank the popular block above the rare one (the in-batch softmax compares rows).
    rng = np.random.default_rng(15)
    dense = low_rank_ratings(n_items=60, n_users=40, density=1.0, seed=15)
    share = np.where(np.arange(60) < 20, 0.6, 0.05)[:, None]
    ratings = np.where(rng.random((60, 40)) < share, dense, 0.0).astype("float32")
    model = small_model(ranking_weight=10.0, ranking_loss="multinomial")
    model.fit(ratings, epochs=60, batch_size=20, verbose=0)
    logits = model.ranking_logits(model.encode(ratings))
    assert logits.shape == ratings.shape
    assert (logits[:20].mean(axis=0) > logits[20:].mean(axis=0)).all()
    scores = model.observation_scores(model.encode(ratings), [3, 5])
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-logits[:, [3, 5]])), rtol=1e-5)
    model.save(tmp_path / "multinomial.keras")
    loaded = keras.models.load_model(tmp_path / "multinomial.keras")
    assert loaded.ranking_loss == "multinomial"
    np.testing.assert_array_equal(loaded.ranking_logits(loaded.encode(ratings)), logits)
    with pytest.raises(ValueError, match="ranking head"):
        small_model().ranking_logits(logits[:, :16])


def test_a_head_that_does_not_train_the_encoder_leaves_the_ratings_alone(tmp_path):
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=16)
    plain = small_model()
    plain.fit(ratings, epochs=2, batch_size=16, shuffle=False, verbose=0)
    head = dict(ranking_weight=1.0, ranking_loss="multinomial")
    reading = small_model(**head, ranking_trains_encoder=False)
    reading.fit(ratings, epochs=2, batch_size=16, shuffle=False, verbose=0)
    expected = plain.predict(ratings, verbose=0)
    np.testing.assert_allclose(reading.predict(ratings, verbose=0), expected, rtol=1e-6, atol=1e-6)
    # ... while the head itself learnt, and a head that trains the encoder moves the ratings.
    assert not np.allclose(reading.observation_decoder.layers[0].kernel, 0.0)
    shaping = small_model(**head)
    shaping.fit(ratings, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert np.abs(shaping.predict(ratings, verbose=0) - expected).max() > 1e-4
    reading.save(tmp_path / "reading.keras")
    assert keras.models.load_model(tmp_path / "reading.keras").ranking_trains_encoder is False


def test_ranking_head_is_trained_only_in_the_reconstruction_phase():
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=11)
    model = small_model(ranking_weight=1.0, compile={"autoencoder_optimizer": "sgd"})
    model.fit(ratings, epochs=1, batch_size=16, verbose=0)  # builds everything
    head = [np.array(w) for w in model.observation_decoder.get_weights()]
    model.compile(autoencoder_optimizer=keras.optimizers.SGD(0.0))
    model.fit(ratings, epochs=1, batch_size=16, verbose=0)
    for before, after in zip(head, model.observation_decoder.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_a_ratings_table_is_refused_with_advice():
    import pandas as pd

    table = pd.DataFrame({"user": [1, 2], "item": [3, 4], "rating": [5.0, 4.0]})
    with pytest.raises(TypeError, match="Recommender"):
        small_model().fit(table, epochs=1, verbose=0)


def test_model_dtype_policy_is_used_and_saved(tmp_path):
    # The model's own policy (not the global one) sets its layers' compute dtype, and it is
    # saved with the model: get_config is built on the base classes' config.
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=8)
    model = HEMAAE(hidden=8, seed=0, missing_value=0.0, dtype="mixed_float16")
    model.compile()
    history = model.fit(ratings, epochs=1, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.encoder.layers[0].compute_dtype == "float16"
    assert keras.config.dtype_policy().name == "float32"
    config = model.get_config()
    assert config["dtype"]["config"]["name"] == "mixed_float16"
    assert {"encoder", "decoder", "labeler", "miner"}.isdisjoint(config)
    path = tmp_path / "mixed.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.dtype_policy.name == "mixed_float16"
    assert loaded.encoder.layers[0].compute_dtype == "float16"
    np.testing.assert_array_equal(
        loaded.predict(ratings, verbose=0), model.predict(ratings, verbose=0)
    )


@pytest.mark.parametrize("batch_format", ["dense", "sparse"])
def test_input_dropout_hides_a_share_of_the_ratings_and_scales_the_rest(batch_format):
    from keras_hem.data.pipeline import sparse_rows

    ratings = low_rank_ratings(n_items=200, n_users=100, density=0.5, seed=17)
    model = small_model(input_dropout=0.3, batch_format=batch_format)
    model.fit(ratings, epochs=1, batch_size=64, verbose=0)  # builds the seed generator
    if batch_format == "dense":
        given, dropped = ratings, np.asarray(model._drop_ratings(ratings))
    else:
        batch = sparse_rows(sp.csr_array(ratings), np.arange(200))
        given = batch["values"]
        dropped = np.asarray(model._drop_ratings(batch)["values"])
    observed = given > 0
    kept = dropped > 0
    assert not kept[~observed].any()  # an unobserved entry stays unobserved
    np.testing.assert_allclose(dropped[kept], given[kept] / 0.7, rtol=1e-6)
    share = 1 - kept.sum() / observed.sum()
    assert abs(share - 0.3) < 0.02, share  # ~10,000 ratings: 5 standard deviations


def test_input_dropout_trains_reproducibly_predicts_every_rating_and_saves(tmp_path):
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=18)
    fits = []
    for _ in range(2):
        model = small_model(input_dropout=0.2)
        model.fit(ratings, epochs=1, batch_size=16, verbose=0)
        (seed_state,) = [v for v in model.non_trainable_variables if "dropout_seed" in v.path]
        after_one = keras.ops.convert_to_numpy(seed_state).copy()
        model.fit(ratings, epochs=1, batch_size=16, verbose=0)
        # Each step draws a new mask: the generator's state moves on (on every backend).
        assert not np.array_equal(keras.ops.convert_to_numpy(seed_state), after_one)
        fits.append(model)
    for a, b in zip(fits[0].get_weights(), fits[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    plain = small_model(input_dropout=0.0)
    plain.fit(ratings, epochs=2, batch_size=16, verbose=0)
    predicted = fits[0].predict(ratings, verbose=0)
    assert np.abs(predicted - plain.predict(ratings, verbose=0)).max() > 1e-4
    np.testing.assert_array_equal(fits[0].predict(ratings, verbose=0), predicted)  # no noise
    fits[0].save(tmp_path / "denoising.keras")
    loaded = keras.models.load_model(tmp_path / "denoising.keras")
    assert loaded.input_dropout == 0.2
    np.testing.assert_array_equal(loaded.predict(ratings, verbose=0), predicted)
    # The masks' seed state is saved (Keras leaves seed generators out), so a fit resumed
    # from the file draws the masks the original model would draw next.
    (loaded_state,) = [v for v in loaded.non_trainable_variables if "dropout_seed" in v.path]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded_state),
        keras.ops.convert_to_numpy(fits[0]._dropout_seed.state),
    )
    assert keras.ops.convert_to_numpy(loaded_state)[1] > 0


def test_encoder_units_add_layers_before_the_code_layer_and_save(tmp_path):
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=19)
    one = small_model(input_dropout=0.0)
    two = small_model(input_dropout=0.0, encoder_units=[12])
    for model in (one, two):
        model.fit(ratings, epochs=1, batch_size=16, verbose=0)
    assert [tuple(layer.kernel.shape) for layer in two.encoder.layers] == [(30, 12), (12, 16)]
    assert [tuple(layer.kernel.shape) for layer in one.encoder.layers] == [(30, 16)]
    # The codes are the two sigmoid layers, one after the other (a NumPy forward pass).
    (w1, b1), (w2, b2) = [(np.asarray(d.kernel), np.asarray(d.bias)) for d in two.encoder.layers]
    expected = expit(expit(ratings @ w1 + b1) @ w2 + b2)
    np.testing.assert_allclose(two.encode(ratings), expected, rtol=1e-5, atol=1e-6)
    # l2 covers every encoder kernel and the decoder's.
    kernels = [d.kernel for d in two.encoder.layers] + [two.decoder.layers[0].kernel]
    penalty = two.l2 / 2 * sum(float(np.sum(np.square(np.asarray(k)))) for k in kernels)
    np.testing.assert_allclose(float(two._kernel_penalty()), penalty, rtol=1e-5)
    two.save(tmp_path / "two.keras")
    loaded = keras.models.load_model(tmp_path / "two.keras")
    assert loaded.encoder_units == (12,) and loaded.get_config()["encoder_units"] == [12]
    np.testing.assert_array_equal(
        loaded.predict(ratings, verbose=0), two.predict(ratings, verbose=0)
    )


def test_local_kernel_gates_the_rating_layer_and_its_penalty_joins_the_loss(tmp_path):
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=20)

    settings = {"input_dropout": 0.0, "local_kernel_dim": 3, "encoder_units": [12]}
    plain = small_model(**settings, compile=frozen())
    penalised = small_model(**settings, kernel_sparsity=0.5, compile=frozen())
    logs = [
        m.fit(ratings, epochs=1, batch_size=16, shuffle=False, verbose=0).history["loss"][0]
        for m in (plain, penalised)
    ]
    first, code_layer = penalised.encoder.layers
    assert isinstance(first, LocalKernelDense) and first.kernel_dim == 3
    assert type(code_layer) is keras.layers.Dense  # only the layer that reads the ratings
    # K = max(0, 1 - ||u_i - v_j||^2), by a loop over the (input, unit) pairs.
    u, v = np.asarray(first.input_embeddings), np.asarray(first.output_embeddings)
    kernel = np.array([[max(0.0, 1 - ((a - b) ** 2).sum()) for b in v] for a in u])
    np.testing.assert_allclose(np.asarray(first.local_kernel()), kernel, rtol=1e-5, atol=1e-6)
    # The codes read the ratings through kernel * K (a NumPy forward pass).
    w1, b1 = np.asarray(first.kernel) * kernel, np.asarray(first.bias)
    w2, b2 = np.asarray(code_layer.kernel), np.asarray(code_layer.bias)
    expected = expit(expit(ratings @ w1 + b1) @ w2 + b2)
    np.testing.assert_allclose(penalised.encode(ratings), expected, rtol=1e-5, atol=1e-6)
    # The same seed gives the same weights, and nothing moved (learning rate 0): the two
    # losses differ by kernel_sparsity / 2 * sum(K**2) alone.
    for a, b in zip(plain.get_weights(), penalised.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert logs[1] - logs[0] == pytest.approx(0.5 / 2 * (kernel**2).sum(), rel=1e-3)
    penalised.save(tmp_path / "local.keras")
    loaded = keras.models.load_model(tmp_path / "local.keras")
    assert (loaded.local_kernel_dim, loaded.kernel_sparsity) == (3, 0.5)
    np.testing.assert_array_equal(
        np.asarray(loaded.encoder.layers[0].local_kernel()), np.asarray(first.local_kernel())
    )
    np.testing.assert_array_equal(
        loaded.predict(ratings, verbose=0), penalised.predict(ratings, verbose=0)
    )


def test_global_kernel_is_a_second_stage_that_starts_where_the_first_ended(tmp_path):
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=21)
    settings = {"input_dropout": 0.0, "batch_format": "dense"}
    plain = small_model(**settings)
    staged = small_model(**settings, global_kernel_size=3)
    for model in (plain, staged):
        model.fit(ratings, epochs=2, batch_size=16, shuffle=False, verbose=0)
    conv = staged.encoder.layers[0]
    assert isinstance(conv, GlobalKernelConv)
    # First stage: the kernel is the identity and learns nothing, so the model trains as
    # the one without it (same seeds, same weights).
    before = staged.predict(ratings, verbose=0)
    np.testing.assert_allclose(before, plain.predict(ratings, verbose=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(conv.global_kernel()), [0.0, 1.0, 0.0])
    staged.start_global_kernel(ratings)
    # The statistics are the reconstruction's column means; the outputs have not moved.
    np.testing.assert_allclose(np.asarray(conv.statistics), before.mean(axis=0), rtol=1e-5)
    np.testing.assert_array_equal(staged.predict(ratings, verbose=0), before)
    staged.fit(ratings, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert np.abs(np.asarray(conv.global_kernel()) - [0.0, 1.0, 0.0]).max() > 1e-4
    # Sparse chunks (encode) are made dense for the convolution: the same codes.
    dense_codes = staged.encoder.predict(ratings, verbose=0)
    np.testing.assert_allclose(staged.encode(sp.csr_array(ratings)), dense_codes, atol=1e-6)
    # Where batches would be sparse (0.5% observed), a global kernel keeps them dense.
    thin = sp.random_array((200, 300), density=0.005, format="csr", rng=0)
    thin.data[:] = 3.0
    auto = {"hidden": 4, "batch_format": "auto"}
    assert HEMAAE(**auto).uses_sparse_batches(thin)
    assert not HEMAAE(**auto, global_kernel_size=3).uses_sparse_batches(thin)
    staged.save(tmp_path / "global.keras")
    loaded = keras.models.load_model(tmp_path / "global.keras")
    assert loaded.global_kernel_size == 3
    np.testing.assert_array_equal(
        loaded.predict(ratings, verbose=0), staged.predict(ratings, verbose=0)
    )


def test_start_global_kernel_needs_a_kernel_and_a_fitted_model():
    ratings = low_rank_ratings(n_items=20, n_users=10, seed=22)
    with pytest.raises(ValueError, match="needs a global kernel.*global_kernel_size"):
        small_model().start_global_kernel(ratings)
    with pytest.raises(ValueError, match="follows a first fit"):
        small_model(global_kernel_size=3).start_global_kernel(ratings)
