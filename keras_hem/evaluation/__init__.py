"""Offline evaluation: rating errors (MAE, RMSE), top-k ranking metrics and the protocol."""

from keras_hem.evaluation.protocol import evaluate, relevance_threshold
from keras_hem.evaluation.ranking_metrics import ranking_metrics, top_k_items
from keras_hem.evaluation.rating_metrics import mae, rmse

__all__ = ["evaluate", "mae", "ranking_metrics", "relevance_threshold", "rmse", "top_k_items"]
