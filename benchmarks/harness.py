"""What every benchmark shares: the data, the splits, the paper's figures and the commands.

What belongs here: the protocol the result tables rest on (the 80/20 split, the validation
slice carved from a training part, the cut-offs and relevance thresholds), how data are
loaded and described, how a command is recorded without a local path, and the HEM-AAE paper's
published figures. The scripts beside it (`reproduce.py`, `tune.py`, `hidden_sweep.py`, ...)
are thin commands on top; `report.py` renders the tables.
"""

from __future__ import annotations

import os
import shlex
import sys
import warnings

import numpy as np

from keras_hem.data import RatingMatrix
from keras_hem.datasets import movielens

KS = (3, 5, 10)
THRESHOLDS = (None, 4)
TEST_FRACTION = 0.2
# The training recipe before denoising and the falling learning rate became the defaults
# (`HEMAAE` / `Recommender` keyword arguments): the scripts whose committed results were
# measured with it keep it, so that they reproduce those results.
PREVIOUS_MODEL = {"input_dropout": 0.0}
PREVIOUS_FIT = {"lr_patience": None, "epochs": 100}
# HEM-AAE paper (Sun, Wei, Shagor, CBD 2020), Tables 3-5. It reports no RMSE and does not say
# which test items count as relevant for P@k and NDCG@k.
PAPER = {
    "ml-100k": {
        "MAE": 0.7024,
        "P@3": 0.4202,
        "P@5": 0.3927,
        "P@10": 0.3601,
        "NDCG@3": 0.4334,
        "NDCG@5": 0.4123,
        "NDCG@10": 0.3975,
    },
    "ml-1m": {
        "MAE": 0.6959,
        "P@3": 0.3939,
        "P@5": 0.3857,
        "P@10": 0.3601,
        "NDCG@3": 0.4284,
        "NDCG@5": 0.4133,
        "NDCG@10": 0.4051,
    },
}


def command_line(argv=None, script="reproduce.py"):
    """The command as typed, with `KERAS_HEM_DATA=...` when it is set (its value left out)."""
    words = ["python", f"benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)]
    data = os.environ.get(movielens.ENV_DATA_DIR)
    prefix = f"{movielens.ENV_DATA_DIR}=... " if data else ""
    return prefix + shlex.join(words)


def portable(text):
    """`text` with this machine's data folder written as `$KERAS_HEM_DATA`.

    Results files are published: they name the data by the variable, never by a local path.
    """
    data = os.environ.get(movielens.ENV_DATA_DIR)
    if data:
        text = text.replace(f"{movielens.ENV_DATA_DIR}={data}", f"{movielens.ENV_DATA_DIR}=...")
        text = text.replace(data.rstrip("/"), f"${movielens.ENV_DATA_DIR}")
    return text


def load(name):
    """The ratings as a RatingMatrix and a description of where they came from."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = movielens.load_data(name)
    ratings = RatingMatrix.from_dataframe(frame)
    derived = bool(frame.attrs.get("derived", False))
    source = {
        "name": name,
        "file": portable(str(frame.attrs.get("source"))),
        "derived": derived,
        "checksum_verified": True,
        "n_ratings": ratings.n_ratings,
        "n_users": ratings.n_users,
        "n_items": ratings.n_items,
        "scale": list(ratings.scale),
        "warnings": [portable(str(w.message)) for w in caught],
    }
    if derived:
        source["note"] = (
            "ML-1M ratings read from the derived ratings.csv.gz (all 1,000,209 ratings of the "
            "original ratings.dat, rebuilt from a MATLAB copy, without timestamps), not from "
            "the official ratings.dat."
        )
    return ratings, source


def validation_slice(name="ml-100k", fraction=0.1, seed=0):
    """`(fit_part, val_part)`: split `seed`'s training 80% split again; its test 20% is unused.

    The slice hyper-parameter choices in `benchmarks/` are scored on (`tune.py`: one per
    split, so each split's choice never sees its own test ratings).
    """
    ratings, _ = load(name)
    train, _ = ratings.random_split(TEST_FRACTION, seed=seed)
    return train.random_split(fraction, seed=seed)


def fit(model, train, seed):
    """Fit a model on the training part; returns extra facts about the fit."""
    if not hasattr(model, "history"):
        model.fit(train)
        return {}
    import keras

    keras.utils.set_random_seed(seed)
    model.fit(train, verbose=0)
    val = model.history.get("val_mae", [])
    facts = {
        "epochs": len(model.history.get("loss", [])),
        "best_epoch": int(np.argmin(val)) + 1 if val else None,
        "best_val_mae": float(np.min(val)) if val else None,
    }
    histories = getattr(model, "histories", [])
    if len(histories) > 1:  # an ensemble: `epochs` is the first member's
        facts["member_epochs"] = [len(h.get("loss", [])) for h in histories]
    return facts


class Scored:
    """A fitted Recommender's predictions, ranked by another users x items score matrix."""

    def __init__(self, recommender, scores):
        self.train, self.predict, self.scores = recommender.train, recommender.predict, scores

    def score_users(self, user_indices):
        return np.asarray(self.scores)[user_indices]
