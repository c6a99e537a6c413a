import json
import re
from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd
import pytest
from backend import backend_independent

from keras_hem import recommender as recommender_module
from keras_hem.data import RatingMatrix
from keras_hem.layers import GlobalKernelConv
from keras_hem.models import HEMAAE
from keras_hem.ranking import EASEBlendScorer
from keras_hem.recommender import GLOBAL_KERNEL_SIZE, LR_PATIENCE, PRIOR_RATINGS, Recommender

# A tiny training set with string ids. "dan" and "e" are in the id maps without any training
# rating (as after a split), so they count as unseen.
USER_IDS = ["ann", "bob", "cid", "dan"]
ITEM_IDS = ["a", "b", "c", "d", "e"]
TRIPLES = [
    ("ann", "a", 5),
    ("ann", "b", 3),
    ("bob", "a", 4),
    ("bob", "c", 2),
    ("bob", "d", 1),
    ("cid", "b", 4),
    ("cid", "c", 5),
]
USER_MEAN = {"ann": 4.0, "bob": 7 / 3, "cid": 4.5}
ITEM_MEAN = {"a": 4.5, "b": 3.5, "c": 3.5, "d": 1.0}
GLOBAL_MEAN = 24 / 7


def training_matrix():
    users = [USER_IDS.index(u) for u, _, _ in TRIPLES]
    items = [ITEM_IDS.index(i) for _, i, _ in TRIPLES]
    ratings = [r for _, _, r in TRIPLES]
    return RatingMatrix(users, items, ratings, USER_IDS, ITEM_IDS, scale=(1, 5), step=1)


def reconstruction(n_items, n_users):
    """The fake model's output: distinct values from -3 to 9, partly outside the 1-5 scale."""
    return np.linspace(-3.0, 9.0, n_items * n_users, dtype=np.float32).reshape(n_items, n_users)


class FakeModel:
    """Stands in for HEMAAE where the test needs to control the predictions.

    Its "code" of an item row is the row's index, and decoding looks the reconstruction up,
    so scores equal `reconstruction()` exactly.
    """

    orientation = "item"

    def __init__(self, hidden, seed, **kwargs):
        self.init = {"hidden": hidden, "seed": seed, **kwargs}

    def compile(self, **kwargs):
        self.compile_kwargs = kwargs

    def fit(self, x, **kwargs):
        self.fit_x, self.fit_kwargs = x, kwargs
        return SimpleNamespace(history={"loss": [2.0, 1.0], "mae": [1.5, 1.0]})

    def encode(self, rows, batch_size=None):
        self.table = reconstruction(*rows.shape)
        return np.arange(rows.shape[0], dtype=np.float32)[:, None]

    def decode(self, codes, columns=None):
        rows = self.table[codes[:, 0].astype(int)]
        return rows if columns is None else rows[:, columns]

    def decode_pairs(self, codes, columns):
        return self.table[codes[:, 0].astype(int), columns]


@pytest.fixture
def fake_model(monkeypatch):
    built = []

    def build(hidden, seed, model_kwargs):
        built.append(FakeModel(hidden, seed, **model_kwargs))
        return built[-1]

    monkeypatch.setattr(recommender_module, "_build_model", build)
    return built


@pytest.fixture
def fitted(fake_model):
    return Recommender(hidden=3, validation_fraction=0, ranking="ratings").fit(
        training_matrix(), verbose=0
    )


def model_score(user, item):
    """The fake reconstruction at (user id, item id), transposed to users x items."""
    table = reconstruction(len(ITEM_IDS), len(USER_IDS))
    return table[ITEM_IDS.index(item), USER_IDS.index(user)]


# ---------------------------------------------------------------------------------------------
# Arguments and fitting


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"hidden": 0}, "hidden=0"),
        ({"epochs": 2.5}, "epochs=2.5"),
        ({"batch_size": True}, "batch_size=True"),
        ({"seed": -1}, "seed=-1"),
        ({"validation_fraction": 1.5}, "validation_fraction=1.5"),
        ({"patience": 0}, "patience=0"),
        ({"model_kwargs": ["l2"]}, "model_kwargs=['l2']"),
        ({"model_kwargs": {"seed": 1}}, "model_kwargs={'seed': 1}"),
        ({"ranking": "mean"}, "ranking='mean'"),
        ({"head_weight": -1.0}, "head_weight=-1.0"),
        ({"head_weight": "big"}, "head_weight='big'"),
        ({"head_weight": float("nan")}, "head_weight=nan"),
        ({"head_weight": 0.5, "model_kwargs": {"ranking_weight": 0}}, "head_weight=0.5"),
        ({"ranking": "head", "model_kwargs": {"ranking_weight": 0}}, "'ranking_weight': 0"),
        ({"ease_l2": 0}, "ease_l2=0"),
        ({"ease_l2": "big"}, "ease_l2='big'"),
        ({"rating_weight": -0.1}, "rating_weight=-0.1"),
        ({"rating_weight": float("nan")}, "rating_weight=nan"),
        ({"ease_max_items": 0}, "ease_max_items=0"),
        ({"ease_max_items": 2.5}, "ease_max_items=2.5"),
        ({"learning_rate": 0}, "learning_rate=0"),
        ({"learning_rate": "fast"}, "learning_rate='fast'"),
        ({"lr_patience": 0}, "lr_patience=0"),
        ({"lr_patience": 3, "validation_fraction": 0}, "validation_fraction=0"),
        ({"lr_patience": "fast"}, "lr_patience='fast'"),
        ({"lr_factor": 1.0}, "lr_factor=1.0"),
        ({"ensemble": 0}, "ensemble=0"),
        ({"ensemble": 1.5}, "ensemble=1.5"),
        ({"global_kernel_epochs": -1}, "global_kernel_epochs=-1"),
        (
            {"model_kwargs": {"global_kernel_size": 3}},
            "global_kernel_size=3 and global_kernel_epochs=0 disagree",
        ),
        (
            {"model_kwargs": {"global_kernel_size": 0}, "global_kernel_epochs": 5},
            "global_kernel_size=0 and global_kernel_epochs=5 disagree",
        ),
    ],
)
def test_bad_arguments_are_quoted(kwargs, quoted):
    with pytest.raises(ValueError, match=re.escape(quoted)):
        Recommender(**kwargs)


def test_config_round_trip():
    rec = Recommender(
        hidden=7,
        epochs=3,
        batch_size=5,
        seed=2,
        model_kwargs={"l2": 0.1},
        ease_max_items=9,
        ensemble=3,
    )
    assert rec.member_seeds == [2, 1002, 2002]
    assert rec.get_config()["ease_max_items"] == 9
    assert Recommender.from_config(rec.get_config()).get_config() == rec.get_config()


def test_learning_rate_sets_the_autoencoders_adam_only():
    rec = Recommender(
        hidden=4, epochs=1, validation_fraction=0, ranking="ratings", learning_rate=3e-4
    )
    rec.fit(synthetic_ratings(), verbose=0)
    optimizers = rec.model.optimizer.members
    assert float(optimizers["autoencoder"].learning_rate) == pytest.approx(3e-4)
    assert float(optimizers["discriminator"].learning_rate) == pytest.approx(1e-3)
    assert Recommender.from_config(rec.get_config()).learning_rate == 3e-4


def test_lr_patience_halves_the_autoencoders_rate_when_the_validation_mae_stalls():
    # An ever larger rate cannot be reached by reductions alone: each logged rate must be
    # the one before or lr_factor x it, and after epochs of no progress it must have dropped.
    rec = Recommender(
        hidden=4,
        epochs=15,
        patience=15,
        ranking="ratings",
        learning_rate=0.5,
        lr_patience=1,
        lr_factor=0.5,
    )
    rec.fit(synthetic_ratings(), verbose=0)
    rates = np.array(rec.history["learning_rate"])  # each epoch's, before its reduction
    assert len(rates) == len(rec.history["val_mae"]) == 15
    steps = rates[1:] / rates[:-1]
    assert np.all(np.isclose(steps, 1.0) | np.isclose(steps, 0.5)), rates
    assert rates[0] == pytest.approx(0.5) and rates[-1] < 0.1  # at this rate the MAE stalls
    members = rec.model.optimizer.members
    final = float(members["autoencoder"].learning_rate)
    assert np.isclose(final, rates[-1]) or np.isclose(final, rates[-1] * 0.5)
    assert float(members["discriminator"].learning_rate) == pytest.approx(1e-3)
    config = Recommender.from_config(rec.get_config()).get_config()
    assert (config["lr_patience"], config["lr_factor"]) == (1, 0.5)


@pytest.mark.parametrize(
    ("validation_fraction", "lr_patience"), [(0.1, LR_PATIENCE), (0.3, LR_PATIENCE), (0, None)]
)
def test_default_lr_patience_schedules_only_with_a_validation_slice(
    validation_fraction, lr_patience
):
    rec = Recommender(validation_fraction=validation_fraction)
    assert rec.lr_patience == lr_patience
    assert Recommender.from_config(rec.get_config()).lr_patience == lr_patience


def test_defaults_are_the_validation_chosen_recipe():
    # The recipe the docs' tables measure: denoising, a falling rate, at most 150 epochs.
    rec = Recommender()
    assert (rec.epochs, rec.lr_patience, rec.lr_factor) == (150, 5, 0.5)
    assert HEMAAE(hidden=4).input_dropout == 0.5
    paper = Recommender.from_preset("paper")
    assert (paper.epochs, paper.lr_patience, paper.model_kwargs["input_dropout"]) == (100, None, 0)


def test_methods_need_a_fitted_recommender():
    with pytest.raises(RuntimeError, match="not fitted"):
        Recommender().predict(["ann"], ["a"])


def test_fit_rejects_other_inputs(fake_model):
    with pytest.raises(TypeError, match="DataFrame or a RatingMatrix"):
        Recommender().fit([("ann", "a", 5)])


def test_validation_slice_comes_from_the_training_ratings(fake_model):
    train = training_matrix()
    rec = Recommender(hidden=3, epochs=4, batch_size=2, seed=5, validation_fraction=0.3)
    rec.fit(train, verbose=0)
    model = fake_model[0]
    inputs, targets = model.fit_kwargs["validation_data"]
    fit_rows = model.fit_x.toarray()
    # These data are dense, so the model gets the multinomial ranking head.
    assert model.init == {"hidden": 3, "seed": 5, **recommender_module.HEAD_KWARGS}
    assert (model.fit_kwargs["epochs"], model.fit_kwargs["batch_size"]) == (4, 2)
    np.testing.assert_array_equal(inputs.toarray(), fit_rows)
    # The held-out targets and the fitted rows partition the training ratings.
    assert not np.any((fit_rows > 0) & (targets.toarray() > 0))
    np.testing.assert_array_equal(fit_rows + targets.toarray(), train.to_item_user_csr().toarray())
    stopping = model.fit_kwargs["callbacks"][0]
    assert (stopping.monitor, stopping.restore_best_weights) == ("val_mae", True)
    assert rec.train is train and rec.history["loss"] == [2.0, 1.0]


def test_without_validation_fit_uses_every_rating(fake_model):
    train = training_matrix()
    Recommender(validation_fraction=0).fit(train, verbose=0)
    model = fake_model[0]
    assert model.fit_kwargs["validation_data"] is None and model.fit_kwargs["callbacks"] == []
    assert model.fit_x.nnz == train.n_ratings


def test_fit_reads_the_named_dataframe_columns(fake_model):
    frame = pd.DataFrame(TRIPLES, columns=["who", "what", "stars"])
    rec = Recommender(validation_fraction=0)
    rec.fit(frame, user_col="who", item_col="what", rating_col="stars", verbose=0)
    assert rec.train.user_ids.tolist() == ["ann", "bob", "cid"]
    assert rec.train.n_ratings == len(TRIPLES)


# ---------------------------------------------------------------------------------------------
# Predictions and fallbacks


def test_seen_pairs_get_the_clipped_reconstruction(fitted):
    users, items = zip(*[(u, i) for u, i, _ in TRIPLES], strict=True)
    raw = np.array([model_score(u, i) for u, i in zip(users, items, strict=True)])
    assert raw.min() < 1 and raw.max() > 5  # the fake model goes beyond the scale
    np.testing.assert_allclose(fitted.predict(users, items), np.clip(raw, 1, 5))


@pytest.mark.parametrize(
    ("user", "item", "expected"),
    [
        ("dan", "a", ITEM_MEAN["a"]),  # user without training ratings: item mean
        ("zoe", "d", ITEM_MEAN["d"]),  # user not in the id maps: item mean
        ("bob", "e", USER_MEAN["bob"]),  # item without training ratings: user mean
        ("cid", "zz", USER_MEAN["cid"]),  # item not in the id maps: user mean
        ("dan", "e", GLOBAL_MEAN),  # neither: global mean
        ("zoe", "zz", GLOBAL_MEAN),
    ],
)
def test_fallback_order(fitted, user, item, expected):
    np.testing.assert_allclose(fitted.predict([user], [item]), [expected], rtol=1e-6)


def test_fallback_and_model_mix_in_one_call(fitted):
    got = fitted.predict(["ann", "zoe", "bob"], ["c", "b", "zz"])
    expected = [np.clip(model_score("ann", "c"), 1, 5), ITEM_MEAN["b"], USER_MEAN["bob"]]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_strict_names_the_unknown_ids(fitted):
    with pytest.raises(ValueError, match=r"2 unknown user id\(s\).*'dan', 'zoe'.*1 unknown item"):
        fitted.predict(["dan", "zoe", "ann"], ["a", "b", "e"], strict=True)
    np.testing.assert_allclose(
        fitted.predict(["ann"], ["c"], strict=True), [np.clip(model_score("ann", "c"), 1, 5)]
    )


def test_predict_checks_lengths(fitted):
    with pytest.raises(ValueError, match="same length"):
        fitted.predict(["ann", "bob"], ["a"])


def test_known_users_and_items(fitted):
    assert fitted.known_users(["ann", "dan", "zoe"]).tolist() == [True, False, False]
    assert fitted.known_items("e").tolist() == [False]


def test_score_users_is_the_unclipped_reconstruction_with_fallbacks(fitted):
    scores = fitted.score_users(np.arange(4))
    assert scores.shape == (4, 5)
    assert scores[0, 2] == model_score("ann", "c")
    assert scores[1, 4] == pytest.approx(USER_MEAN["bob"])  # item "e" has no rating
    popular = (np.array([9, 7, 7, 1, 0]) + PRIOR_RATINGS * GLOBAL_MEAN) / (
        np.array([2, 2, 2, 1, 0]) + PRIOR_RATINGS
    )
    np.testing.assert_allclose(scores[3], popular, rtol=1e-6)  # user "dan" has no rating
    with pytest.raises(IndexError):
        fitted.score_users([4])


# ---------------------------------------------------------------------------------------------
# Recommendations


def test_recommend_excludes_seen_items_and_returns_original_ids(fitted):
    table = fitted.recommend(["ann", "bob"], k=2)
    assert list(table.columns) == ["user", "rank", "item", "score", "basis"]
    assert table["user"].tolist() == ["ann", "ann", "bob", "bob"]
    assert table["rank"].tolist() == [1, 2, 1, 2]
    seen = {(u, i) for u, i, _ in TRIPLES}
    assert not any((u, i) in seen for u, i in zip(table["user"], table["item"], strict=True))
    # ann's candidates are c, d and e (no rating: scored with ann's mean, 4.0).
    candidates = {"c": model_score("ann", "c"), "d": model_score("ann", "d"), "e": 4.0}
    best = sorted(candidates, key=candidates.get, reverse=True)[:2]
    assert table["item"][:2].tolist() == best
    np.testing.assert_allclose(table["score"][:2], [candidates[i] for i in best], rtol=1e-6)


def test_recommend_can_include_seen_items(fitted):
    table = fitted.recommend("ann", k=5, exclude_seen=False)
    assert sorted(table["item"]) == ITEM_IDS
    assert table["score"].is_monotonic_decreasing


def ease_reference(train, l2):
    """EASE scores of the training interactions, in float64 from the closed form."""
    x = (train.csr.toarray() != 0).astype(np.float64)
    p = np.linalg.inv(x.T @ x + l2 * np.eye(train.n_items))
    return x @ (np.eye(train.n_items) - p / np.diag(p))


@pytest.mark.parametrize("rating_weight", [0.0, 0.03, 1.0])
def test_ease_ranking_adds_weighted_rating_deviations(fake_model, rating_weight):
    rec = Recommender(validation_fraction=0, ease_l2=2.0, rating_weight=rating_weight)
    rec.fit(training_matrix(), verbose=0)
    ratings_only = Recommender(validation_fraction=0, ranking="ratings")
    ratings_only.fit(training_matrix(), verbose=0)
    users = np.arange(3)  # ann, bob, cid have training ratings; dan has none
    expected = ease_reference(rec.train, 2.0)[users] + rating_weight * (
        ratings_only.score_users(users) - GLOBAL_MEAN
    )
    np.testing.assert_allclose(rec.score_users(users), expected, rtol=1e-4, atol=1e-5)
    # Predictions and unseen users do not depend on the ranking score.
    np.testing.assert_array_equal(rec.predict(["ann"], ["c"]), ratings_only.predict(["ann"], ["c"]))
    np.testing.assert_array_equal(rec.score_users([3]), ratings_only.score_users([3]))


def test_load_of_a_recommender_saved_before_ranking_existed(tmp_path):
    rec = Recommender(hidden=4, epochs=1, validation_fraction=0, ranking="ratings")
    rec.fit(synthetic_ratings(), verbose=0)
    rec.save(tmp_path)
    state = json.loads((tmp_path / "recommender.json").read_text())
    for key in ("ranking", "ease_l2", "rating_weight", "ease_max_items"):
        del state["config"][key]  # a 0.1.0 save
    (tmp_path / "recommender.json").write_text(json.dumps(state))
    loaded = Recommender.load(tmp_path)
    assert loaded.ranking == "ratings"
    np.testing.assert_array_equal(loaded.score_users([0, 1]), rec.score_users([0, 1]))


def test_load_of_a_recommender_saved_before_head_weight_existed(tmp_path):
    kwargs = {"hidden": 4, "epochs": 1, "validation_fraction": 0}
    rec = Recommender(**kwargs, model_kwargs={"ranking_weight": 0.5}, head_weight=0)
    rec.fit(synthetic_ratings(), verbose=0)
    rec.save(tmp_path)
    state = json.loads((tmp_path / "recommender.json").read_text())
    del state["config"]["head_weight"]  # saved before the head joined the EASE score
    (tmp_path / "recommender.json").write_text(json.dumps(state))
    loaded = Recommender.load(tmp_path)
    assert loaded.scorer.head_weight == 0.0  # it ranks as it did when saved
    np.testing.assert_array_equal(loaded.score_users([0, 1]), rec.score_users([0, 1]))


def test_recommend_shows_popular_items_to_unknown_users(fitted):
    table = fitted.recommend(["zoe", "dan"], k=5)
    # Shrunk means: a 3.61, b = c 3.44 (tie: lower index first), e 3.43 (global mean), d 3.21.
    assert table["item"].tolist() == ["a", "b", "c", "e", "d"] * 2
    assert table["user"].tolist() == ["zoe"] * 5 + ["dan"] * 5


def test_recommend_returns_fewer_rows_when_candidates_run_out(fitted):
    table = fitted.recommend(["bob"], k=10)
    assert table["item"].tolist() == sorted(
        ["b", "e"], key=lambda i: -fitted.score_users([1])[0, ITEM_IDS.index(i)]
    )
    with pytest.raises(ValueError, match="k=0"):
        fitted.recommend(["bob"], k=0)


def test_recommend_keeps_integer_ids(fake_model):
    frame = pd.DataFrame({"user": [10, 10, 20], "item": [7, 8, 7], "rating": [5, 4, 3]})
    rec = Recommender(validation_fraction=0).fit(frame, verbose=0)
    table = rec.recommend(20, k=1)
    assert table["item"].tolist() == [8] and table["user"].tolist() == [20]


# ---------------------------------------------------------------------------------------------
# Persistence, with the real model


def synthetic_ratings(n_users=30, n_items=40, density=0.3, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    users, items = np.nonzero(mask)
    taste = rng.integers(1, 6, n_users)[users] + rng.integers(-1, 2, len(users))
    return pd.DataFrame(
        {
            "user": [f"u{u}" for u in users],
            "item": [f"i{i}" for i in items],
            "rating": np.clip(taste, 1, 5),
        }
    )


class SpoilSecondStage(keras.callbacks.Callback):
    """From epoch `start` on, a learning rate so large that the validation MAE gets worse."""

    def __init__(self, start):
        super().__init__()
        self.start = start

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= self.start:
            self.model.optimizer.members["autoencoder"].learning_rate.assign(50.0)


# Recommender's stage plumbing; the model's stage itself is tested on every backend
# (test_hem_aae).
@backend_independent
@pytest.mark.parametrize("spoiled", [False, True])
def test_global_kernel_epochs_add_a_stage_under_the_same_early_stopping(spoiled):
    rec = Recommender(
        hidden=8,
        epochs=4,
        batch_size=16,
        validation_fraction=0.2,
        patience=20,
        ranking="ratings",
        learning_rate=0.01,
        global_kernel_epochs=3,
    )
    callbacks = [SpoilSecondStage(start=4)] if spoiled else None
    rec.fit(synthetic_ratings(), callbacks=callbacks, verbose=0)
    val_mae = rec.history["val_mae"]
    assert len(val_mae) == 7  # 4 epochs, then 3 with the global kernel
    conv = rec.model.encoder.layers[0]
    assert isinstance(conv, GlobalKernelConv) and conv.kernel_size == GLOBAL_KERNEL_SIZE
    # The weights kept are the best epoch's over both stages: the second stage's only if it
    # beat the first; otherwise the statistics are back at 0 (the kernel is the identity).
    _, (rows, held_out), _, _ = rec._validation_split(rec.train, rec.seed)
    logs = rec.model.evaluate(rows, held_out, verbose=0, return_dict=True)
    assert logs["mae"] == pytest.approx(min(val_mae), rel=1e-5)
    second_stage_won = int(np.argmin(val_mae)) >= 4
    assert second_stage_won == (not spoiled)  # still improving at 4 epochs, unless spoiled
    assert second_stage_won == bool(np.any(np.asarray(conv.statistics)))
    assert Recommender.from_config(rec.get_config()).global_kernel_epochs == 3


def test_global_kernel_epochs_are_not_checkpointed(tmp_path):
    rec = Recommender(hidden=4, epochs=1, global_kernel_epochs=2)
    with pytest.raises(ValueError, match="global_kernel_epochs=2 cannot be checkpointed"):
        rec.fit(synthetic_ratings(), checkpoint_dir=tmp_path)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"model_kwargs": {"encoder_units": [6]}},
        pytest.param({"global_kernel_epochs": 2}, marks=backend_independent),
    ],
)
def test_real_model_fits_saves_and_loads_identically(tmp_path, settings):
    model_kwargs = settings.get("model_kwargs")
    frame = synthetic_ratings()
    rec = Recommender(
        hidden=8,
        epochs=3,
        batch_size=16,
        validation_fraction=0.2,
        patience=1,
        **settings,
    )
    rec.fit(frame, verbose=0)
    assert {"loss", "mae", "rmse", "val_mae"} <= set(rec.history)
    rec.metadata = {"data": "synthetic"}
    rec.save(tmp_path / "rec")
    loaded = Recommender.load(tmp_path / "rec")

    users = ["u0", "u5", "nobody", "u7"]
    items = ["i1", "i3", "i2", "nothing"]
    np.testing.assert_array_equal(loaded.predict(users, items), rec.predict(users, items))
    np.testing.assert_array_equal(loaded.score_users(np.arange(30)), rec.score_users(np.arange(30)))
    pd.testing.assert_frame_equal(loaded.recommend(users, k=3), rec.recommend(users, k=3))
    assert loaded.get_config() == rec.get_config()
    assert loaded.model.encoder_units == tuple((model_kwargs or {}).get("encoder_units", ()))
    assert (loaded.metadata, loaded.history) == (rec.metadata, rec.history)
    state = json.loads((tmp_path / "rec" / "recommender.json").read_text())
    assert state["id_maps"]["user_ids"] == rec.train.user_ids.tolist()


def test_load_names_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing recommender.json, model.keras"):
        Recommender.load(tmp_path)


def test_save_needs_a_fitted_recommender(tmp_path):
    with pytest.raises(RuntimeError, match="not fitted"):
        Recommender().save(tmp_path)


def test_ranking_head_scores_drive_recommendations(tmp_path):
    frame = synthetic_ratings()
    rec = Recommender(
        hidden=8,
        epochs=2,
        batch_size=16,
        validation_fraction=0.0,
        model_kwargs={"ranking_weight": 1.0},
        ranking="head",
    )
    rec.fit(frame, verbose=0)
    train = rec.train
    probabilities = rec.model.ranking_scores(train.to_item_user_csr(), verbose=0).T
    users = np.flatnonzero(rec.known_users(train.user_ids))
    items = np.flatnonzero(rec.known_items(train.item_ids))
    scores = rec.score_users(users)
    np.testing.assert_allclose(scores[:, items], probabilities[np.ix_(users, items)], rtol=1e-6)
    # Rating predictions still come from the reconstruction, not from the probabilities.
    reconstruction = rec.model.predict(train.to_item_user_csr(), verbose=0).T
    u, i = users[0], items[0]
    expected = np.clip(reconstruction[u, i], *train.scale)
    got = rec.predict(train.user_ids[u : u + 1], train.item_ids[i : i + 1])[0]
    assert got == pytest.approx(expected, rel=1e-6)
    rec.save(tmp_path / "rec")
    loaded = Recommender.load(tmp_path / "rec")
    np.testing.assert_array_equal(loaded.score_users(users), scores)


def sparse_frame(n_users=200, n_items=150, n_ratings=300, seed=0):
    """About 1% of the entries rated: below `SPARSE_DENSITY`, where batches stay sparse."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, n_ratings, replace=False)
    return pd.DataFrame(
        {
            "user": pairs // n_items,
            "item": pairs % n_items,
            "rating": rng.integers(1, 6, n_ratings).astype(float),
        }
    )


# The density rule and the blend are NumPy-side policy; the fits under them are the ones the
# other real-model tests here run on every backend.
@backend_independent
def test_head_is_added_where_batches_are_dense_and_blended_into_ease(tmp_path):
    from keras_hem.recommender import HEAD_KWARGS, HEAD_WEIGHT

    kwargs = {"hidden": 8, "epochs": 2, "batch_size": 16, "validation_fraction": 0}
    dense = Recommender(**kwargs).fit(synthetic_ratings(), verbose=0)
    assert dense.model.ranking_weight == HEAD_KWARGS["ranking_weight"]
    assert dense.model.ranking_loss == "multinomial" and not dense.model.ranking_trains_encoder
    assert dense.scorer.head_weight == HEAD_WEIGHT
    # Without the head, the same EASE score differs (the head term is not zero).
    users = np.arange(10)
    without = dense.with_ranking(head_weight=0)
    reference = EASEBlendScorer(dense.scorer.ratings, rating_weight=dense.rating_weight)
    np.testing.assert_array_equal(without.score_users(users), reference.score(users))
    assert np.abs(dense.score_users(users) - without.score_users(users)).max() > 1e-3
    dense.save(tmp_path / "rec")
    loaded = Recommender.load(tmp_path / "rec")
    np.testing.assert_array_equal(loaded.score_users(users), dense.score_users(users))
    # Sparse data keep sparse batches: no head, EASE and the rating term alone.
    sparse = Recommender(**kwargs).fit(sparse_frame(), verbose=0)
    assert sparse.model.observation_decoder is None and sparse.scorer.head_weight == 0
    assert sparse.model.uses_sparse_batches(sparse.train.to_item_user_csr())
    # An explicit head_weight decides, whatever the density.
    forced = Recommender(**kwargs, head_weight=0.2).fit(sparse_frame(), verbose=0)
    assert forced.model.ranking_loss == "multinomial" and forced.scorer.head_weight == 0.2
    off = Recommender(**kwargs, head_weight=0).fit(synthetic_ratings(), verbose=0)
    assert off.model.observation_decoder is None
    # So do the model's own ranking settings (here the binary head at weight 0.5).
    own = Recommender(**kwargs, model_kwargs={"ranking_weight": 0.5}).fit(sparse_frame(), verbose=0)
    assert (own.model.ranking_weight, own.model.ranking_loss) == (0.5, "bce")
    assert own.scorer.head_weight == HEAD_WEIGHT
    # ranking="head" gets the multinomial head without any model_kwargs.
    head = Recommender(**kwargs, ranking="head").fit(sparse_frame(), verbose=0)
    assert head.model.ranking_loss == "multinomial"


def test_each_row_says_which_score_it_holds(fitted):
    table = fitted.recommend(["ann", "nobody"], k=2)
    assert table["basis"].tolist() == ["ratings", "ratings", "popularity", "popularity"]


# ---------------------------------------------------------------------------------------------
# Bounded-memory serving


def reference_recommend(rec, users, k, exclude_seen=True):
    """Top-k lists from the full score matrix, sorted item by item (the slow, obvious way)."""
    all_scores = rec.score_users(np.arange(rec.train.n_users))
    popular = rec.scorer.ratings.statistics.popularity if rec.ranking != "ratings" else None
    popular = rec.scorer.statistics.popularity if popular is None else popular
    seen_items = rec.train.csr.toarray() != 0
    rows = []
    for user in users:
        index = rec.train.user_index([user])[0]
        known = index >= 0 and rec.known_users([user])[0]
        scores = all_scores[index] if known else popular
        candidates = [
            i
            for i in range(rec.train.n_items)
            if not (exclude_seen and known and seen_items[index, i])
        ]
        best = sorted(candidates, key=lambda i: (-scores[i], i))[:k]
        basis = rec.ranking if known else "popularity"
        rows += [(user, r + 1, rec.train.item_ids[i], scores[i], basis) for r, i in enumerate(best)]
    return pd.DataFrame(rows, columns=["user", "rank", "item", "score", "basis"])


@pytest.mark.parametrize("ranking", ["ratings", "ease"])
@pytest.mark.parametrize("exclude_seen", [True, False])
def test_chunked_recommend_equals_the_full_matrix_reference(
    fake_model, monkeypatch, ranking, exclude_seen
):
    rec = Recommender(validation_fraction=0, ranking=ranking, ease_l2=2.0)
    rec.fit(training_matrix(), verbose=0)
    users = ["bob", "zoe", "ann", "dan", "bob", "cid"]
    expected = reference_recommend(rec, users, 3, exclude_seen)
    sizes = []
    score = rec.scorer.score
    monkeypatch.setattr(rec.scorer, "score", lambda u: sizes.append(len(u)) or score(u))
    for cells, chunk in ((1, 1), (10, 2), (1 << 23, 6)):  # 5 items: cells // 5 users a chunk
        monkeypatch.setattr(recommender_module, "_SCORE_CELLS", cells)
        sizes.clear()
        got = rec.recommend(users, k=3, exclude_seen=exclude_seen)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-6)
        assert 0 < max(sizes) <= chunk  # the scorer never sees more users than a chunk


def test_no_users_x_items_array_is_kept(fake_model):
    frame = synthetic_ratings(n_users=50, n_items=20)
    rec = Recommender(validation_fraction=0).fit(frame, verbose=0)
    n_users, n_items = rec.train.n_users, rec.train.n_items
    held = [rec, rec.scorer, rec.scorer.ratings, rec.scorer.ratings.statistics]
    arrays = [
        value
        for owner in held
        for value in vars(owner).values()
        if isinstance(value, np.ndarray) and value.size >= n_users * n_items
    ]
    assert arrays == []  # the EASE weights are items x items (20 x 20 < 50 x 20 cells)
    assert rec.scorer.weights.shape == (n_items, n_items)


def test_ease_max_items_restricts_ease_to_the_most_rated_items(fake_model):
    rec = Recommender(validation_fraction=0, ease_l2=2.0, rating_weight=0.5, ease_max_items=2)
    rec.fit(training_matrix(), verbose=0)
    ratings_only = rec.with_ranking("ratings")
    # Ratings per item: a 2, b 2, c 2, d 1, e 0: the tie keeps a and b.
    assert rec.scorer.items.tolist() == [0, 1]
    users = np.arange(3)
    deviation = 0.5 * (ratings_only.score_users(users) - GLOBAL_MEAN)
    x = (rec.train.csr.toarray()[:, :2] != 0).astype(np.float64)
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(2))
    expected = deviation.copy()
    expected[:, :2] += (x @ (np.eye(2) - p / np.diag(p)))[users]
    np.testing.assert_allclose(rec.score_users(users), expected, rtol=1e-4, atol=1e-5)


def test_with_ranking_shares_the_fit(fake_model):
    rec = Recommender(validation_fraction=0, ease_l2=2.0).fit(training_matrix(), verbose=0)
    view = rec.with_ranking("ratings")
    assert view.model is rec.model and view.train is rec.train and view.ranking == "ratings"
    assert view.scorer.codes is rec.scorer.ratings.codes  # the codes are not recomputed
    assert len(fake_model) == 1  # nothing was trained again
    ratings_only = Recommender(validation_fraction=0, ranking="ratings")
    ratings_only.fit(training_matrix(), verbose=0)
    np.testing.assert_array_equal(
        view.score_users(np.arange(4)), ratings_only.score_users(np.arange(4))
    )
    np.testing.assert_array_equal(view.predict(["ann"], ["c"]), rec.predict(["ann"], ["c"]))
    assert rec.with_ranking("ease").scorer is rec.scorer
    assert view.recommend("ann", k=1)["basis"].tolist() == ["ratings"]
    with pytest.raises(ValueError, match="ranking='mean'"):
        rec.with_ranking("mean")
    with pytest.raises(RuntimeError, match="not fitted"):
        Recommender().with_ranking("ratings")
    with pytest.raises(RuntimeError, match="not fitted"):
        _ = Recommender().scorer
    # Scoring settings change without a new fit; model settings are refused.
    other = rec.with_ranking(rating_weight=0.5)
    assert other.ranking == "ease" and other.scorer.rating_weight == 0.5
    assert len(fake_model) == 2  # rec's and ratings_only's fits only
    with pytest.raises(ValueError, match=r"\['hidden'\]"):
        rec.with_ranking(hidden=4)
    with pytest.raises(ValueError, match="rating_weight=-1"):
        rec.with_ranking(rating_weight=-1)


@pytest.mark.parametrize("orientation", ["item", "user"])
def test_real_model_predictions_and_scores_equal_its_dense_reconstruction(orientation):
    frame = synthetic_ratings(n_users=25, n_items=35, seed=3)
    rec = Recommender(
        hidden=6,
        epochs=2,
        batch_size=16,
        validation_fraction=0,
        ranking="ratings",
        model_kwargs={"orientation": orientation},
    )
    rec.fit(frame, verbose=0)
    train = rec.train
    full = rec.model.predict(train.to_item_user_csr(), verbose=0).T  # users x items
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, train.n_users, 50), rng.integers(0, train.n_items, 50)
    got = rec.predict(train.user_ids[u], train.item_ids[i])
    np.testing.assert_allclose(got, np.clip(full[u, i], *train.scale), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        rec.score_users(np.arange(train.n_users)), full, rtol=1e-5, atol=1e-5
    )
