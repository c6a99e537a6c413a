"""HEM-AAE assembled from parts: your own encoder, decoder, discriminator.

    python examples/custom_assembly.py [--smoke]

Builds the model of docs/guides/custom-assembly.md on synthetic low-rank ratings
(items x users, 0 = unrated), holds out 20% of the ratings, trains on the rest
and prints the held-out MAE next to the global-mean baseline (predicting the
mean training rating everywhere).
"""

import argparse

import keras
import numpy as np
from keras_hem import (
    AdversarialAutoencoder,
    MeanModel,
    MeanModelLabeler,
    TripletHardMiner,
)
from keras_hem.datasets.synthetic import low_rank_ratings


def split(ratings, test_fraction=0.2, seed=0):
    """Move a random share of the observed ratings into a test matrix."""
    held_out = (ratings > 0) & (
        np.random.default_rng(seed).random(ratings.shape) < test_fraction
    )
    return np.where(held_out, 0.0, ratings), np.where(held_out, ratings, 0.0)


def build_model(train, k=64):
    n = train.shape[
        1
    ]  # one input per user: each sample is an item's rating row
    encoder = keras.Sequential(
        [
            keras.Input((n,)),
            keras.layers.Dense(256, "selu"),
            keras.layers.Dense(k, "sigmoid"),
        ]
    )
    decoder = keras.Sequential(
        [
            keras.Input((k,)),
            keras.layers.Dense(256, "selu"),
            keras.layers.Dense(n),
        ]
    )
    # The discriminator sees (anchor code, code) pairs and returns one logit.
    discriminator = keras.Sequential(
        [
            keras.Input((2 * k,)),
            keras.layers.Dense(64, "relu"),
            keras.layers.Dense(1),
        ]
    )
    labeler = MeanModelLabeler(label_depth=1)
    # The global mean-model tree, from training ratings only.
    labeler.adapt(train)
    return AdversarialAutoencoder(
        encoder,
        decoder,
        discriminator,
        labeler=labeler,
        miner=TripletHardMiner(margin=1.0, strategy="semi_hard"),
        feature_layer=MeanModel(depth=3),
        triplet_weight=0.1,
        adversarial_weight=0.1,
        l2=1e-3,
    )


def held_out_mae(predictions, test):
    observed = test > 0
    return float(np.abs(predictions[observed] - test[observed]).mean())


def main(smoke=False):
    keras.utils.set_random_seed(0)
    shape = (200, 150) if smoke else (500, 300)
    ratings = low_rank_ratings(n_items=shape[0], n_users=shape[1], seed=0)
    train, test = split(ratings)
    model = build_model(train)
    model.compile()
    model.fit(train, epochs=3 if smoke else 30, batch_size=64, verbose=0)
    # Clipped to the rating scale.
    predictions = np.clip(model.predict(train, verbose=0), 1, 5)
    baseline = np.full_like(test, train[train > 0].mean())
    n_test = int((test > 0).sum())
    print(f"ratings: {shape[0]} items x {shape[1]} users, {n_test} held out")
    print(f"held-out MAE, HEM-AAE:     {held_out_mae(predictions, test):.4f}")
    print(f"held-out MAE, global mean: {held_out_mae(baseline, test):.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="small data and 3 epochs, for CI"
    )
    main(parser.parse_args().smoke)
