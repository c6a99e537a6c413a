"""Checks of the NumPy baselines in benchmarks/baselines.py on small synthetic data."""

import baselines
import numpy as np
import pytest
from backend import backend_independent

from keras_hem.data import RatingMatrix
from keras_hem.evaluation import evaluate

pytestmark = backend_independent


def _tiny():
    # Users 10, 20, 30 and items "a".."d"; item "d" is rated only by user 30.
    return RatingMatrix.from_arrays(
        [10, 10, 10, 20, 20, 30, 30],
        ["a", "b", "c", "a", "c", "b", "d"],
        [5, 3, 4, 4, 2, 1, 5],
        scale=(1, 5),
    )


def _low_rank(rng, n_users=60, n_items=40, density=0.5):
    users, items = np.nonzero(rng.random((n_users, n_items)) < density)
    user_factors = rng.normal(size=(n_users, 3))
    item_factors = rng.normal(size=(n_items, 3))
    raw = 3 + np.sum(user_factors[users] * item_factors[items], axis=1)
    return RatingMatrix.from_arrays(users, items, np.clip(np.round(raw), 1, 5), scale=(1, 5))


def test_ease_matches_the_closed_form():
    data = _tiny()
    model = baselines.EASE(reg=2.0).fit(data)
    x = (data.csr.toarray() > 0).astype(np.float64)
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(data.n_items))
    b = np.eye(data.n_items) - p / np.diag(p)
    np.testing.assert_allclose(model.score_users(np.array([2, 0])), x[[2, 0]] @ b, atol=1e-5)
    # A ranking model: its rating predictions are the item means.
    np.testing.assert_allclose(model.predict([20], ["b"]), [2.0])


def test_item_mean_falls_back_to_the_global_mean():
    data = _tiny()
    train, _ = data.random_split(0.3, seed=0)
    model = baselines.ItemMean().fit(train)
    seen = np.bincount(train.items, minlength=train.n_items) > 0
    assert not seen.all()  # the split leaves an item without training ratings
    item_ids = train.item_ids
    predictions = model.predict([10] * (len(item_ids) + 1), [*item_ids, "unknown"])
    global_mean = train.ratings.mean()
    for j, item in enumerate(item_ids):
        ratings = train.ratings[train.items == j]
        expected = ratings.mean() if len(ratings) else global_mean
        assert predictions[j] == pytest.approx(expected), item
    assert predictions[-1] == pytest.approx(global_mean)
    scores = model.score_users(np.array([0, 1]))
    np.testing.assert_allclose(scores[0], scores[1])
    np.testing.assert_allclose(scores[0], predictions[:-1], rtol=1e-6)


def test_popularity_ranks_by_count_and_predicts_item_means():
    data = _tiny()
    model = baselines.Popularity().fit(data)
    np.testing.assert_array_equal(model.score_users(np.array([1]))[0], [2, 2, 2, 1])
    np.testing.assert_allclose(model.predict([30, 30], ["a", "d"]), [4.5, 5.0])


def test_global_mean_predicts_one_value():
    data = _tiny()
    model = baselines.GlobalMean().fit(data)
    np.testing.assert_allclose(model.predict([10, 99], ["a", "zz"]), data.ratings.mean())
    assert model.score_users(np.arange(3)).shape == (3, 4)


def test_biased_mf_beats_the_global_mean_on_training_data(rng):
    data = _low_rank(rng)
    users, items = data.user_ids[data.users], data.item_ids[data.items]

    def rmse(model):
        return float(np.sqrt(np.mean((model.predict(users, items) - data.ratings) ** 2)))

    mf = baselines.BiasedMF(rank=5, reg=0.05, iterations=10).fit(data)
    baseline = rmse(baselines.GlobalMean().fit(data))
    assert rmse(mf) < 0.5 * baseline
    # Ranking scores are the unclipped predictions.
    scores = mf.score_users(data.users)
    raw = scores[np.arange(data.n_ratings), data.items]
    np.testing.assert_allclose(np.clip(raw, 1, 5), mf.predict(users, items), rtol=1e-10)


def test_biased_mf_falls_back_on_biases_for_unknown_ids(rng):
    data = _low_rank(rng, n_users=20, n_items=15)
    mf = baselines.BiasedMF(rank=2, iterations=3).fit(data)
    values = mf.predict([0, 999, 999], [999, 0, 998])
    mu = mf.global_mean_
    np.testing.assert_allclose(
        values, np.clip([mu + mf.user_bias_[0], mu + mf.item_bias_[0], mu], 1, 5)
    )


def test_surprise_svd_predicts_as_the_library_does(rng):
    # Ids deliberately out of order, so that Surprise's inner ids differ from our indices.
    data = _low_rank(rng, n_users=25, n_items=18)
    train, _ = data.random_split(0.2, seed=0)
    model = baselines.SurpriseSVD(n_factors=4, n_epochs=5, seed=3).fit(train)
    import pandas as pd
    from surprise import SVD, Dataset, Reader

    frame = pd.DataFrame({"u": train.users, "i": train.items, "r": train.ratings})
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(1, 5))).build_full_trainset()
    svd = SVD(n_factors=4, n_epochs=5, random_state=3).fit(trainset)
    users, items = np.meshgrid(np.arange(train.n_users), np.arange(train.n_items))
    users, items = users.ravel(), items.ravel()
    expected = [svd.predict(int(u), int(i)).est for u, i in zip(users, items, strict=True)]
    got = model.predict(train.user_ids[users], train.item_ids[items])
    np.testing.assert_allclose(got, expected, atol=1e-9)


@pytest.mark.parametrize("name", sorted(baselines.BASELINES))
def test_every_baseline_runs_through_evaluate(name, rng):
    data = _low_rank(rng)
    train, test = data.random_split(0.2, seed=0)
    model = baselines.BASELINES[name]().fit(train)
    row = evaluate(model, train, test, ks=(3, 5), thresholds=(None, 4))
    assert np.isfinite(row[["MAE", "RMSE", "P@3", "NDCG@5", "P@5_t4"]].to_numpy()).all()
    other, _ = data.random_split(0.2, seed=1)
    with pytest.raises(ValueError, match="fitted on other ratings"):
        evaluate(baselines.BASELINES[name]().fit(other), train, test)


def test_unfitted_model_raises():
    with pytest.raises(RuntimeError, match="not fitted"):
        baselines.ItemMean().predict([1], [1])
