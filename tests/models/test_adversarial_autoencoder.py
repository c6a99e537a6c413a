import keras
import numpy as np
import pytest

from keras_hem.datasets.synthetic import low_rank_ratings
from keras_hem.layers import MeanModel, MeanModelLabeler
from keras_hem.mining import TripletHardMiner
from keras_hem.models import AdversarialAutoencoder

N_USERS, HIDDEN = 40, 8


def make_model(**kwargs):
    keras.utils.set_random_seed(1)
    encoder = keras.Sequential([keras.Input((N_USERS,)), keras.layers.Dense(HIDDEN, "sigmoid")])
    decoder = keras.Sequential([keras.Input((HIDDEN,)), keras.layers.Dense(N_USERS)])
    critic = keras.Sequential([keras.Input((2 * HIDDEN,)), keras.layers.Dense(1)])
    ratings = low_rank_ratings(n_items=64, n_users=N_USERS, seed=0)
    labeler = MeanModelLabeler()
    labeler.adapt(ratings)
    model = AdversarialAutoencoder(
        encoder,
        decoder,
        critic,
        labeler=labeler,
        miner=TripletHardMiner(),
        feature_layer=MeanModel(),
        **kwargs,
    )
    return model, ratings


def snapshot(model):
    return {
        part: [np.array(w) for w in getattr(model, part).get_weights()]
        for part in ("encoder", "decoder", "discriminator")
    }


def changed(before, after):
    return {part: any((a != b).any() for a, b in zip(before[part], after[part])) for part in before}


def one_step(model, ratings, **optimizers):
    model.compile(**optimizers)
    model.build((None, N_USERS))
    before = snapshot(model)
    logs = model.train_on_batch(ratings[:32], return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()), logs
    return changed(before, snapshot(model)), logs


def frozen():
    return keras.optimizers.SGD(0.0)


def test_reconstruction_phase_alone_updates_encoder_and_decoder_only():
    model, ratings = make_model()
    moved, _ = one_step(
        model, ratings, discriminator_optimizer=frozen(), generator_optimizer=frozen()
    )
    assert moved == {"encoder": True, "decoder": True, "discriminator": False}


def test_discriminator_step_alone_updates_discriminator_only():
    model, ratings = make_model()
    moved, logs = one_step(
        model, ratings, autoencoder_optimizer=frozen(), generator_optimizer=frozen()
    )
    assert moved == {"encoder": False, "decoder": False, "discriminator": True}
    assert logs["d_loss"] > 0


def test_generator_step_alone_updates_encoder_only():
    model, ratings = make_model()
    moved, logs = one_step(
        model,
        ratings,
        autoencoder_optimizer=frozen(),
        discriminator_optimizer=frozen(),
        generator_optimizer=keras.optimizers.Adam(),
    )
    assert moved == {"encoder": True, "decoder": False, "discriminator": False}
    assert logs["g_loss"] > 0


def test_generator_shares_the_autoencoder_optimizer_by_default():
    model, ratings = make_model()
    model.compile()
    assert model.generator_optimizer is model.autoencoder_optimizer
    moved, _ = one_step(
        model, ratings, autoencoder_optimizer=frozen(), discriminator_optimizer=frozen()
    )
    assert not any(moved.values())  # frozen autoencoder optimizer freezes the generator too


def test_no_adversary_leaves_discriminator_untouched():
    model, ratings = make_model(adversarial_weight=0.0)
    moved, logs = one_step(model, ratings)
    assert moved == {"encoder": True, "decoder": True, "discriminator": False}
    assert logs["d_loss"] == 0 and logs["g_loss"] == 0


def test_full_step_logs_all_losses():
    model, ratings = make_model()
    moved, logs = one_step(model, ratings)
    assert all(moved.values())
    assert set(logs) == {
        "loss",
        "reconstruction_loss",
        "triplet_loss",
        "d_loss",
        "g_loss",
        "mae",
        "rmse",
    }
    assert logs["triplet_loss"] > 0


def test_unobserved_entries_never_enter_the_loss():
    model, ratings = make_model(triplet_weight=0.0, adversarial_weight=0.0)
    model.compile()
    model.build((None, N_USERS))
    base = model.evaluate(ratings, ratings, verbose=0, return_dict=True)
    # Change the targets only where they are unobserved in the first copy: nothing may move.
    targets = np.where(ratings > 0, ratings, 0.0)
    assert model.evaluate(ratings, targets, verbose=0, return_dict=True) == base
    rmse = np.sqrt(np.mean((model.predict(ratings, verbose=0) - ratings)[ratings > 0] ** 2))
    assert base["rmse"] == pytest.approx(rmse, rel=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reconstruction_reduction_sums_or_averages_the_observed_errors(reduction):
    model, ratings = make_model(
        triplet_weight=0.0, adversarial_weight=0.0, reconstruction_reduction=reduction
    )
    model.compile()
    model.build((None, N_USERS))
    logs = model.evaluate(ratings, ratings, batch_size=len(ratings), verbose=0, return_dict=True)
    errors = (model.predict(ratings, verbose=0) - ratings)[ratings > 0] ** 2
    expected = errors.sum() if reduction == "sum" else errors.mean()
    assert logs["reconstruction_loss"] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"reconstruction_reduction": "max"}, "reconstruction_reduction='max'"),
        ({"triplet_weight": -1.0}, "triplet_weight=-1.0"),
        ({"generator_loss": "wasserstein"}, "generator_loss='wasserstein'"),
        ({"labeler": None}, "labeler"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    layers = [keras.layers.Dense(2) for _ in range(3)]
    base = {"labeler": MeanModelLabeler(), "miner": TripletHardMiner()}
    with pytest.raises(ValueError, match=match):
        AdversarialAutoencoder(*layers, **{**base, **kwargs})


def test_save_load_round_trip(tmp_path):
    model, ratings = make_model(
        generator_loss="saturating", l2=0.01, reconstruction_reduction="sum"
    )
    model.compile()
    model.fit(ratings, epochs=1, batch_size=32, verbose=0)
    model.save(tmp_path / "aae.keras")
    loaded = keras.models.load_model(tmp_path / "aae.keras")
    assert isinstance(loaded, AdversarialAutoencoder)
    assert loaded.generator_loss == "saturating" and loaded.l2 == 0.01
    assert loaded.reconstruction_reduction == "sum"
    np.testing.assert_array_equal(
        loaded.predict(ratings, verbose=0), model.predict(ratings, verbose=0)
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.labeler.thresholds),
        keras.ops.convert_to_numpy(model.labeler.thresholds),
    )
    loaded.fit(ratings, epochs=1, batch_size=32, verbose=0)  # still trainable after loading


def test_precomputed_mining_inputs_match_per_batch_computation():
    runs = []
    for precompute in (False, True):
        model, ratings = make_model()
        model.compile()
        model.build((None, N_USERS))
        batch = ratings[:32]
        if precompute:
            batch = {
                "ratings": batch,
                "features": model.feature_layer(batch),
                "labels": model.labeler(batch),
            }
        logs = model.train_on_batch(batch, return_dict=True)
        runs.append((logs, model.get_weights()))
    assert runs[0][0] == pytest.approx(runs[1][0])
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def encoder_change(adversarial_update, adversarial_weight):
    model, ratings = make_model(
        adversarial_update=adversarial_update, adversarial_weight=adversarial_weight
    )
    model.compile(
        autoencoder_optimizer=keras.optimizers.SGD(0.01), discriminator_optimizer=frozen()
    )
    model.build((None, N_USERS))
    before = model.encoder.get_weights()[0]
    logs = model.train_on_batch(ratings[:32], return_dict=True)
    change = model.encoder.get_weights()[0] - before
    return change, logs, model


def test_simultaneous_update_takes_the_generator_gradient_in_the_reconstruction_step():
    alternating, _, _ = encoder_change("alternating", 5.0)
    simultaneous, logs, model = encoder_change("simultaneous", 5.0)
    without, _, _ = encoder_change("simultaneous", 0.0)
    generator_part = np.linalg.norm(alternating - without)
    assert generator_part > 1e-5  # the generator moves the encoder measurably
    # SGD: both schedules take the same gradients, at points one small step apart.
    assert np.linalg.norm(simultaneous - alternating) < 0.05 * generator_part
    assert logs["g_loss"] > 0 and logs["d_loss"] > 0
    # One optimizer step per batch for the autoencoder (alternating: two).
    assert int(keras.ops.convert_to_numpy(model.autoencoder_optimizer.iterations)) == 1


def test_simultaneous_update_refuses_a_separate_generator_optimizer():
    model, _ = make_model(adversarial_update="simultaneous")
    with pytest.raises(ValueError, match="separate generator_optimizer"):
        model.compile(generator_optimizer=keras.optimizers.Adam())
    with pytest.raises(ValueError, match="adversarial_update='joint'"):
        make_model(adversarial_update="joint")


def test_fit_sets_auto_mode_callbacks_on_logged_values_to_min_only():
    model, ratings = make_model()
    model.compile()
    on_mae = keras.callbacks.EarlyStopping("val_mae", patience=5)
    explicit = keras.callbacks.EarlyStopping("val_mae", mode="max", patience=5)
    model.fit(
        ratings,
        validation_data=ratings,
        epochs=1,
        batch_size=32,
        verbose=0,
        callbacks=[on_mae, explicit],
    )
    assert on_mae.mode == "min"  # the caller's object is changed, as the docstring says
    assert explicit.mode == "max"
