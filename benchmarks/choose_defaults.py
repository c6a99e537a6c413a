"""Measures the HEM-AAE choices the issue asks to settle, on a validation slice of ML-100K.

    KERAS_HEM_DATA=<folder> python benchmarks/choose_defaults.py [--epochs 60]

Seed 0's 80/20 split; the 80% training part is split again 90/10 and only that validation
slice is scored (the test split is never touched). Writes results/choose_defaults.json.
"""

import argparse
import time

import keras
import numpy as np
from _timing import write
from harness import PREVIOUS_MODEL, validation_slice

from keras_hem import HEMAAE

VARIANTS = {
    "default": {},
    "paper_sigmoid_output": {"output_activation": "sigmoid"},
    "saturating_generator": {"generator_loss": "saturating"},
    "plain_autorec": {"triplet_weight": 0.0, "adversarial_weight": 0.0},
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    fit_part, val_part = validation_slice()  # seed 0's training part only
    x, y = fit_part.to_item_user_csr(), val_part.to_item_user_csr()
    results = {}
    for name in args.variants:
        keras.utils.set_random_seed(0)
        # Without denoising, as its committed results were measured.
        model = HEMAAE(hidden=100, seed=0, **{**PREVIOUS_MODEL, **VARIANTS[name]})
        model.compile()
        stop = keras.callbacks.EarlyStopping("val_mae", patience=5, restore_best_weights=True)
        start = time.perf_counter()
        history = model.fit(
            x,
            epochs=args.epochs,
            batch_size=128,
            validation_data=(x, y),
            callbacks=[stop],
            verbose=0,
        )
        seconds = time.perf_counter() - start
        prediction = np.clip(model.predict(x, verbose=0), 1, 5)
        rows, cols = y.nonzero()
        mae = float(np.mean(np.abs(prediction[rows, cols] - np.asarray(y[rows, cols]).ravel())))
        results[name] = {
            "val_mae": mae,
            "epochs": len(history.history["loss"]),
            "train_seconds": seconds,
            "config": VARIANTS[name],
        }
        print(name, results[name], flush=True)
    write(
        "choose_defaults", {"data": "ml-100k seed 0, 90/10 of the training 80%", "results": results}
    )


if __name__ == "__main__":
    main()
