"""Each scorer against a dense NumPy reference on tiny data."""

import numpy as np
import pytest

from keras_hem import HEMAAE
from keras_hem.data import RatingMatrix
from keras_hem.ranking import (
    PRIOR_RATINGS,
    EASEBlendScorer,
    HeadScorer,
    PopularityScorer,
    RatingScorer,
    RatingStatistics,
    Scorer,
    check_user_indices,
)

# 6 users x 5 items; user 5 and item 4 are in the id maps without a training rating.
TRIPLES = [
    (0, 0, 5.0),
    (0, 1, 3.0),
    (1, 0, 4.0),
    (1, 2, 2.0),
    (1, 3, 1.0),
    (2, 1, 4.0),
    (2, 2, 5.0),
    (3, 0, 2.0),
    (3, 3, 4.0),
    (4, 1, 5.0),
]
N_USERS, N_ITEMS = 6, 5


def training_matrix():
    users, items, ratings = (list(column) for column in zip(*TRIPLES, strict=True))
    return RatingMatrix(
        users, items, ratings, list(range(N_USERS)), list("abcde"), scale=(1, 5), step=1
    )


def dense(train):
    """users x items ratings, 0 = unrated."""
    table = np.zeros((train.n_users, train.n_items))
    table[train.users, train.items] = train.ratings
    return table


def reference_statistics(train):
    """Means and popularity, rating by rating."""
    table = dense(train)
    rated = table > 0
    user_mean = [table[u][rated[u]].mean() if rated[u].any() else 0.0 for u in range(N_USERS)]
    item_mean = [table[:, i][rated[:, i]].mean() if rated[:, i].any() else 0.0 for i in range(5)]
    mean = table[rated].mean()
    popularity = [
        (table[:, i][rated[:, i]].sum() + PRIOR_RATINGS * mean) / (rated[:, i].sum() + 10)
        for i in range(N_ITEMS)
    ]
    return np.array(user_mean), np.array(item_mean), mean, np.array(popularity)


def reference_ratings(full, train):
    """Scores from a users x items reconstruction, with the documented fallbacks."""
    user_mean, _, _, popularity = reference_statistics(train)
    table = dense(train)
    scores = full.astype(np.float64).copy()
    for i in range(N_ITEMS):
        if not (table[:, i] > 0).any():
            scores[:, i] = user_mean
    for u in range(N_USERS):
        if not (table[u] > 0).any():
            scores[u] = popularity
    return scores


def ease_reference(train, l2, items=None):
    """EASE in float64 from the closed form, on the columns `items` (0 elsewhere)."""
    x = (dense(train) != 0).astype(np.float64)
    items = np.arange(N_ITEMS) if items is None else np.asarray(items)
    sub = x[:, items]
    p = np.linalg.inv(sub.T @ sub + l2 * np.eye(len(items)))
    out = np.zeros_like(x)
    out[:, items] = sub @ (np.eye(len(items)) - p / np.diag(p))
    return out


@pytest.fixture(scope="module", params=["item", "user"])
def fitted_model(request):
    train = training_matrix()
    model = HEMAAE(hidden=4, seed=0, orientation=request.param, ranking_weight=1.0)
    model.compile()
    model.fit(train.to_item_user_csr(), epochs=2, batch_size=4, verbose=0)
    return model, train


def full_reconstruction(model, train):
    """users x items, from the model's dense `predict` (items x users in, items x users out)."""
    return model.predict(train.to_item_user_csr(), verbose=0).T


def test_statistics_match_the_definitions():
    train = training_matrix()
    stats = RatingStatistics.from_ratings(train)
    user_mean, item_mean, mean, popularity = reference_statistics(train)
    np.testing.assert_allclose(stats.user_mean, user_mean, rtol=1e-6)
    np.testing.assert_allclose(stats.item_mean, item_mean, rtol=1e-6)
    np.testing.assert_allclose(stats.popularity, popularity, rtol=1e-6)
    assert stats.global_mean == pytest.approx(mean)
    assert stats.user_seen.tolist() == [True] * 5 + [False]
    assert stats.item_seen.tolist() == [True] * 4 + [False]


def test_popularity_is_the_same_row_for_everyone():
    train = training_matrix()
    scorer = PopularityScorer(RatingStatistics.from_ratings(train))
    scores = scorer.score([-1, 3, 3])
    np.testing.assert_allclose(scores, np.tile(reference_statistics(train)[3], (3, 1)), rtol=1e-6)
    assert isinstance(scorer, Scorer) and scorer.name == "popularity"


def test_rating_scorer_is_the_reconstruction_with_fallbacks(fitted_model):
    model, train = fitted_model
    scorer = RatingScorer(model, train)
    full = full_reconstruction(model, train)
    users = np.array([5, 0, 3, 3, 1])
    np.testing.assert_allclose(
        scorer.score(users), reference_ratings(full, train)[users], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(scorer.reconstruction(users), full[users], rtol=1e-5, atol=1e-6)
    assert scorer.score([]).shape == (0, N_ITEMS)
    assert isinstance(scorer, Scorer) and scorer.name == "ratings"


@pytest.mark.parametrize("by_columns", [True, False])
def test_predict_pairs_is_the_dense_reconstruction_at_those_pairs(
    fitted_model, monkeypatch, by_columns
):
    from keras_hem.ranking import ratings as ratings_module

    # Several model calls either way: blocks of 2 columns, or 3 pairs per call.
    monkeypatch.setattr(ratings_module, "DENSE_CELLS_PER_PAIR", 10**6 if by_columns else 0)
    monkeypatch.setattr(ratings_module, "_BLOCK_CELLS", 12)
    monkeypatch.setattr(ratings_module, "PAIR_CHUNK", 3)
    model, train = fitted_model
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, N_USERS, 11), rng.integers(0, N_ITEMS, 11)
    assert RatingScorer(model, train).predict_pairs([], []).shape == (0,)
    got = RatingScorer(model, train).predict_pairs(users, items)
    full = full_reconstruction(model, train)
    np.testing.assert_allclose(got, full[users, items], rtol=1e-5, atol=1e-6)


def test_head_scorer_is_the_heads_probability_with_fallbacks(fitted_model):
    model, train = fitted_model
    scorer = HeadScorer(RatingScorer(model, train))
    probabilities = model.ranking_scores(train.to_item_user_csr(), verbose=0).T
    expected = probabilities.astype(np.float64).copy()
    expected[:, 4] = 0.0  # item "e": no training rating
    expected[5] = reference_statistics(train)[3]  # user 5: no training rating
    users = np.arange(N_USERS)
    np.testing.assert_allclose(scorer.score(users), expected, rtol=1e-5, atol=1e-6)


def test_head_scorer_needs_a_ranking_head():
    train = training_matrix()
    model = HEMAAE(hidden=4, seed=0)
    model.compile()
    model.fit(train.to_item_user_csr(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="ranking head"):
        HeadScorer(RatingScorer(model, train))


@pytest.mark.parametrize("rating_weight", [0.0, 0.5])
@pytest.mark.parametrize("max_items", [None, 3])
def test_ease_blend_is_ease_plus_weighted_rating_deviation(fitted_model, rating_weight, max_items):
    model, train = fitted_model
    ratings = RatingScorer(model, train)
    scorer = EASEBlendScorer(ratings, l2=2.0, rating_weight=rating_weight, max_items=max_items)
    # Items by number of ratings: a 3, b 3, c 2, d 2, e 0; the tie c-d goes to c.
    kept = np.arange(N_ITEMS) if max_items is None else np.array([0, 1, 2])
    np.testing.assert_array_equal(scorer.items, kept)
    _, _, mean, popularity = reference_statistics(train)
    full = reference_ratings(full_reconstruction(model, train), train)
    expected = ease_reference(train, 2.0, kept) + rating_weight * (full - mean)
    expected[5] = popularity
    users = np.array([0, 1, 2, 3, 4, 5, 1])
    np.testing.assert_allclose(scorer.score(users), expected[users], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        scorer.ease_scores(users[:5]), ease_reference(train, 2.0, kept)[users[:5]], atol=1e-5
    )


@pytest.mark.parametrize("head_weight", [0.0, 0.7])
def test_ease_blend_adds_the_heads_standardised_logits(fitted_model, head_weight):
    model, train = fitted_model
    ratings = RatingScorer(model, train)
    scorer = EASEBlendScorer(ratings, l2=2.0, rating_weight=0.5, head_weight=head_weight)
    _, _, mean, popularity = reference_statistics(train)
    full = reference_ratings(full_reconstruction(model, train), train)
    base = ease_reference(train, 2.0) + 0.5 * (full - mean)
    # The head's logits over every item, users x items, standardised over the seen items (a-d)
    # and put in units of each user's own spread of the base score; item e gets 0.
    logits = np.log(model.ranking_scores(train.to_item_user_csr(), verbose=0).T.astype(float))
    logits -= np.log1p(-np.exp(logits))
    expected = base.copy()
    for user in range(N_USERS):
        seen_logits, seen_base = logits[user, :4], base[user, :4]
        head = np.zeros(N_ITEMS)
        head[:4] = (seen_logits - seen_logits.mean()) / seen_logits.std()
        expected[user] += head_weight * head * seen_base.std()
    expected[5] = popularity
    np.testing.assert_allclose(scorer.score(np.arange(N_USERS)), expected, rtol=1e-3, atol=1e-4)


def test_score_terms_add_up_to_the_score_at_any_head_weight(fitted_model):
    model, train = fitted_model
    ratings = RatingScorer(model, train)
    users = np.arange(N_USERS)
    base, head = EASEBlendScorer(ratings, l2=2.0, rating_weight=0.5).score_terms(users)
    assert not head[5].any()  # user 5 has no training rating: popularity, no head term
    for weight in (0.0, 0.4, 2.0):
        scorer = EASEBlendScorer(ratings, l2=2.0, rating_weight=0.5, head_weight=weight)
        np.testing.assert_allclose(base + weight * head, scorer.score(users), rtol=1e-5, atol=1e-5)


def test_ease_blend_head_weight_needs_a_ranking_head():
    train = training_matrix()
    model = HEMAAE(hidden=4, seed=0)
    model.compile()
    model.fit(train.to_item_user_csr(), epochs=1, verbose=0)
    scorer = EASEBlendScorer(RatingScorer(model, train), head_weight=0.0)  # no head needed
    with pytest.raises(ValueError, match="ranking head"):
        EASEBlendScorer(RatingScorer(model, train), head_weight=0.5)
    with pytest.raises(ValueError, match="ranking head"):
        scorer.score_terms([0])


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"l2": 0}, "l2=0"),
        ({"rating_weight": -1.0}, "rating_weight=-1.0"),
        ({"max_items": 0}, "max_items=0"),
        ({"max_items": 2.5}, "max_items=2.5"),
        ({"head_weight": -0.5}, "head_weight=-0.5"),
        ({"head_weight": True}, "head_weight=True"),
    ],
)
def test_ease_blend_bad_arguments(fitted_model, kwargs, quoted):
    model, train = fitted_model
    with pytest.raises(ValueError, match=quoted):
        EASEBlendScorer(RatingScorer(model, train), **kwargs)


def test_scorers_reject_bad_user_indices(fitted_model):
    model, train = fitted_model
    scorer = RatingScorer(model, train)
    for bad in ([6], [-1], [[0, 1]], [0.5]):
        with pytest.raises(IndexError):
            scorer.score(bad)
    assert check_user_indices(3, 4).tolist() == [3]
