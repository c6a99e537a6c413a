"""Quickstart: train HEM-AAE on MovieLens-100K, evaluate, recommend.

    python examples/quickstart.py [--smoke]

Reads MovieLens-100K from $KERAS_HEM_DATA (a folder holding ml-100k/u.data) if
set, else from the Keras cache, downloading it from GroupLens the first time
(checksummed).
"""

import argparse

from keras_hem import RatingMatrix
from keras_hem.datasets import movielens
from keras_hem.evaluation import evaluate
from keras_hem.recommender import Recommender


def main(smoke=False):
    ratings = RatingMatrix.from_dataframe(movielens.load_data("ml-100k"))
    train, test = ratings.random_split(test_fraction=0.2, seed=0)
    recommender = Recommender(epochs=2 if smoke else 150, seed=0)
    # Early stopping on a validation slice of `train`.
    recommender.fit(train, verbose=0)
    metrics = evaluate(recommender, train, test)
    print(
        metrics[["MAE", "RMSE", "P@10", "NDCG@10"]].to_string(
            index=False, float_format="%.4f"
        )
    )
    top = recommender.recommend(42, k=5)
    top["title"] = top["item"].map(movielens.load_titles("ml-100k"))
    print("Top 5 for user 42:")
    print(top[["rank", "item", "title"]].to_string(index=False))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2 epochs, for CI")
    main(parser.parse_args().smoke)
