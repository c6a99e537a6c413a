"""Offline evaluation: rating errors (MAE, RMSE) and top-k ranking metrics (NumPy only)."""

from keras_hem.evaluation.ranking_metrics import ranking_metrics, top_k_items
from keras_hem.evaluation.rating_metrics import mae, rmse

__all__ = ["mae", "ranking_metrics", "rmse", "top_k_items"]
