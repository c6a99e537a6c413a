"""A short demo of keras-hem's reusable pieces on synthetic ratings.

    python examples/demo_components.py [--smoke]

Builds rating rows for two kinds of items (liked and disliked), summarises each
row with the mean model, and trains an embedding with the batch-hard triplet
loss so that same-kind items land together. Prints the loss before and after,
and the nearest-neighbour accuracy.
"""

import argparse

import keras
import numpy as np
from keras_hem import MeanModel, TripletHardMiner, TripletLoss


def make_ratings(n_items=1024, n_users=400, seed=0):
    rng = np.random.default_rng(seed)
    liked = rng.integers(0, 2, n_items)  # the class of each item
    centre = np.where(liked, 3.8, 2.6)[:, None]
    ratings = np.clip(
        np.rint(centre + rng.normal(0, 1.0, (n_items, n_users))), 1, 5
    )
    observed = rng.random((n_items, n_users)) < 0.06
    return np.where(observed, ratings, 0.0).astype("float32"), liked.astype(
        "int32"
    )


def nearest_neighbour_accuracy(embeddings, labels):
    d = ((embeddings[:, None] - embeddings[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(1)] == labels).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="a few seconds, for CI"
    )
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    ratings, labels = make_ratings(n_items=256 if args.smoke else 1024)

    inputs = keras.Input((ratings.shape[1],))
    # 7 numbers per item: cheap to compare.
    features = MeanModel(depth=3)(inputs)
    outputs = keras.layers.Dense(4)(keras.layers.Normalization()(features))
    model = keras.Model(inputs, outputs)
    model.layers[2].adapt(MeanModel(depth=3)(ratings))
    loss = TripletLoss(
        margin=1.0, miner=TripletHardMiner(1.0, strategy="batch_hard")
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)

    before = model.evaluate(ratings, labels, batch_size=256, verbose=0)
    model.fit(
        ratings,
        labels,
        batch_size=128,
        epochs=3 if args.smoke else 20,
        verbose=0,
    )
    after = model.evaluate(ratings, labels, batch_size=256, verbose=0)
    accuracy = nearest_neighbour_accuracy(
        model.predict(ratings, verbose=0), labels
    )
    print(f"triplet loss: {before:.3f} -> {after:.3f}")
    print(
        f"nearest-neighbour accuracy of the learned embedding: {accuracy:.3f}"
    )


if __name__ == "__main__":
    main()
