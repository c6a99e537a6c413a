"""The triplet miner and loss outside recommenders: a digits embedding.

    python examples/reuse_miner.py [--smoke]

Trains a small network on scikit-learn's bundled 8x8 digits (no download) with
`TripletLoss` and a semi-hard `TripletHardMiner`, then prints the
nearest-neighbour accuracy on held-out digits for the raw pixels, the untrained
network and the trained one (neighbours are looked up among the training
digits).
"""

import argparse

import keras
from keras_hem import TripletHardMiner, TripletLoss
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def nearest_neighbour_accuracy(train_x, train_y, test_x, test_y):
    d = ((test_x[:, None] - train_x[None]) ** 2).sum(-1)
    return float((train_y[d.argmin(1)] == test_y).mean())


def embedding_accuracy(model, train_x, train_y, test_x, test_y):
    train_e, test_e = (model.predict(x, verbose=0) for x in (train_x, test_x))
    return nearest_neighbour_accuracy(train_e, train_y, test_e, test_y)


def main(smoke=False):
    keras.utils.set_random_seed(0)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")  # pixels are 0..16
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=0
    )

    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(128, "relu"),
            keras.layers.Dense(16),
        ]
    )
    miner = TripletHardMiner(margin=0.5, strategy="semi_hard", distance="l2")
    model.compile(
        keras.optimizers.Adam(1e-3), loss=TripletLoss(0.5, "l2", miner=miner)
    )

    raw = nearest_neighbour_accuracy(x_train, y_train, x_test, y_test)
    before = embedding_accuracy(model, x_train, y_train, x_test, y_test)
    # Batches of 256 hold about 25 digits of each class, so most anchors have
    # positives.
    model.fit(
        x_train, y_train, batch_size=256, epochs=3 if smoke else 60, verbose=0
    )
    after = embedding_accuracy(model, x_train, y_train, x_test, y_test)
    sizes = f"{len(x_train)} train, {len(x_test)} test"
    print(f"digits: {sizes}, 64 pixels -> 16-d embedding")
    print(f"nearest-neighbour accuracy, raw pixels:      {raw:.3f}")
    print(f"nearest-neighbour accuracy, before training: {before:.3f}")
    print(f"nearest-neighbour accuracy, after training:  {after:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="3 epochs, for CI")
    main(parser.parse_args().smoke)
