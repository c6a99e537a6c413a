"""Interrupting and resuming a training run: nothing lost, the same result."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest
from backend import backend_independent, once_per_suite

from keras_hem import cli
from keras_hem.checkpoint import resume_state
from keras_hem.recommender import Recommender


def ratings_frame(seed=0):
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((40, 60)) < 0.3)
    return pd.DataFrame({"user": users, "item": items, "rating": rng.integers(1, 6, len(users))})


class InterruptAt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt (what Ctrl-C raises) at the end of one epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def recommender():
    return Recommender(hidden=8, epochs=5, batch_size=16, validation_fraction=0.2, patience=2)


def test_a_resumed_run_ends_like_an_uninterrupted_one(tmp_path):
    data = ratings_frame()
    keras.utils.set_random_seed(0)
    full = recommender().fit(data, verbose=0)

    keras.utils.set_random_seed(0)
    stopped = recommender()
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(data, checkpoint_dir=tmp_path, callbacks=[InterruptAt(1)], verbose=0)
    # Interrupted, but usable: two epochs done, the best weights so far kept.
    assert stopped.interrupted and stopped.is_fitted
    assert len(stopped.history["loss"]) == 2
    _, state, best = resume_state(tmp_path)
    assert state["epoch"] == 1 and best is not None

    resumed = recommender().fit(data, checkpoint_dir=tmp_path, resume=True, verbose=0)
    assert resumed.history.keys() == full.history.keys()
    for name, values in full.history.items():
        np.testing.assert_allclose(resumed.history[name], values, rtol=1e-6, err_msg=name)
    for a, b in zip(resumed.model.get_weights(), full.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


class InterruptInFit(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at the end of one epoch of the `fit`-th `model.fit` (from 0)."""

    def __init__(self, fit, epoch):
        super().__init__()
        self.fit, self.epoch, self.fits = fit, epoch, -1

    def on_train_begin(self, logs=None):
        self.fits += 1

    def on_epoch_end(self, epoch, logs=None):
        if (self.fits, epoch) == (self.fit, self.epoch):
            raise KeyboardInterrupt


@backend_independent  # the single-model resume above runs on every backend
def test_an_interrupted_ensemble_resumes_member_by_member(tmp_path):
    # Interrupted in the second member: the resumed run loads the first (finished) from its
    # checkpoint and continues the second.
    interrupted_member = 1
    data = ratings_frame()
    settings = {"hidden": 8, "epochs": 4, "batch_size": 16, "validation_fraction": 0.2}
    full = Recommender(**settings, ensemble=2).fit(data, verbose=0)

    stopped = Recommender(**settings, ensemble=2)
    interrupt = InterruptInFit(interrupted_member, 1)
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(data, checkpoint_dir=tmp_path, callbacks=[interrupt], verbose=0)
    # Usable: the members so far, the interrupted one at its best epoch.
    assert stopped.interrupted and len(stopped.models) == interrupted_member + 1
    assert (tmp_path / "member-1" / "state.json").is_file() == (interrupted_member == 1)

    resumed = Recommender(**settings, ensemble=2)
    resumed.fit(data, checkpoint_dir=tmp_path, resume=True, verbose=0)
    assert len(resumed.models) == 2 and not resumed.interrupted
    for got, expected in zip(resumed.histories, full.histories, strict=True):
        assert got.keys() == expected.keys()
        for name, values in expected.items():
            np.testing.assert_allclose(got[name], values, rtol=1e-6, err_msg=name)
    users = data["user"].to_numpy()
    items = data["item"].to_numpy()
    np.testing.assert_allclose(
        resumed.predict(users, items), full.predict(users, items), rtol=1e-5, atol=1e-6
    )


def test_a_resumed_run_lowers_the_learning_rate_where_an_uninterrupted_one_does(tmp_path):
    # At this rate the validation MAE stalls at once, so lr_patience=2 halves the rate every
    # few epochs; a resumed run must keep the count of epochs without progress.
    def noisy():
        return Recommender(
            hidden=8,
            epochs=8,
            batch_size=16,
            validation_fraction=0.2,
            patience=8,
            learning_rate=0.5,
            lr_patience=2,
            ranking="ratings",
        )

    data = ratings_frame()
    keras.utils.set_random_seed(0)
    full = noisy().fit(data, verbose=0)
    rates = np.array(full.history["learning_rate"])
    assert rates[-1] < rates[0]  # the schedule did act
    keras.utils.set_random_seed(0)
    with pytest.raises(KeyboardInterrupt):
        noisy().fit(data, checkpoint_dir=tmp_path, callbacks=[InterruptAt(3)], verbose=0)
    _, state, _ = resume_state(tmp_path)
    assert sorted(state["schedule"]) == ["best", "cooldown_counter", "wait"]
    resumed = noisy().fit(data, checkpoint_dir=tmp_path, resume=True, verbose=0)
    np.testing.assert_allclose(resumed.history["learning_rate"], rates, rtol=1e-6)
    for a, b in zip(resumed.model.get_weights(), full.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_resume_needs_a_checkpoint_and_the_same_model(tmp_path):
    data = ratings_frame()
    with pytest.raises(ValueError, match="No checkpoint to resume from"):
        recommender().fit(data, checkpoint_dir=tmp_path, resume=True, verbose=0)
    with pytest.raises(ValueError, match="needs the `checkpoint_dir`"):
        recommender().fit(data, resume=True, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        recommender().fit(data, checkpoint_dir=tmp_path, callbacks=[InterruptAt(0)], verbose=0)
    other = Recommender(hidden=4, epochs=5, batch_size=16, validation_fraction=0.2)
    with pytest.raises(ValueError, match="hidden=8, not hidden=4"):
        other.fit(data, checkpoint_dir=tmp_path, resume=True, verbose=0)
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot be read"):
        recommender().fit(data, checkpoint_dir=tmp_path, resume=True, verbose=0)


@backend_independent
def test_cli_ctrl_c_then_resume(tmp_path, monkeypatch, capsys):
    path = tmp_path / "ratings.csv"
    ratings_frame().to_csv(path, index=False)
    common = ["fit", "--data", str(path), "--epochs", "4", "--hidden", "8", "--batch-size", "16"]

    assert cli.main([*common, "--out", str(tmp_path / "full")]) == 0
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    assert not (tmp_path / "full" / cli.CHECKPOINT_DIR).exists()  # removed once complete
    capsys.readouterr()

    original = Recommender.fit

    def interrupted_fit(self, *args, **kwargs):
        kwargs["callbacks"] = [InterruptAt(1)]
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Recommender, "fit", interrupted_fit)
    out = tmp_path / "run"
    assert cli.main([*common, "--out", str(out)]) == cli.EXIT_INTERRUPTED
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--resume" in err and "Traceback" not in err
    assert Recommender.load(out).is_fitted  # the best weights so far are kept
    monkeypatch.setattr(Recommender, "fit", original)

    assert cli.main([*common, "--out", str(out)]) == 2  # not silently restarted over it
    assert "--resume" in capsys.readouterr().err
    assert cli.main([*common, "--out", str(out), "--resume"]) == 0
    resumed = json.loads((out / "metrics.json").read_text())
    for name in ("MAE", "RMSE", "P@10", "NDCG@10", "epochs_run"):
        assert resumed[name] == pytest.approx(full[name], rel=1e-6), name
    capsys.readouterr()
    assert cli.main([*common, "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err


@pytest.mark.slow
@once_per_suite
def test_a_real_sigint_stops_the_command_cleanly_and_resume_matches(tmp_path):
    path = tmp_path / "ratings.csv"
    ratings_frame(seed=3).to_csv(path, index=False)
    command = (
        "import sys; sys.argv[0] = 'keras-hem'; from keras_hem.cli import main; sys.exit(main())"
    )
    common = ["fit", "--data", str(path), "--epochs", "6", "--hidden", "8", "--batch-size", "8"]

    # As a user's shell would have it: the command chooses how much the backend logs.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}

    def run(*extra):
        return subprocess.run(
            [sys.executable, "-c", command, *common, *extra],
            capture_output=True,
            text=True,
            env=env,
        )

    full = run("--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr[-3000:]

    # The interrupted run holds still after its first epoch (checkpoint written) until the
    # signal comes, so a fast machine cannot finish all epochs before the test signals it.
    # Patched once the command has loaded Keras its own way (it quiets the backend's start).
    hold = (
        "import sys, time; sys.argv[0] = 'keras-hem'\n"  # as `command` has it, before import
        # Ctrl-C as in a terminal, even when this test runs as a background job (which starts
        # its children with SIGINT ignored).
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from keras_hem import cli; load = cli._recommender_class\n"
        "def held(self, epoch, logs=None):\n"
        "    type(self).end(self, epoch, logs)\n"
        "    while True: time.sleep(0.05)\n"
        "def patched(args):\n"
        "    cls = load(args); import keras; CallbackList = keras.callbacks.CallbackList\n"
        "    CallbackList.end = CallbackList.on_epoch_end; CallbackList.on_epoch_end = held\n"
        "    return cls\n"
        "cli._recommender_class = patched\n"
    )
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-c", hold + command, *common, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    state = out / cli.CHECKPOINT_DIR / "state.json"
    deadline = time.monotonic() + 120
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)  # Ctrl-C, after the first checkpoint
    _, err = process.communicate(timeout=120)
    assert process.returncode == cli.EXIT_INTERRUPTED, err[-3000:]
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err[-3000:]
    assert "--resume" in err

    resumed = run("--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected = json.loads((tmp_path / "full" / "metrics.json").read_text())
    got = json.loads((out / "metrics.json").read_text())
    for name in ("MAE", "RMSE", "P@10", "NDCG@10", "epochs_run"):
        assert got[name] == pytest.approx(expected[name], rel=1e-6), name
