import numpy as np
import pytest

from keras_hem.data import RatingMatrix
from keras_hem.evaluation import evaluate

# 3 users x 4 items. User 2 and item 3 have no training rating.
USER_IDS = np.array(["u0", "u1", "u2"], dtype=object)
ITEM_IDS = np.array([10, 11, 12, 13])
TRAIN = [(0, 0, 5), (0, 1, 3), (1, 0, 4), (1, 2, 2)]
TEST = [(0, 2, 4), (0, 3, 2), (1, 1, 5), (1, 3, 1), (2, 0, 3)]
# The fake model's rating predictions for the test pairs (6.0 and 0.5 get clipped to 1-5).
PREDICTIONS = {("u0", 12): 4.5, ("u0", 13): 6.0, ("u1", 11): 4.0, ("u1", 13): 0.5, ("u2", 10): 3.0}
# Ranking scores: u0 ranks 12 > 13, u1 ranks 13 > 11, u2 ranks 11 > 10 > 12 > 13
# (training items of u0 and u1 score highest, to check that they are excluded).
SCORES = np.array(
    [
        [9.0, 9.0, 0.9, 0.1],
        [9.0, 0.2, 9.0, 0.8],
        [0.45, 0.5, 0.4, 0.3],
    ]
)


def matrix(triples):
    users, items, ratings = zip(*triples, strict=True)
    return RatingMatrix(users, items, ratings, USER_IDS, ITEM_IDS, scale=(1, 5))


class FakeModel:
    def predict(self, users, items):
        return np.array([PREDICTIONS[pair] for pair in zip(users, items, strict=True)])

    def score_users(self, user_indices):
        return SCORES[user_indices]


def test_matches_a_hand_computed_case():
    row = evaluate(FakeModel(), matrix(TRAIN), matrix(TEST), ks=(1, 2), thresholds=(None, 4))
    assert row.shape[0] == 1
    got = row.iloc[0]
    # Clipped predictions 4.5, 5, 4, 1, 3 against 4, 2, 5, 1, 3.
    assert got["MAE"] == pytest.approx((0.5 + 3 + 1 + 0 + 0) / 5)
    assert got["RMSE"] == pytest.approx(np.sqrt((0.25 + 9 + 1) / 5))
    assert (got["n_test"], got["n_unseen"]) == (5, 3)  # (u0, 13), (u1, 13), (u2, 10)
    # Any test rating is relevant: top-2 lists u0 [12, 13], u1 [13, 11], u2 [11, 10].
    third = 1 / np.log2(3)
    assert got["P@1"] == pytest.approx(2 / 3)
    assert got["P@2"] == pytest.approx(5 / 6)
    assert got["NDCG@1"] == pytest.approx(2 / 3)
    assert got["NDCG@2"] == pytest.approx((1 + 1 + third) / 3)
    assert got["n_users"] == 3
    # Ratings >= 4 are relevant: u0 {12}, u1 {11}; u2 has none and is skipped.
    assert got["P@1_t4"] == pytest.approx(1 / 2)
    assert got["P@2_t4"] == pytest.approx(2 / 4)
    assert got["NDCG@1_t4"] == pytest.approx(1 / 2)
    assert got["NDCG@2_t4"] == pytest.approx((1 + third) / 2)
    assert got["n_users_t4"] == 2


def test_column_order_and_suffixes():
    row = evaluate(FakeModel(), matrix(TRAIN), matrix(TEST), ks=(1,), thresholds=(3.5,))
    assert list(row.columns) == [
        "MAE",
        "RMSE",
        "n_test",
        "n_unseen",
        "P@1_t3.5",
        "NDCG@1_t3.5",
        "n_users_t3.5",
    ]
    assert list(evaluate(FakeModel(), matrix(TRAIN), matrix(TEST), thresholds=()).columns) == [
        "MAE",
        "RMSE",
        "n_test",
        "n_unseen",
    ]


@pytest.mark.parametrize("thresholds", [(4, 4.0), (None, None), ("4",), (True,)])
def test_rejects_bad_thresholds(thresholds):
    with pytest.raises(ValueError, match="thresholds="):
        evaluate(FakeModel(), matrix(TRAIN), matrix(TEST), thresholds=thresholds)


def test_rejects_overlapping_train_and_test():
    with pytest.raises(ValueError, match="both train and test"):
        evaluate(FakeModel(), matrix(TRAIN), matrix(TRAIN[:1] + TEST))


def test_rejects_a_model_fitted_on_other_ratings():
    model = FakeModel()
    model.train = matrix(TRAIN[1:])
    with pytest.raises(ValueError, match="fitted on other ratings"):
        evaluate(model, matrix(TRAIN), matrix(TEST))
    model.train = matrix(TRAIN)
    assert evaluate(model, matrix(TRAIN), matrix(TEST), ks=(1,))["n_test"].item() == 5
