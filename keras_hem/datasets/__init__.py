"""Rating data: your own files (`csv_ratings`), MovieLens (`movielens`), synthetic ratings."""

from keras_hem.datasets import csv_ratings, movielens, synthetic

__all__ = ["csv_ratings", "movielens", "synthetic"]
