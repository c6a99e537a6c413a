"""Speed of the keras.ops pieces relative to the cheapest op doing comparable work.

    [KERAS_BACKEND=jax] python benchmarks/bench_components.py [--quick] [--out NAME]

MeanModel against a row sum, TripletHardMiner against its distance matrix, and EASEScorer
scoring every user of an ML-1M-shaped matrix against the bare matrix product. Runs on the
TensorFlow (default) or JAX backend, on whatever device the backend picks (a GPU if it sees
one). Writes benchmarks/results/<NAME>.json (default `components`). Every step is
XLA-compiled and timed as the median of repeated calls after warm-up; each ratio compares two
timings of the same run on the same machine.
"""

import argparse

import numpy as np
import scipy.sparse as sp
from _timing import median_seconds, write, xla
from keras import ops

from keras_hem.layers import EASEScorer, MeanModel
from keras_hem.mining import TripletHardMiner, pairwise_distances


def bench_mean_model(rows, cols, density, repeats):
    rng = np.random.default_rng(0)
    observed = rng.random((rows, cols)) < density
    x = ops.convert_to_tensor(
        np.where(observed, rng.integers(1, 6, (rows, cols)), 0).astype("float32")
    )
    mean_model = xla(MeanModel(depth=3))
    row_sum = xla(lambda t: ops.sum(t, axis=-1))
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
    x = ops.convert_to_tensor(rng.normal(size=(batch, dim)).astype("float32"))
    labels = ops.convert_to_tensor(rng.integers(0, 2, batch).astype("int32"))
    miner = TripletHardMiner(strategy=strategy)
    mine = xla(lambda e, y: miner(e, y))
    distances = xla(lambda e: pairwise_distances(e))
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


def bench_ease(users, items, density, repeats):
    rng = np.random.default_rng(0)
    seen = sp.random_array((users, items), density=density, rng=rng, format="csr", dtype="f4")
    seen.data[:] = 1.0
    scorer = EASEScorer(l2=500.0)
    scorer.adapt(seen)
    x = ops.convert_to_tensor(seen.toarray())
    weights = ops.convert_to_tensor(scorer.item_weights)
    score = xla(scorer)
    matmul = xla(lambda t: ops.matmul(t, weights))
    t_score = median_seconds(score, x, repeats=repeats)
    t_matmul = median_seconds(matmul, x, repeats=repeats)
    return {
        "shape": [users, items],
        "density": density,
        "ease_scores_s": t_score,
        "matmul_s": t_matmul,
        "ratio": t_score / t_matmul,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, for a smoke run")
    parser.add_argument("--out", default=None, help="results name (components[_quick])")
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
    users, items = (300, 200) if args.quick else (6040, 3706)
    ease = bench_ease(users, items, 0.045, repeats)
    print(f"EASEScorer {users}x{items}: {ease['ratio']:.2f}x the matrix product")
    name = args.out or "components" + ("_quick" if args.quick else "")
    write(name, {"mean_model": mean_model, "miner": miner, "ease": ease})


if __name__ == "__main__":
    main()
