"""Ranking strategies: score a chunk of users at a time, keep the top k.

Every strategy is a small `Scorer` (`name`, `n_items`, `score(user_indices)`) that computes
the score rows it is asked for and holds no users x items array:

* `RatingScorer`: the model's reconstructed ratings (the HEM-AAE paper's ranking), decoded
  from per-row codes computed once;
* `EASEBlendScorer`: EASE's item-item score plus a small weight on the predicted ratings
  (`Recommender`'s default), with EASE restricted to the most-rated items above a
  memory-derived bound;
* `HeadScorer`: HEM-AAE's optional ranking head;
* `PopularityScorer`: each item's shrunk mean rating (for users without training ratings).

`AveragedModels` serves several fitted models as one (an ensemble), so that every scorer
ranks with their mean.

`chunked_top_k` ranks any number of users with any scorer in bounded memory.
"""

from keras_hem.ranking.ease import EASEBlendScorer
from keras_hem.ranking.ensemble import AveragedModels
from keras_hem.ranking.head import HeadScorer
from keras_hem.ranking.popularity import PopularityScorer
from keras_hem.ranking.protocol import Scorer, check_user_indices
from keras_hem.ranking.ratings import RatingScorer
from keras_hem.ranking.statistics import PRIOR_RATINGS, RatingStatistics
from keras_hem.ranking.top_k import CHUNK_CELLS, TopK, chunk_size_for, chunked_top_k, top_k_items

__all__ = [
    "AveragedModels",
    "CHUNK_CELLS",
    "EASEBlendScorer",
    "HeadScorer",
    "PRIOR_RATINGS",
    "PopularityScorer",
    "RatingScorer",
    "RatingStatistics",
    "Scorer",
    "TopK",
    "check_user_indices",
    "chunk_size_for",
    "chunked_top_k",
    "top_k_items",
]
