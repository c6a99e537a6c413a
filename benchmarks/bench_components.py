"""Speed of MeanModel and TripletHardMiner relative to the cheapest op doing comparable work.

    python benchmarks/bench_components.py [--quick]

Writes benchmarks/results/components.json. Every step is XLA-compiled (`jit_compile=True`) and
timed as the median of repeated calls after warm-up; each ratio compares two timings of the same
run on the same machine.
"""

import argparse

import numpy as np
import tensorflow as tf
from _timing import median_seconds, write
from keras import ops

from keras_hem.layers import MeanModel
from keras_hem.mining import TripletHardMiner, pairwise_distances


def bench_mean_model(rows, cols, density, repeats):
    rng = np.random.default_rng(0)
    observed = rng.random((rows, cols)) < density
    x = tf.constant(np.where(observed, rng.integers(1, 6, (rows, cols)), 0).astype("float32"))
    layer = MeanModel(depth=3)
    mean_model = tf.function(layer, jit_compile=True)
    row_sum = tf.function(lambda t: ops.sum(t, axis=-1), jit_compile=True)
    t_mm = median_seconds(mean_model, x, repeats=repeats)
    t_sum = median_seconds(row_sum, x, repeats=repeats)
    return {
        "shape": [rows, cols],
        "density": density,
        "mean_model_s": t_mm,
        "row_sum_s": t_sum,
        "ratio": t_mm / t_sum,
        "target_ratio": 4.0,
    }


def bench_miner(batch, dim, strategy, repeats):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(batch, dim)).astype("float32"))
    labels = tf.constant(rng.integers(0, 2, batch).astype("int32"))
    miner = TripletHardMiner(strategy=strategy)
    mine = tf.function(lambda e, y: miner(e, y), jit_compile=True)
    distances = tf.function(lambda e: pairwise_distances(e), jit_compile=True)
    t_mine = median_seconds(mine, x, labels, repeats=repeats)
    t_dist = median_seconds(distances, x, repeats=repeats)
    return {
        "batch": batch,
        "dim": dim,
        "strategy": strategy,
        "miner_s": t_mine,
        "distances_s": t_dist,
        "ratio": t_mine / t_dist,
        "target_ratio": 3.0,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, for a smoke run")
    args = parser.parse_args()
    repeats = 3 if args.quick else 10
    rows, cols = (256, 600) if args.quick else (4096, 6040)
    mean_model = bench_mean_model(rows, cols, 0.05, repeats)
    print(f"MeanModel(depth=3) {rows}x{cols}: {mean_model['ratio']:.2f}x ops.sum")
    miner = []
    batches = (64, 128) if args.quick else (256, 1024, 4096)
    for strategy in ("batch_hard", "semi_hard"):
        for batch in batches:
            if strategy == "semi_hard" and batch > 1024:
                continue  # batch**2 triplets x batch negatives: 68 G comparisons at 4096
            for dim in (7, 128):
                result = bench_miner(batch, dim, strategy, repeats)
                miner.append(result)
                print(f"{strategy} batch={batch} dim={dim}: {result['ratio']:.2f}x distances")
    write(
        "components" + ("_quick" if args.quick else ""), {"mean_model": mean_model, "miner": miner}
    )


if __name__ == "__main__":
    main()
