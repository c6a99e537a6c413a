"""How `Recommender` should rank: validation P@10 / NDCG@10 of the candidate scores (ML-100K).

    KERAS_HEM_DATA=<folder> python benchmarks/ranking_head.py RANKING_WEIGHT
    KERAS_HEM_DATA=<folder> python benchmarks/ranking_head.py baselines
    KERAS_HEM_DATA=<folder> python benchmarks/ranking_head.py scores

Seed 0's 80% training part is split again 90/10; models are fitted on the 90% and scored on
the 10% validation slice (full-catalog protocol), never on the test split.

* `RANKING_WEIGHT`: HEM-AAE with the optional ranking head of that weight, ranked by the head.
* `baselines`: popularity and EASE on the same slice, for scale.
* `scores`: one HEM-AAE fit (library defaults), ranked by its predicted ratings, by
  `EASEScorer` alone for several `l2`, and by EASE (l2 500) plus `w` x (predicted rating - global
  mean) for several `w` (`Recommender(ranking="ease", rating_weight=w)`).

Prints one JSON line per model or score.
"""

import json
import sys
import time

import keras
import numpy as np
from baselines import EASE, Popularity
from harness import Scored, validation_slice

from keras_hem.evaluation import evaluate
from keras_hem.layers import EASEScorer
from keras_hem.recommender import Recommender

COLUMNS = ["MAE", "RMSE", "P@10", "NDCG@10", "P@10_t4", "NDCG@10_t4"]


def report(name, model, fit_part, val_part, start):
    row = evaluate(model, fit_part, val_part).iloc[0]
    values = {k: round(float(row[k]), 4) for k in COLUMNS}
    print(json.dumps({"model": name, **values, "s": round(time.time() - start)}), flush=True)


def scores(fit_part, val_part):
    start = time.time()
    rec = Recommender(hidden=100, seed=0, ranking="ratings").fit(fit_part, verbose=0)
    users = np.arange(fit_part.n_users)
    ratings = rec.score_users(users)
    report("predicted ratings (the paper)", rec, fit_part, val_part, start)
    interactions = fit_part.csr.toarray()
    for l2 in (100.0, 250.0, 500.0, 1000.0):
        scorer = EASEScorer(l2=l2)
        scorer.adapt(interactions)
        ease = keras.ops.convert_to_numpy(scorer(interactions))
        report(f"EASE l2={l2:g}", Scored(rec, ease), fit_part, val_part, start)
        if l2 == 500.0:
            ease_500 = ease
    deviation = ratings - float(fit_part.ratings.mean())
    for weight in (0.01, 0.03, 0.1, 0.3):
        blend = ease_500 + weight * deviation
        report(f"EASE l2=500 + {weight:g} x rating", Scored(rec, blend), fit_part, val_part, start)


def main():
    fit_part, val_part = validation_slice()  # seed 0's training part only
    keras.utils.set_random_seed(0)
    if sys.argv[1] == "baselines":
        for model in (Popularity(), EASE()):
            start = time.time()
            report(type(model).__name__, model.fit(fit_part), fit_part, val_part, start)
        return
    if sys.argv[1] == "scores":
        scores(fit_part, val_part)
        return
    weight = float(sys.argv[1])
    start = time.time()
    kwargs = {"ranking_weight": weight}
    rec = Recommender(hidden=100, seed=0, model_kwargs=kwargs, ranking="head")
    report(
        f"hem_aae ranking_weight={weight}", rec.fit(fit_part, verbose=0), fit_part, val_part, start
    )


if __name__ == "__main__":
    main()
