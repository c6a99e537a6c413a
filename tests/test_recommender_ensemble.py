"""Recommender(ensemble=n): n models with their own seeds, served as their mean."""

import json

import numpy as np
import pandas as pd
import pytest
from backend import backend_independent

from keras_hem.recommender import Recommender

# The ensemble is NumPy-side (members fitted in turn, outputs averaged by AveragedModels); each
# member's fit is the one test_recommender runs on every backend.
pytestmark = backend_independent


def ratings_frame(n_users=30, n_items=40, density=0.3, seed=0):
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, n_items)) < density)
    taste = rng.integers(1, 6, n_users)[users] + rng.integers(-1, 2, len(users))
    return pd.DataFrame(
        {"user": [f"u{u}" for u in users], "item": items, "rating": np.clip(taste, 1, 5)}
    )


def settings(**overrides):
    return {"hidden": 6, "epochs": 3, "batch_size": 16, "patience": 2, **overrides}


@pytest.fixture(scope="module")
def frame():
    return ratings_frame()


@pytest.fixture(scope="module")
def pair(frame):
    """Two seeds of one ensemble, and the two single recommenders with those seeds.

    The data are dense enough for the default ranking head, so every score can be compared.
    """
    ensemble = Recommender(**settings(ensemble=2)).fit(frame, verbose=0)
    singles = [
        Recommender(**settings(seed=seed)).fit(frame, verbose=0) for seed in ensemble.member_seeds
    ]
    return ensemble, singles


def test_members_are_fitted_with_their_own_seeds(pair):
    ensemble, singles = pair
    assert ensemble.member_seeds == [0, 1000]
    assert repr(ensemble) == "Recommender(hidden=6, epochs=3, ensemble=2, fitted)"
    assert [m.seed for m in ensemble.models] == [0, 1000]
    assert ensemble.model is ensemble.models[0]
    assert len(ensemble.histories) == 2 and ensemble.history is ensemble.histories[0]
    # Each member is exactly the single fit with its seed (its own validation slice included).
    for member, single in zip(ensemble.models, singles, strict=True):
        for a, b in zip(member.get_weights(), single.model.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert ensemble.histories[1]["val_mae"] == pytest.approx(singles[1].history["val_mae"])


@pytest.mark.parametrize("ranking", ["ratings", "head"])
def test_scores_are_the_members_mean(pair, ranking):
    ensemble, singles = pair
    users = np.arange(ensemble.train.n_users)
    mean = np.mean([s.with_ranking(ranking).score_users(users) for s in singles], axis=0)
    scores = ensemble.with_ranking(ranking).score_users(users)
    np.testing.assert_allclose(scores, mean, rtol=1e-5, atol=1e-5)


def test_predictions_are_the_clipped_mean_reconstruction(pair, frame):
    ensemble, singles = pair
    assert all(m.observation_decoder is not None for m in ensemble.models)  # a head in each
    low, high = ensemble.train.scale
    raw = np.mean([s._ratings.predict_pairs(s.train.users, s.train.items) for s in singles], 0)
    predicted = ensemble.predict(frame["user"], frame["item"])
    np.testing.assert_allclose(predicted, np.clip(raw, low, high), rtol=1e-5, atol=1e-5)
    # Unknown ids take the same fallback as one model's.
    unknown = ensemble.predict(["nobody"], [0])[0]
    assert unknown == pytest.approx(singles[0].predict(["nobody"], [0])[0])


def test_the_default_score_blends_the_mean_head_and_views_share_the_members(pair):
    ensemble, _ = pair
    view = ensemble.with_ranking("ratings")
    assert view.models == ensemble.models and view.histories == ensemble.histories
    assert ensemble.scorer.head_weight == 0.5
    assert ensemble.recommend("u1", k=3)["basis"].tolist() == ["ease"] * 3


def test_an_ensemble_saves_and_loads_identically(pair, frame, tmp_path):
    ensemble, _ = pair
    ensemble.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model-1.keras",
        "model.keras",
        "ratings.npz",
        "recommender.json",
    ]
    loaded = Recommender.load(tmp_path)
    assert loaded.get_config() == ensemble.get_config()
    assert loaded.histories == ensemble.histories and len(loaded.models) == 2
    users, items = frame["user"][:50], frame["item"][:50]
    np.testing.assert_array_equal(loaded.predict(users, items), ensemble.predict(users, items))
    pd.testing.assert_frame_equal(
        loaded.recommend(["u0", "u3"], k=4), ensemble.recommend(["u0", "u3"], k=4)
    )

    (tmp_path / "model-1.keras").unlink()
    with pytest.raises(FileNotFoundError, match="missing model-1.keras"):
        Recommender.load(tmp_path)


def test_saving_one_model_over_an_ensemble_removes_the_other_members(pair, tmp_path):
    ensemble, singles = pair
    ensemble.save(tmp_path)
    (tmp_path / "model-7.keras").write_bytes(b"an older, larger ensemble's member")
    (tmp_path / "notes.txt").write_text("mine")
    singles[0].save(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["model.keras", "notes.txt", "ratings.npz", "recommender.json"]
    state = json.loads((tmp_path / "recommender.json").read_text())
    assert state["members"] == 1 and state["config"]["ensemble"] == 1
    assert len(Recommender.load(tmp_path).models) == 1


def test_a_recommender_saved_before_ensembles_existed_loads_as_one_model(pair, tmp_path):
    _, singles = pair
    singles[0].save(tmp_path)
    path = tmp_path / "recommender.json"
    state = json.loads(path.read_text())
    for key in ("members", "histories"):
        del state[key]
    del state["config"]["ensemble"]
    path.write_text(json.dumps(state))
    loaded = Recommender.load(tmp_path)
    assert loaded.ensemble == 1 and loaded.histories == [singles[0].history]
