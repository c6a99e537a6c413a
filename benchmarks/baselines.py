"""Non-neural baselines for `benchmarks/reproduce.py`, in NumPy and SciPy only.

Every model declares `keras_hem.evaluation.EvaluatedModel`, the interface
`keras_hem.evaluation.evaluate` needs, like `keras_hem.recommender.Recommender`:

* `fit(train)` takes a training `RatingMatrix` and returns the model;
* `train` is that RatingMatrix (`evaluate` checks it is the split it is given);
* `predict(users, items)` takes original user and item ids and returns float64 ratings clipped to
  `train.scale`; ids without training ratings (or not in the id maps at all) get each model's
  documented fallback;
* `score_users(user_indices)` takes user indices of `train` and returns unclipped ranking
  scores of shape `(len(user_indices), n_items)`; higher is better. Scores of items the user
  rated in training are not masked here: the evaluation excludes them itself.

Rankings of the models that score items by item statistics alone (`GlobalMean`, `ItemMean`,
`Popularity`) are the same for every user.
"""

from __future__ import annotations

import keras
import numpy as np
from scipy import sparse

from keras_hem.evaluation import EvaluatedModel
from keras_hem.layers import EASEScorer


def _item_stats(train):
    """Global mean, per-item mean (global mean where unrated) and per-item rating counts."""
    counts = np.bincount(train.items, minlength=train.n_items)
    sums = np.bincount(train.items, weights=train.ratings, minlength=train.n_items)
    global_mean = float(train.ratings.mean())
    item_mean = np.where(counts > 0, sums / np.maximum(counts, 1), global_mean)
    return global_mean, item_mean, counts


class _Baseline(EvaluatedModel):
    """Shared id mapping, clipping and fitted-state checks."""

    def __init__(self):
        self.train = None

    def fit(self, train):
        self.train = train
        self.global_mean_, self.item_mean_, self.item_counts_ = _item_stats(train)
        self._fit(train)
        return self

    def _fit(self, train):
        """Model-specific fitting; the item statistics are already set."""

    def get_config(self):
        return {}

    def _check_fitted(self):
        if self.train is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit() first.")

    def predict(self, users, items):
        self._check_fitted()
        u = self.train.user_index(np.asarray(users))
        i = self.train.item_index(np.asarray(items))
        if u.shape != i.shape:
            raise ValueError(f"users and items differ in length: {len(u)} != {len(i)}.")
        return np.clip(self._predict(u, i), *self.train.scale)

    def _predict(self, u, i):
        """Unclipped predictions for user and item indices (-1 marks an unknown id)."""
        return np.where(i >= 0, self.item_mean_[np.maximum(i, 0)], self.global_mean_)

    def score_users(self, user_indices):
        self._check_fitted()
        user_indices = np.asarray(user_indices, dtype=np.int64)
        if user_indices.ndim != 1 or np.any(
            (user_indices < 0) | (user_indices >= self.train.n_users)
        ):
            raise IndexError(f"user indices must be a 1-D array in [0, {self.train.n_users}).")
        return self._score_users(user_indices)

    def _score_users(self, user_indices):
        raise NotImplementedError


class GlobalMean(_Baseline):
    """Predicts the global mean training rating for every pair.

    Its ranking scores are all equal, so the evaluation's tie rule ranks items by index: a
    ranking with no information, the floor the other models should clear.
    """

    def _predict(self, u, i):
        return np.full(len(u), self.global_mean_)

    def _score_users(self, user_indices):
        return np.zeros((len(user_indices), self.train.n_items))


class ItemMean(_Baseline):
    """Predicts each item's mean training rating, the global mean for items without one.

    Ranks items by the same mean, unshrunk: an item with a single 5-star rating comes first.
    """

    def _score_users(self, user_indices):
        return np.broadcast_to(self.item_mean_, (len(user_indices), self.train.n_items))


class Popularity(_Baseline):
    """Ranks items by their number of training ratings; predicts ratings as `ItemMean` does."""

    def _score_users(self, user_indices):
        scores = self.item_counts_.astype(np.float64)
        return np.broadcast_to(scores, (len(user_indices), self.train.n_items))


class BiasedMF(_Baseline):
    """Biased matrix factorisation `r_ui = mu + b_u + b_i + p_u . q_i`, fitted by ALS.

    Alternating least squares: with the item side fixed, each user's `[p_u, b_u]` is the exact
    ridge solution of its ratings' residuals `r_ui - mu - b_i` on features `[q_i, 1]`, and
    symmetrically for items. All users (items) are solved at once: their Gram matrices come
    from one sparse-dense product of the rating indicator with the items' (users') outer
    products, then one batched `np.linalg.solve`. The L2 penalty is weighted by the number of
    ratings (`reg * n_u`, Zhou et al. 2008), applied to the bias too. `reg=0.12` (rank 50, 15
    sweeps) had the lowest MAE of 0.05-0.4 on a 10% validation slice of the training part of
    ML-100K's seed-0 split (its test part unused); it is not tuned for ML-1M.

    Users or items without training ratings keep zero factors and biases, so an unseen item is
    predicted `mu + b_u` and an unseen user `mu + b_i`. Predictions are clipped to the scale;
    ranking scores are the unclipped predictions.

    Args:
        rank: number of latent factors.
        reg: L2 penalty per rating.
        iterations: ALS sweeps (one user solve plus one item solve each).
        seed: seed of the factors' random initialisation.
    """

    def __init__(self, rank=50, reg=0.12, iterations=15, seed=0):
        super().__init__()
        self.rank = int(rank)
        self.reg = float(reg)
        self.iterations = int(iterations)
        self.seed = int(seed)

    def get_config(self):
        return {
            "rank": self.rank,
            "reg": self.reg,
            "iterations": self.iterations,
            "seed": self.seed,
            "solver": "ALS",
        }

    def _fit(self, train):
        rng = np.random.default_rng(self.seed)
        mu = self.global_mean_
        residual = train.ratings.astype(np.float64) - mu
        # Rows: users, columns: items; data: ratings minus the global mean.
        indicator = sparse.csr_array(
            (np.ones(train.n_ratings), (train.users, train.items)),
            shape=(train.n_users, train.n_items),
        )
        centred = sparse.csr_array(
            (residual, (train.users, train.items)), shape=(train.n_users, train.n_items)
        )
        indicator_t, centred_t = indicator.T.tocsr(), centred.T.tocsr()
        self.user_factors_ = rng.normal(0.0, 0.1, (train.n_users, self.rank))
        self.item_factors_ = rng.normal(0.0, 0.1, (train.n_items, self.rank))
        self.user_bias_ = np.zeros(train.n_users)
        self.item_bias_ = np.zeros(train.n_items)
        for _ in range(self.iterations):
            self.user_factors_, self.user_bias_ = self._solve(
                indicator, centred, self.item_factors_, self.item_bias_
            )
            self.item_factors_, self.item_bias_ = self._solve(
                indicator_t, centred_t, self.user_factors_, self.user_bias_
            )

    def _solve(self, indicator, centred, other_factors, other_bias):
        """Ridge solutions `[factors, bias]` of every row of `centred` given the other side."""
        n = other_factors.shape[0]
        features = np.hstack([other_factors, np.ones((n, 1))])
        width = features.shape[1]
        outer = (features[:, :, None] * features[:, None, :]).reshape(n, width * width)
        gram = (indicator @ outer).reshape(-1, width, width)
        # Targets: residual minus the other side's bias, i.e. centred - indicator * other_bias.
        rhs = centred @ features - (indicator @ (other_bias[:, None] * features))
        counts = np.asarray(indicator.sum(axis=1)).ravel()
        penalty = self.reg * np.maximum(counts, 1.0)
        gram += penalty[:, None, None] * np.eye(width)
        solution = np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
        return solution[:, :-1], solution[:, -1]

    def _raw(self, u, i):
        """Unclipped predictions for in-range indices."""
        return (
            self.global_mean_
            + self.user_bias_[u]
            + self.item_bias_[i]
            + np.einsum("nk,nk->n", self.user_factors_[u], self.item_factors_[i])
        )

    def _predict(self, u, i):
        known_u, known_i = u >= 0, i >= 0
        # An unknown id has zero factors and bias, like a known id without training ratings.
        values = self._raw(np.maximum(u, 0), np.maximum(i, 0))
        values = np.where(known_u & known_i, values, self.global_mean_)
        only_u = known_u & ~known_i
        only_i = known_i & ~known_u
        values[only_u] = self.global_mean_ + self.user_bias_[u[only_u]]
        values[only_i] = self.global_mean_ + self.item_bias_[i[only_i]]
        return values

    def _score_users(self, user_indices):
        return (
            self.global_mean_
            + self.user_bias_[user_indices, None]
            + self.item_bias_[None, :]
            + self.user_factors_[user_indices] @ self.item_factors_.T
        )


class SurpriseSVD(BiasedMF):
    """Biased matrix factorisation by SGD from the Surprise library (`surprise.SVD`).

    The well-kept library a user would reach for, with its default settings (100 factors, 20
    epochs, learning rate 0.005, regularisation 0.02), next to our ALS `BiasedMF`. Its learnt
    biases and factors are copied into `BiasedMF`'s index space, so predictions, fallbacks and
    ranking scores follow `BiasedMF` exactly.

    Args:
        n_factors: number of latent factors.
        n_epochs: SGD epochs.
        seed: `random_state` of the factors' initialisation.
    """

    def __init__(self, n_factors=100, n_epochs=20, seed=0):
        _Baseline.__init__(self)
        self.n_factors = int(n_factors)
        self.n_epochs = int(n_epochs)
        self.seed = int(seed)

    def get_config(self):
        from importlib.metadata import version

        return {
            "library": f"scikit-surprise {version('scikit-surprise')}",
            "n_factors": self.n_factors,
            "n_epochs": self.n_epochs,
            "seed": self.seed,
            "solver": "SGD",
        }

    def _fit(self, train):
        import pandas as pd
        from surprise import SVD, Dataset, Reader

        frame = pd.DataFrame({"user": train.users, "item": train.items, "rating": train.ratings})
        data = Dataset.load_from_df(frame, Reader(rating_scale=tuple(train.scale)))
        trainset = data.build_full_trainset()
        svd = SVD(n_factors=self.n_factors, n_epochs=self.n_epochs, random_state=self.seed)
        svd.fit(trainset)
        # Surprise numbers users and items in order of appearance; map back to our indices.
        users = np.array([trainset.to_raw_uid(k) for k in range(trainset.n_users)])
        items = np.array([trainset.to_raw_iid(k) for k in range(trainset.n_items)])
        self.global_mean_ = float(trainset.global_mean)
        self.user_factors_ = np.zeros((train.n_users, self.n_factors))
        self.item_factors_ = np.zeros((train.n_items, self.n_factors))
        self.user_bias_ = np.zeros(train.n_users)
        self.item_bias_ = np.zeros(train.n_items)
        self.user_factors_[users], self.user_bias_[users] = svd.pu, svd.bu
        self.item_factors_[items], self.item_bias_[items] = svd.qi, svd.bi


class EASE(_Baseline):
    """EASE (Steck 2019), a linear item-item ranking model on the binary rating matrix.

    With `X` the binary users x items matrix of training ratings and
    `P = (X^T X + lambda I)^-1`, the item weights are `B = I - P / diag(P)` (each column `j`
    divided by `P_jj`), which is the closed-form ridge regression of every item on all others
    with a zero diagonal. Ranking scores are `X B`.

    EASE models which items a user rates, not the ratings' values, so it has no rating
    prediction of its own: `predict` returns the item mean (like `ItemMean`) and its MAE and
    RMSE are `ItemMean`'s.

    Args:
        reg: the L2 penalty `lambda` (Steck uses a few hundred on MovieLens-sized data).
    """

    def __init__(self, reg=500.0):
        super().__init__()
        self.reg = float(reg)

    def get_config(self):
        return {"reg": self.reg}

    def _fit(self, train):
        self._binary = sparse.csr_array(
            (np.ones(train.n_ratings), (train.users, train.items)),
            shape=(train.n_users, train.n_items),
        )
        self._scorer = EASEScorer(l2=self.reg)
        self._scorer.adapt(self._binary)

    def _score_users(self, user_indices):
        rows = self._binary[np.atleast_1d(user_indices)].toarray()
        return keras.ops.convert_to_numpy(self._scorer(rows))


BASELINES = {
    "global_mean": GlobalMean,
    "item_mean": ItemMean,
    "popularity": Popularity,
    "biased_mf": BiasedMF,
    "surprise_svd": SurpriseSVD,
    "ease": EASE,
}
