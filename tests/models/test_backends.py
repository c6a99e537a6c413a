"""One algorithm on every backend: parity between TensorFlow and JAX, optimizer state, miners."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from backend import BACKEND, once_per_suite

from keras_hem import HEMAAE
from keras_hem.datasets.synthetic import low_rank_ratings
from keras_hem.mining import Miner

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# One epoch of a fixed small problem: the same data, batch order and initial weights.
PARITY_SCRIPT = textwrap.dedent("""
    import json, sys
    import keras, numpy as np
    from keras_hem import HEMAAE
    from keras_hem.datasets.synthetic import low_rank_ratings

    ratings = low_rank_ratings(n_items=96, n_users=50, density=0.3, seed=3)
    # No denoising: the backends draw different random masks from the same seed.
    model = HEMAAE(hidden=12, seed=0, label_depth=2, input_dropout=0.0)
    model.compile(jit_compile=sys.argv[1] == "jit")
    model.build((None, 50))
    rng = np.random.default_rng(0)
    weights = [rng.uniform(-0.2, 0.2, w.shape).astype("float32") for w in model.get_weights()]
    model.set_weights(weights)
    history = model.fit(ratings, epochs=1, batch_size=32, shuffle=True, verbose=0)
    print(json.dumps({
        "logs": {k: float(v[0]) for k, v in history.history.items()},
        "prediction": model.predict(ratings[:8], verbose=0).tolist(),
        "iterations": [int(o.iterations.numpy()) for o in model.optimizer.unique_members()],
    }))
""")


def run_backend(backend, *args, script=PARITY_SCRIPT, env=None):
    environment = {**os.environ, "KERAS_BACKEND": backend, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@once_per_suite
def test_one_epoch_gives_the_same_losses_on_tensorflow_and_jax():
    pytest.importorskip("tensorflow")
    pytest.importorskip("jax")
    tf_run = run_backend("tensorflow", "jit")
    jax_run = run_backend("jax", "jit")
    assert tf_run["logs"].keys() == jax_run["logs"].keys()
    # Stated tolerance: float32 arithmetic in another order (XLA on both, other fusions)
    # over 3 steps of 3 updates each; measured differences are ~1e-6 relative.
    for key, value in tf_run["logs"].items():
        assert jax_run["logs"][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
    np.testing.assert_allclose(jax_run["prediction"], tf_run["prediction"], rtol=1e-4, atol=1e-4)
    # 3 batches: the autoencoder Adam steps twice a batch (it is also the generator's).
    assert tf_run["iterations"] == jax_run["iterations"] == [6, 3]


def _optimizer_state(model):
    return {
        role: [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
        for role, optimizer in model.optimizer.members.items()
    }


def test_all_three_optimizer_states_advance_and_are_saved(tmp_path):
    ratings = low_rank_ratings(n_items=64, n_users=30, seed=4)
    model = HEMAAE(hidden=8, seed=0)
    model.compile(generator_optimizer=keras.optimizers.Adam(0.01))
    model.fit(ratings, epochs=2, batch_size=32, verbose=0)
    for role, optimizer in model.optimizer.members.items():
        # 2 epochs x 2 batches, one step each; the moments are no longer zero.
        assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 4, role
        moments = [keras.ops.convert_to_numpy(v) for v in optimizer.variables[2:]]
        assert any(np.abs(m).sum() > 0 for m in moments), role
    saved = _optimizer_state(model)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    restored = _optimizer_state(loaded)
    for role in saved:
        assert len(restored[role]) == len(saved[role]), role
        for a, b in zip(saved[role], restored[role]):
            np.testing.assert_array_equal(a, b)
    # Training on continues from the restored state on both models alike.
    for m in (model, loaded):
        m.fit(ratings, epochs=1, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_allclose(loaded.get_weights()[0], model.get_weights()[0], rtol=1e-5)


def test_learning_rate_callbacks_act_on_the_autoencoder_optimizer():
    ratings = low_rank_ratings(n_items=32, n_users=20, seed=5)
    model = HEMAAE(hidden=8, seed=0)
    model.compile()
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.005)
    model.fit(ratings, epochs=1, batch_size=16, callbacks=[schedule], verbose=0)
    assert float(keras.ops.convert_to_numpy(model.autoencoder_optimizer.learning_rate)) == (
        pytest.approx(0.005)
    )
    assert float(keras.ops.convert_to_numpy(model.discriminator_optimizer.learning_rate)) == (
        pytest.approx(0.001)
    )


@keras.saving.register_keras_serializable(package="keras_hem_tests")
class RandomNegativeMiner:
    """A user-written miner: anchor i, positive = itself, negative = the next other label."""

    def __call__(self, embeddings, labels):
        ops = keras.ops
        labels = ops.convert_to_tensor(labels)
        batch = ops.shape(labels)[0]
        other = ops.not_equal(labels[:, None], labels[None, :])
        # The first sample of another label after the anchor (cyclically).
        shift = (ops.arange(batch)[None, :] - ops.arange(batch)[:, None]) % batch
        key = ops.where(other, shift, batch)
        negatives = ops.cast(ops.argmin(key, axis=1), "int32")
        anchors = ops.arange(batch, dtype="int32")
        self.calls = getattr(self, "calls", 0) + 1
        return anchors, anchors, negatives, ops.any(other, axis=1)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def test_a_user_written_miner_drives_the_triplet_loss(tmp_path):
    ratings = low_rank_ratings(n_items=48, n_users=30, seed=6)
    miner = RandomNegativeMiner()
    assert isinstance(miner, Miner)
    model = HEMAAE(hidden=8, seed=0, miner=miner)
    model.compile()
    history = model.fit(ratings, epochs=1, batch_size=16, verbose=0)
    assert model.miner is miner and miner.calls >= 1
    # Positive = anchor: d_ap = 0, so the loss is the mean hinge on the negatives alone.
    assert history.history["triplet_loss"][0] > 0
    model.save(tmp_path / "custom.keras")
    loaded = keras.models.load_model(tmp_path / "custom.keras")
    assert isinstance(loaded.miner, RandomNegativeMiner)
    np.testing.assert_array_equal(
        loaded.predict(ratings, verbose=0), model.predict(ratings, verbose=0)
    )


def test_a_miner_must_be_callable():
    with pytest.raises(TypeError, match="Miner protocol"):
        HEMAAE(miner="batch_hard")


def test_torch_backend_raises_a_clear_error():
    from keras_hem.models import steps

    with pytest.raises(NotImplementedError, match="not available on the PyTorch backend"):
        steps.for_backend("torch").train_step(None, None)
    with pytest.raises(NotImplementedError, match="'numpy'"):
        steps.for_backend("numpy")


NO_TENSORFLOW = textwrap.dedent("""
    import importlib.util, json, sys
    assert importlib.util.find_spec("tensorflow") is None, "TensorFlow is installed here"
    import numpy as np, pandas as pd
    import keras_hem
    from keras_hem import HEMAAE
    from keras_hem.datasets.synthetic import low_rank_ratings
    from keras_hem.recommender import Recommender

    ratings = low_rank_ratings(n_items=40, n_users=30, seed=0)
    model = HEMAAE(hidden=8, seed=0)
    model.compile(jit_compile=True)
    loss = model.fit(ratings, epochs=2, batch_size=16, verbose=0).history["loss"]
    items, users = np.nonzero(ratings)
    table = pd.DataFrame({"user": users, "item": items, "rating": ratings[items, users]})
    rec = Recommender(hidden=8, epochs=2, validation_fraction=0.2).fit(table, verbose=0)
    top = rec.recommend(int(users[0]), k=3)
    print(json.dumps({"loss": loss, "top": len(top),
                      "tf": any(m.startswith("tensorflow") for m in sys.modules)}))
""")

# Distributions that exist for TensorFlow's sake; the venv below must not see them.
TENSORFLOW_PARTS = ("tensorflow", "tensorboard", "tf_keras", "tensorflow_io")


def venv_without_tensorflow(path):
    """A virtual environment with this one's packages except TensorFlow, and this checkout.

    Its site folder links every entry of this environment's site folders but TensorFlow's
    (packages and their metadata), so `import tensorflow` fails there as on a machine that
    never installed it.
    """
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    linked = path / "linked-packages"
    linked.mkdir()
    for folder in {p for p in sys.path if p.endswith("-packages") and os.path.isdir(p)}:
        for entry in os.scandir(folder):
            name = entry.name.lower()
            if name.startswith(TENSORFLOW_PARTS) or name.endswith(".pth"):
                continue
            if not (linked / entry.name).exists():
                (linked / entry.name).symlink_to(entry.path)
    with open(os.path.join(site, "outer_environment.pth"), "w") as f:
        f.write(f"{linked}\n{REPO}\n")
    return python


@pytest.mark.slow
@once_per_suite
def test_package_imports_and_trains_in_a_venv_without_tensorflow(tmp_path):
    pytest.importorskip("jax")
    python = venv_without_tensorflow(tmp_path / "venv")
    done = subprocess.run(
        [python, "-c", NO_TENSORFLOW],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["tf"] is False
    assert len(result["loss"]) == 2 and all(np.isfinite(result["loss"]))
    assert result["top"] == 3


def test_steps_module_matches_the_active_backend():
    from keras_hem.models import steps

    module = steps.for_backend()
    assert module.__name__.endswith(BACKEND)


CROSS_SCRIPT = textwrap.dedent("""
    import json, sys
    import keras, numpy as np
    from keras_hem import HEMAAE
    from keras_hem.datasets.synthetic import low_rank_ratings

    ratings = low_rank_ratings(n_items=64, n_users=30, seed=7)
    path = sys.argv[2]
    if sys.argv[1] == "save":
        model = HEMAAE(hidden=8, seed=0)
        model.compile()
        model.fit(ratings, epochs=2, batch_size=32, verbose=0)
        model.save(path)
    else:
        model = keras.models.load_model(path)
    state = {role: [keras.ops.convert_to_numpy(v).tolist() for v in o.variables]
             for role, o in model.optimizer.members.items()}
    print(json.dumps({"prediction": model.predict(ratings, verbose=0).tolist(), "state": state}))
""")


@pytest.mark.slow
@once_per_suite
def test_a_model_saved_on_tensorflow_loads_on_jax_with_its_optimizer_state(tmp_path):
    pytest.importorskip("jax")
    path = str(tmp_path / "model.keras")
    saved = run_backend("tensorflow", "save", path, script=CROSS_SCRIPT)
    loaded = run_backend("jax", "load", path, script=CROSS_SCRIPT)
    np.testing.assert_allclose(loaded["prediction"], saved["prediction"], rtol=1e-5, atol=1e-5)
    for role, variables in saved["state"].items():
        assert len(loaded["state"][role]) == len(variables), role
        for a, b in zip(variables, loaded["state"][role]):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
