"""Recall@k, MAP@k, MRR@k, hit rate and coverage: a NumPy loop reference, and keras-rs."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import sparse

from keras_hem.data import RatingMatrix
from keras_hem.evaluation import evaluate, ranking_metrics
from keras_hem.evaluation.list_metrics import METRICS

ALL = tuple(METRICS)


@pytest.fixture(autouse=True)
def _reset_keras_state():
    yield  # nothing here trains a model


def reference(scores, train, test, ks, threshold=None):
    """One user, one rank at a time, straight from the module's definitions."""
    train_items = [set(train.items[train.users == u].tolist()) for u in range(train.n_users)]
    out, reached = {}, {k: set() for k in ks}
    per_user = {k: {"recall": [], "map": [], "mrr": [], "hit_rate": []} for k in ks}
    for u in range(test.n_users):
        rated = dict(zip(test.items[test.users == u].tolist(), test.ratings[test.users == u]))
        relevant = {i for i, r in rated.items() if threshold is None or r >= threshold}
        if not relevant:
            continue
        candidates = [i for i in range(test.n_items) if i not in train_items[u]]
        ranked = sorted(candidates, key=lambda i: (-scores[u, i], i))
        for k in ks:
            top = ranked[:k]
            reached[k].update(top)
            hits = [i in relevant for i in top]
            values = per_user[k]
            values["recall"].append(sum(hits) / len(relevant))
            precisions = [sum(hits[: r + 1]) / (r + 1) for r in range(len(top)) if hits[r]]
            values["map"].append(sum(precisions) / len(relevant))
            first = next((r for r, hit in enumerate(hits) if hit), None)
            values["mrr"].append(0.0 if first is None else 1.0 / (first + 1))
            values["hit_rate"].append(float(any(hits)))
    for k in ks:
        out[f"Recall@{k}"] = np.mean(per_user[k]["recall"])
        out[f"MAP@{k}"] = np.mean(per_user[k]["map"])
        out[f"MRR@{k}"] = np.mean(per_user[k]["mrr"])
        out[f"HR@{k}"] = np.mean(per_user[k]["hit_rate"])
        out[f"Coverage@{k}"] = len(reached[k]) / test.n_items
    return out


def random_split(seed, n_users, n_items, density):
    rng = np.random.default_rng(seed)
    dense = np.where(
        rng.random((n_users, n_items)) < density, rng.integers(1, 6, (n_users, n_items)), 0
    )
    dense[0, :2] = np.where(dense[0, :2] > 0, dense[0, :2], 4)  # a train and a test rating
    data = RatingMatrix.from_sparse(sparse.csr_array(dense.astype(float)))
    return data.random_split(0.3, seed=seed)


@given(
    seed=st.integers(0, 10_000),
    n_users=st.integers(1, 7),
    n_items=st.integers(2, 9),
    density=st.floats(0.2, 0.9),
    ks=st.lists(st.integers(1, 10), min_size=1, max_size=3),
    threshold=st.sampled_from([None, 4]),
    chunk_size=st.integers(1, 4),
)
def test_new_metrics_match_a_loop_over_users(
    seed, n_users, n_items, density, ks, threshold, chunk_size
):
    train, test = random_split(seed, n_users, n_items, density)
    has_relevant = (test.ratings >= (threshold or 0)).any()
    if not has_relevant:
        return
    scores = np.round(np.random.default_rng(seed + 1).random((n_users, n_items)), 1)  # ties
    got = ranking_metrics(
        lambda users: scores[users],
        train,
        test,
        ks=ks,
        threshold=threshold,
        chunk_size=chunk_size,
        metrics=("recall", "map", "mrr", "hit_rate", "coverage"),
    )
    expected = reference(scores, train, test, sorted(set(ks)), threshold)
    assert set(got) == set(expected) | {"n_users"}
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_hand_worked_lists():
    # User 0: candidates 1..4 (item 0 in train), scores rank them [2, 3, 1, 4]; relevant {1, 3}.
    # User 1: candidates 0..3, ranked [2, 0, 1, 3]; relevant {0}.
    train = RatingMatrix.from_sparse(
        sparse.csr_array(np.array([[5.0, 0, 0, 0, 0], [0, 0, 0, 0, 3]]))
    )
    test = RatingMatrix.from_sparse(
        sparse.csr_array(np.array([[0, 4.0, 0, 2, 0], [5.0, 0, 0, 0, 0]]))
    )
    scores = np.array([[9.0, 1.0, 5.0, 5.0, 0.0], [0.5, 0.2, 0.9, 0.1, 7.0]])
    out = ranking_metrics(lambda u: scores[u], train, test, ks=(1, 3), metrics=ALL)
    assert out["Recall@3"] == pytest.approx((2 / 2 + 1 / 1) / 2)
    assert out["MAP@3"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + (1 / 2) / 1) / 2)
    assert out["MRR@3"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert out["HR@1"] == 0.0 and out["HR@3"] == 1.0
    assert out["Coverage@1"] == pytest.approx(1 / 5)  # both users' first item is item 2
    assert out["Coverage@3"] == pytest.approx(4 / 5)  # items 0-3; item 4 is never listed
    assert list(out)[:7] == ["P@1", "NDCG@1", "Recall@1", "MAP@1", "MRR@1", "HR@1", "Coverage@1"]


def test_default_metrics_are_precision_and_ndcg_and_unknown_names_are_refused():
    train, test = random_split(0, 5, 6, 0.6)
    scores = np.random.default_rng(0).random((5, 6))
    assert list(ranking_metrics(lambda u: scores[u], train, test, ks=(2,))) == [
        "P@2",
        "NDCG@2",
        "n_users",
    ]
    with pytest.raises(ValueError, match="metrics='auc'"):
        ranking_metrics(lambda u: scores[u], train, test, ks=(2,), metrics=("ndcg", "auc"))


def test_evaluate_passes_metrics_through_also_when_nothing_is_relevant():
    train, test = random_split(1, 6, 8, 0.6)

    class Model:
        def predict(self, users, items):
            return np.full(len(users), 3.0)

        def score_users(self, user_indices):
            return np.tile(np.arange(8.0), (len(user_indices), 1))

    row = evaluate(
        Model(),
        train,
        test,
        ks=(2,),
        thresholds=(None, 99),
        if_empty="nan",
        metrics=("mrr", "coverage"),
    )
    assert {"MRR@2", "Coverage@2", "MRR@2_t99", "Coverage@2_t99"} <= set(row.columns)
    assert math.isnan(row["MRR@2_t99"].iloc[0]) and row["MRR@2"].iloc[0] >= 0


def test_evaluate_refuses_a_model_without_the_interface():
    train, test = random_split(2, 4, 5, 0.6)
    with pytest.raises(TypeError, match="score_users"):
        evaluate(object(), train, test)


# --------------------------------------------------------------------------------------------
# keras-rs: the same definitions for recall, MAP, MRR (and precision when every user has k
# candidates), on lists without ties and with every user having a relevant item.

keras_rs = pytest.importorskip("keras_rs")


@pytest.mark.parametrize(
    ("name", "prefix", "metric"),
    [
        ("recall", "Recall", "RecallAtK"),
        ("map", "MAP", "MeanAveragePrecision"),
        ("mrr", "MRR", "MeanReciprocalRank"),
        ("precision", "P", "PrecisionAtK"),
        ("ndcg", "NDCG", "NDCG"),
    ],
)
def test_agrees_with_keras_rs(name, prefix, metric):
    rng = np.random.default_rng(7)
    n_users, n_items, k = 12, 15, 5
    train, test = random_split(3, n_users, n_items, 0.5)
    scores = rng.permutation(n_users * n_items).reshape(n_users, n_items).astype(float)
    ours = ranking_metrics(lambda u: scores[u], train, test, ks=(k,), metrics=(name,))
    # keras-rs sees each evaluated user's candidates (mask) and relevance labels.
    users = np.unique(test.users)
    labels = (test.user_rows(users) > 0).astype("float32")
    mask = train.user_rows(users) == 0
    assert (mask.sum(axis=1) >= k).all()  # P@k is a mean of per-user precisions then too
    theirs = getattr(keras_rs.metrics, metric)(k=k, shuffle_ties=False)
    theirs.update_state({"labels": labels, "mask": mask}, scores[users].astype("float32"))
    assert ours[f"{prefix}@{k}"] == pytest.approx(float(theirs.result()), rel=1e-5)
