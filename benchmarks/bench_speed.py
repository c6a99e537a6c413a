"""Epoch time of HEM-AAE against a hand-written I-AutoRec loop and the bare matrix products.

    python benchmarks/bench_speed.py [--quick] [--jit]

A synthetic items x users matrix of ML-1M's shape (3706 x 6040, 4.5% observed), hidden 400,
batch 256. Three timings in one run, each the median of `--epochs` epochs after one warm-up:

* `hem_aae`: `HEMAAE.fit` for one epoch (both phases, mining, adversary).
* `autorec_loop`: a minimal `tf.GradientTape` loop training plain I-AutoRec (sigmoid encoder,
  identity decoder, masked squared error, Adam) on the same batches.
* `matmuls`: only the five matrix products of an I-AutoRec training step (two forward, three
  backward), for every batch of the epoch.

Then serving, on a `Recommender` fitted for one epoch on the same matrix (6040 users, as in
ML-1M), each the median of 3 calls: `predict_all` (the model's predicted ratings for every
user and item), `ease_fit` (the closed-form EASE weights; done once per `fit`),
`ease_scores_all` (EASE scores of every user), `top10_all_users` (`recommend(every user,
k=10)` over the full catalogue from the cached scores), and `predict_pairs` (`predict` for
1,000,000 pairs). `--serving` times only these.

Writes benchmarks/results/speed.json.
"""

import argparse
import json
import time

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf
from _timing import RESULTS, write

from keras_hem import HEMAAE, RatingMatrix
from keras_hem.models.hem_aae import row_dataset
from keras_hem.recommender import Recommender

TARGETS = {
    "hem_aae_over_autorec_loop": 1.5,
    "hem_aae_over_matmuls": 3.0,
    "ratings_ranking_total": 2.0,
    "ease_ranking_total": 2.0,
}


def synthetic(n_items, n_users, density, seed=0):
    rng = np.random.default_rng(seed)
    nnz = int(n_items * n_users * density)
    flat = rng.choice(n_items * n_users, nnz, replace=False)
    ratings = rng.integers(1, 6, nnz).astype("float32")
    return sp.csr_array((ratings, (flat // n_users, flat % n_users)), shape=(n_items, n_users))


def median_call(fn, repeats=3, warmup=0):
    """Median wall time of `fn()` over `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def median_epoch(run_epoch, epochs):
    return median_call(run_epoch, epochs, warmup=1)  # the warm-up traces and compiles


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def time_hem_aae(matrix, hidden, batch, epochs, jit):
    model = HEMAAE(hidden=hidden, seed=0)
    model.compile(jit_compile=jit)
    timer = EpochTimer()
    model.fit(matrix, epochs=epochs + 1, batch_size=batch, callbacks=[timer], verbose=0)
    return float(np.median(timer.times[1:]))  # the first epoch traces and compiles


def time_autorec_loop(matrix, hidden, batch, epochs, jit):
    n = matrix.shape[1]
    encoder = keras.layers.Dense(hidden, activation="sigmoid")
    decoder = keras.layers.Dense(n)
    encoder.build((None, n))
    decoder.build((None, hidden))
    variables = encoder.trainable_variables + decoder.trainable_variables
    optimizer = keras.optimizers.Adam(0.001)
    optimizer.build(variables)
    dataset = row_dataset(matrix, None, batch, shuffle=True, seed=0)

    @tf.function(jit_compile=jit)
    def step(x):
        mask = tf.cast(x != 0, "float32")
        with tf.GradientTape() as tape:
            error = mask * (x - decoder(encoder(x)))
            loss = tf.reduce_sum(error**2) / tf.maximum(tf.reduce_sum(mask), 1.0)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def run_epoch():
        for x in dataset:
            step(x)

    return median_epoch(run_epoch, epochs)


def time_matmuls(matrix, hidden, batch, epochs, jit):
    n_items, n = matrix.shape
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((batch, n)).astype("float32"))
    v = tf.constant(rng.random((n, hidden)).astype("float32"))
    w = tf.constant(rng.random((hidden, n)).astype("float32"))
    steps = -(-n_items // batch)

    @tf.function(jit_compile=jit)
    def products(x):
        z = x @ v  # encoder forward
        y = z @ w  # decoder forward
        grad_w = tf.transpose(z) @ y  # decoder kernel gradient
        grad_z = y @ tf.transpose(w)  # back to the code
        grad_v = tf.transpose(x) @ grad_z  # encoder kernel gradient
        return tf.reduce_sum(grad_w) + tf.reduce_sum(grad_v)

    def run_epoch():
        for _ in range(steps):
            products(x).numpy()

    return median_epoch(run_epoch, epochs)


def time_serving(matrix, hidden):
    """Seconds to score and rank the whole catalogue for every user (see the module doc)."""
    coo = matrix.tocoo()  # items x users
    train = RatingMatrix.from_arrays(coo.col, coo.row, coo.data, scale=(1, 5))
    rec = Recommender(hidden=hidden, epochs=1, validation_fraction=0).fit(train, verbose=0)
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, train.n_users, 1_000_000), rng.integers(0, train.n_items, 1_000_000)
    user_ids, item_ids = train.user_ids[pairs[0]], train.item_ids[pairs[1]]
    scorer = rec._fit_ease()
    times = {
        "n_users": train.n_users,
        "n_items": train.n_items,
        "ease_fit": median_call(rec._fit_ease),
        "predict_all": median_call(rec._score_matrix),
        "ease_scores_all": median_call(lambda: rec._ease_scores(scorer)),
        "top10_all_users": median_call(lambda: rec.recommend(train.user_ids, k=10)),
        "predict_pairs": median_call(lambda: rec.predict(user_ids, item_ids)),
    }
    # From a trained model to every user's top-10 list: by predicted ratings alone, and by
    # the default score (EASE's weights are fitted with the model, so not counted here).
    times["ratings_ranking_total"] = times["predict_all"] + times["top10_all_users"]
    times["ease_ranking_total"] = times["ratings_ranking_total"] + times["ease_scores_all"]
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small matrix, for a smoke run")
    parser.add_argument("--jit", action="store_true", help="XLA-compile all three")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--serving", action="store_true", help="time serving only")
    args = parser.parse_args()
    shape = (400, 600) if args.quick else (3706, 6040)
    hidden, batch = (40 if args.quick else 400), 256
    matrix = synthetic(*shape, 0.045)
    name = "speed" + ("_quick" if args.quick else "") + ("_jit" if args.jit else "")
    serving = time_serving(matrix, hidden)
    print({k: round(v, 3) for k, v in serving.items()}, flush=True)
    if args.serving:  # keep the training timings of the last full run
        previous = json.loads((RESULTS / f"{name}.json").read_text())
        previous.pop("machine", None)
        write(name, {**previous, "serving_seconds": serving, "targets": TARGETS})
        return
    results = {}
    for timed, fn in (
        ("hem_aae", time_hem_aae),
        ("autorec_loop", time_autorec_loop),
        ("matmuls", time_matmuls),
    ):
        results[timed] = fn(matrix, hidden, batch, args.epochs, args.jit)
        print(f"{timed}: {results[timed]:.3f} s/epoch", flush=True)
    ratios = {
        "hem_aae_over_autorec_loop": results["hem_aae"] / results["autorec_loop"],
        "hem_aae_over_matmuls": results["hem_aae"] / results["matmuls"],
    }
    print({k: round(v, 2) for k, v in ratios.items()})
    write(
        name,
        {
            "shape": list(shape),
            "density": 0.045,
            "hidden": hidden,
            "batch_size": batch,
            "jit_compile": args.jit,
            "seconds_per_epoch": results,
            "ratios": ratios,
            "serving_seconds": serving,
            "targets": TARGETS,
        },
    )


if __name__ == "__main__":
    main()
