"""Offline evaluation: rating errors (MAE, RMSE), top-k ranking metrics and the protocol.

`model` holds the interface of what is evaluated, `protocol` the `evaluate` table,
`ranking_metrics` and `rating_metrics` the metrics themselves.
"""

from keras_hem.evaluation.model import EvaluatedModel
from keras_hem.evaluation.protocol import evaluate, relevance_threshold
from keras_hem.evaluation.ranking_metrics import ranking_metrics
from keras_hem.evaluation.rating_metrics import mae, rmse

__all__ = [
    "EvaluatedModel",
    "evaluate",
    "mae",
    "ranking_metrics",
    "relevance_threshold",
    "rmse",
    "top_k_items",
]


def __getattr__(name):
    # `top_k_items` lives in `keras_hem.ranking`, which loads Keras: imported on first use.
    if name == "top_k_items":
        from keras_hem.ranking.top_k import top_k_items

        return top_k_items
    raise AttributeError(f"module 'keras_hem.evaluation' has no attribute {name!r}")
