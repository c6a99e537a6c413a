"""Ranking head on/off: validation MAE and P@10 of the Recommender on ML-100K (seed 0).

    KERAS_HEM_DATA=../shared/data python benchmarks/ranking_head.py RANKING_WEIGHT

Seed 0's 80% training part is split again 90/10; the model is fitted on the 90% and scored on
the 10% validation slice (full-catalog protocol), never on the test split. Prints one JSON line.
"""

import json
import sys
import time

import keras

from keras_hem import RatingMatrix
from keras_hem.datasets import movielens
from keras_hem.evaluation import evaluate
from keras_hem.recommender import Recommender

rw = float(sys.argv[1])
ratings = RatingMatrix.from_dataframe(movielens.load_data("ml-100k"))
train, _ = ratings.random_split(0.2, seed=0)
fit_part, val_part = train.random_split(0.1, seed=0)  # validation slice of train only
keras.utils.set_random_seed(0)
t = time.time()
rec = Recommender(hidden=100, seed=0, model_kwargs={"ranking_weight": rw}).fit(fit_part, verbose=0)
row = evaluate(rec, fit_part, val_part).iloc[0]
print(
    json.dumps(
        {
            "ranking_weight": rw,
            **{k: round(float(row[k]), 4) for k in ["MAE", "RMSE", "P@10", "NDCG@10", "P@10_t4"]},
            "s": round(time.time() - t),
        }
    )
)
