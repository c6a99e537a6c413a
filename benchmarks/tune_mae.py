"""Validation MAE of HEM-AAE settings, through the library's `Recommender` path (ML-100K).

    KERAS_HEM_DATA=<folder> python benchmarks/tune_mae.py \
        '{"hidden": 500, "l2": 0.01}' '{"hidden": 100}' ...

Each argument is one setting: `hidden`, `batch_size` and `epochs` go to `Recommender`, every
other key to `HEMAAE`. Seed 0's 80% training part is split again 90/10; the recommender is
fitted on the 90% (it carves its own early-stopping slice from that) and scored on the 10%
validation slice; the test split is never used. Rows accumulate in `results/tune_mae.json`.
"""

import json
import sys
import time

import keras
from _timing import RESULTS, machine
from harness import PREVIOUS_FIT, PREVIOUS_MODEL, validation_slice

from keras_hem.evaluation import evaluate
from keras_hem.recommender import Recommender

RECOMMENDER_KEYS = ("hidden", "batch_size", "epochs")


def main(settings):
    fit_part, val_part = validation_slice()  # seed 0's training part only
    path = RESULTS / "tune_mae.json"
    rows = json.loads(path.read_text())["rows"] if path.exists() else []
    for setting in settings:
        config = json.loads(setting)
        # The recipe of its committed results (before denoising and the falling rate).
        outer = {**PREVIOUS_FIT, **{k: config[k] for k in RECOMMENDER_KEYS if k in config}}
        inner = {**PREVIOUS_MODEL, **{k: v for k, v in config.items() if k not in RECOMMENDER_KEYS}}
        outer.setdefault("hidden", 100)
        keras.utils.set_random_seed(0)
        start = time.perf_counter()
        rec = Recommender(seed=0, ranking="ratings", model_kwargs=inner, **outer)
        rec.fit(fit_part, verbose=0)
        seconds = time.perf_counter() - start
        metrics = evaluate(rec, fit_part, val_part, ks=(10,), thresholds=(None,)).iloc[0]
        row = {
            "setting": config,
            "val_MAE": float(metrics["MAE"]),
            "val_RMSE": float(metrics["RMSE"]),
            "epochs": len(rec.history["loss"]),
            "train_seconds": seconds,
        }
        print(json.dumps(row), flush=True)
        rows = [r for r in rows if r["setting"] != config] + [row]
        payload = {"machine": machine(), "protocol": __doc__.split("\n\n")[2], "rows": rows}
        path.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
