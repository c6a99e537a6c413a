"""Ranking head on/off: validation MAE and P@10 of the Recommender on ML-100K (seed 0).

    KERAS_HEM_DATA=../shared/data python benchmarks/ranking_head.py RANKING_WEIGHT
    KERAS_HEM_DATA=../shared/data python benchmarks/ranking_head.py baselines

Seed 0's 80% training part is split again 90/10; the model is fitted on the 90% and scored on
the 10% validation slice (full-catalog protocol), never on the test split. `baselines` scores
popularity and EASE on the same slice for scale. Prints one JSON line per model.
"""

import json
import sys
import time

import keras
from baselines import EASE, Popularity

from keras_hem import RatingMatrix
from keras_hem.datasets import movielens
from keras_hem.evaluation import evaluate
from keras_hem.recommender import Recommender

COLUMNS = ["MAE", "RMSE", "P@10", "NDCG@10", "P@10_t4"]


def report(name, model, fit_part, val_part, start):
    row = evaluate(model, fit_part, val_part).iloc[0]
    values = {k: round(float(row[k]), 4) for k in COLUMNS}
    print(json.dumps({"model": name, **values, "s": round(time.time() - start)}))


def main():
    ratings = RatingMatrix.from_dataframe(movielens.load_data("ml-100k"))
    train, _ = ratings.random_split(0.2, seed=0)
    fit_part, val_part = train.random_split(0.1, seed=0)  # validation slice of train only
    if sys.argv[1] == "baselines":
        for model in (Popularity(), EASE()):
            start = time.time()
            report(type(model).__name__, model.fit(fit_part), fit_part, val_part, start)
        return
    weight = float(sys.argv[1])
    keras.utils.set_random_seed(0)
    start = time.time()
    kwargs = {"ranking_weight": weight}
    rec = Recommender(hidden=100, seed=0, model_kwargs=kwargs).fit(fit_part, verbose=0)
    report(f"hem_aae ranking_weight={weight}", rec, fit_part, val_part, start)


if __name__ == "__main__":
    main()
