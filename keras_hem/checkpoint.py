"""Checkpoints of a training run, so that an interrupted `fit` can resume where it stopped.

After every epoch `TrainingCheckpoint` writes, into one folder and atomically (a new file is
renamed over the old one, so an interruption never leaves half a checkpoint):

* `model.keras`: the model with its optimizer state (all three optimizers of HEM-AAE);
* `state.json`: the last finished epoch, the history so far, the early-stopping state and the
  learning-rate schedule's;
* `best.weights.npz`: the weights of the best epoch so far, which early stopping restores.

`resume_state` reads them back. A resumed run sees the same batches in the same order as an
uninterrupted one (the order of an epoch depends only on its number, see
`keras_hem.data.pipeline.epoch_order`), so it ends with the same weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np

MODEL_FILE = "model.keras"
STATE_FILE = "state.json"
BEST_FILE = "best.weights.npz"


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`keras.callbacks.EarlyStopping` whose state can be saved and restored.

    Keras's `EarlyStopping` forgets its best value, patience count and best weights when a new
    `fit` begins; this one starts from `restored` instead, so a resumed run stops (and restores
    weights) exactly where an uninterrupted run would.

    Args:
        restored: the `state()` of an earlier run, or `None` to start afresh.
        **kwargs: `keras.callbacks.EarlyStopping` arguments.

    Returns:
        A callback for `fit`.

    Examples:
        >>> stopping = ResumableEarlyStopping(monitor="val_mae", mode="min", patience=3)
        >>> sorted(stopping.state())
        ['best', 'best_epoch', 'wait']
    """

    def __init__(self, restored: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.restored = restored
        self.restored_weights = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.restored is not None:
            self.wait = int(self.restored["wait"])
            best = self.restored["best"]
            self.best = None if best is None else float(best)
            self.best_epoch = int(self.restored["best_epoch"])
            self.best_weights = self.restored_weights

    def state(self):
        """The JSON-able part of the state (the best weights are saved apart)."""
        best = getattr(self, "best", None)
        return {
            "wait": int(self.wait),
            "best": None if best is None else float(best),
            "best_epoch": int(getattr(self, "best_epoch", 0)),
        }


class ResumableReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """`keras.callbacks.ReduceLROnPlateau` whose state can be saved and restored.

    Keras's callback restarts its count of epochs without progress when a new `fit` begins;
    this one starts from `restored`, so a resumed run lowers the learning rate at the epochs
    an uninterrupted run would (the rate itself is the optimizer's, saved with the model).

    Args:
        restored: the `state()` of an earlier run, or `None` to start afresh.
        **kwargs: `keras.callbacks.ReduceLROnPlateau` arguments.

    Returns:
        A callback for `fit`.

    Examples:
        >>> schedule = ResumableReduceLROnPlateau(monitor="val_mae", mode="min", patience=5)
        >>> sorted(schedule.state())
        ['best', 'cooldown_counter', 'wait']
    """

    def __init__(self, restored: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.restored = restored

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.restored is not None:
            self.wait = int(self.restored["wait"])
            self.cooldown_counter = int(self.restored["cooldown_counter"])
            if self.restored["best"] is not None:  # None: nothing seen yet
                self.best = float(self.restored["best"])

    def state(self):
        """The JSON-able state: the count, the best value so far and the cooldown."""
        best = None if self.best is None else float(self.best)
        return {
            "wait": int(self.wait),
            "best": best if best is not None and np.isfinite(best) else None,
            "cooldown_counter": int(self.cooldown_counter),
        }


class TrainingCheckpoint(keras.callbacks.Callback):
    """Writes a resumable checkpoint into `folder` after every epoch.

    Args:
        folder: the checkpoint folder (created if needed).
        stopping: the run's `ResumableEarlyStopping`, if any, whose state is saved too.
        history: logs of epochs before this `fit` (a resumed run), as `{name: [values]}`.
        schedule: the run's `ResumableReduceLROnPlateau`, if any, whose state is saved too.

    Returns:
        A callback for `fit`.

    Raises:
        OSError: if the folder cannot be written.

    Examples:
        >>> import tempfile
        >>> callback = TrainingCheckpoint(tempfile.mkdtemp())
        >>> callback.history
        {}
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        stopping: ResumableEarlyStopping | None = None,
        history: dict | None = None,
        schedule: ResumableReduceLROnPlateau | None = None,
    ):
        super().__init__()
        self.folder = Path(folder)
        self.stopping = stopping
        self.schedule = schedule
        self.history = {k: list(v) for k, v in (history or {}).items()}
        self.last_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        self.folder.mkdir(parents=True, exist_ok=True)
        _atomic(self.folder / MODEL_FILE, self.model.save)
        if self.stopping is not None and self.stopping.best_weights is not None:
            arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(self.stopping.best_weights)}
            _atomic(self.folder / BEST_FILE, lambda path: _save_npz(path, arrays))
        state = {
            "epoch": int(epoch),
            "stopped": bool(getattr(self.model, "stop_training", False)),
            "history": self.history,
            "stopping": None if self.stopping is None else self.stopping.state(),
            "schedule": None if self.schedule is None else self.schedule.state(),
        }
        _atomic(self.folder / STATE_FILE, lambda path: Path(path).write_text(json.dumps(state)))
        self.last_epoch = int(epoch)


def _save_npz(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _atomic(path, write):
    """`write(temporary path)`, then rename it over `path` (all or nothing)."""
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    write(str(temporary))
    os.replace(temporary, path)


def resume_state(
    folder: str | os.PathLike,
) -> tuple[keras.Model, dict, list[np.ndarray] | None]:
    """What `TrainingCheckpoint` left in `folder`: `(model, state, best_weights)`.

    Args:
        folder: a checkpoint folder.

    Returns:
        The saved model (with its optimizer state), the `state.json` dict and the best
        weights so far (a list of arrays, or `None`).

    Raises:
        ValueError: if the folder holds no complete checkpoint.
    """
    folder = Path(folder)
    missing = [name for name in (MODEL_FILE, STATE_FILE) if not (folder / name).is_file()]
    if missing:
        raise ValueError(
            f"No checkpoint to resume from in {folder} (missing {', '.join(missing)}); "
            "start the run without resuming."
        )
    import keras_hem.models  # noqa: F401 (registers the model classes for load_model)

    try:
        state = json.loads((folder / STATE_FILE).read_text())
        model = keras.models.load_model(folder / MODEL_FILE)
    except Exception as err:  # a damaged checkpoint: say which, never a bare traceback
        raise ValueError(f"The checkpoint in {folder} cannot be read ({err}).") from None
    best = None
    if (folder / BEST_FILE).is_file():
        with np.load(folder / BEST_FILE) as saved:
            best = [saved[f"w{i}"] for i in range(len(saved.files))]
    return model, state, best
