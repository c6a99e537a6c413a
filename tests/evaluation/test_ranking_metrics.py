import importlib
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import sparse

from keras_hem.data import RatingMatrix
from keras_hem.evaluation import ranking_metrics, top_k_items

# `keras_hem.evaluation.ranking_metrics` is the function once the package is imported.
ranking_module = importlib.import_module("keras_hem.evaluation.ranking_metrics")

REPO = Path(__file__).resolve().parents[2]
# shared/ sits inside the checkout on some machines and beside it (../shared) on others.
SHARED_DATA = next(
    (p for p in (REPO / "shared" / "data", REPO.parent / "shared" / "data") if p.is_dir()),
    REPO / "shared" / "data",
)
U_DATA = SHARED_DATA / "ml-100k" / "u.data"


@pytest.fixture(autouse=True)
def _reset_keras_state():
    # Overrides tests/conftest.py: nothing here touches Keras, and its clear_session() costs
    # about 0.4 s per test.
    yield


def reference_metrics(scores, train, test, ks, threshold, protocol, gain):
    """Plain-loop version of the documented definitions, one user and one item at a time."""
    train_items = [set() for _ in range(train.n_users)]
    for u, i in zip(train.users.tolist(), train.items.tolist(), strict=True):
        train_items[u].add(i)
    test_ratings = [{} for _ in range(test.n_users)]
    for u, i, r in zip(
        test.users.tolist(), test.items.tolist(), test.ratings.tolist(), strict=True
    ):
        test_ratings[u][i] = r
    hits = {k: 0 for k in ks}
    listed = {k: 0 for k in ks}
    ndcg = {k: [] for k in ks}
    for u in range(test.n_users):
        relevant = {i: r for i, r in test_ratings[u].items() if threshold is None or r >= threshold}
        if not relevant:
            continue
        if protocol == "full_catalog":
            candidates = [i for i in range(test.n_items) if i not in train_items[u]]
        else:
            candidates = list(test_ratings[u])
        ranked = sorted(candidates, key=lambda i: (-scores[u, i], i))  # ties: lower index first

        def gain_of(i, relevant=relevant):
            return 2.0 ** (relevant[i] if gain == "graded" else 1.0) - 1.0

        for k in ks:
            top = ranked[:k]
            hits[k] += sum(i in relevant for i in top)
            listed[k] += len(top)
            dcg = sum(gain_of(i) / math.log2(r + 2) for r, i in enumerate(top) if i in relevant)
            ideal = sorted((gain_of(i) for i in relevant), reverse=True)[:k]
            idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
            ndcg[k].append(dcg / idcg)
    n_users = len(ndcg[ks[0]])
    if n_users == 0:
        return {"n_users": 0}
    out = {}
    for k in ks:
        out[f"P@{k}"] = hits[k] / listed[k]
        out[f"NDCG@{k}"] = sum(ndcg[k]) / len(ndcg[k])
    out["n_users"] = n_users
    return out


def assert_metrics_equal(got, expected):
    assert got.keys() == expected.keys()
    assert got["n_users"] == expected["n_users"]
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def from_dense(dense):
    return RatingMatrix.from_sparse(sparse.csr_array(np.asarray(dense, dtype=np.float64)))


# --------------------------------------------------------------------------------------------
# Hand-worked example


@pytest.fixture
def example():
    # 2 users x 5 items.
    # train: user 0 rated item 0; user 1 rated item 4.
    # test:  user 0 rated item 1 (4 stars) and item 3 (2 stars); user 1 rated item 0 (5 stars).
    train = from_dense([[5, 0, 0, 0, 0], [0, 0, 0, 0, 3]])
    test = from_dense([[0, 4, 0, 2, 0], [5, 0, 0, 0, 0]])
    scores = np.array([[9.0, 1.0, 5.0, 5.0, 0.0], [0.5, 0.2, 0.9, 0.1, 7.0]])
    return train, test, scores


def test_hand_worked_full_catalog(example):
    train, test, scores = example
    out = ranking_metrics(lambda users: scores[users], train, test, ks=(1, 2, 3))
    # User 0 ranks items 1..4 (item 0 is in train): scores 1, 5, 5, 0 -> [2, 3, 1, 4]; the tie
    # between items 2 and 3 goes to item 2. Relevant: {1, 3}.
    # User 1 ranks items 0..3: scores .5, .2, .9, .1 -> [2, 0, 1, 3]. Relevant: {0}.
    # Hits@1 = 0 + 0, hits@2 = 1 + 1, hits@3 = 2 + 1; every user lists k items.
    assert out["P@1"] == 0.0
    assert out["P@2"] == pytest.approx(2 / 4)
    assert out["P@3"] == pytest.approx(3 / 6)
    d2, d3 = 1 / math.log2(3), 1 / math.log2(4)  # discounts of ranks 2 and 3
    user0_ndcg2 = d2 / (1 + d2)  # hit at rank 2; ideal: hits at ranks 1 and 2
    user0_ndcg3 = (d2 + d3) / (1 + d2)
    user1_ndcg = d2 / 1  # hit at rank 2; ideal: one hit at rank 1
    assert out["NDCG@1"] == 0.0
    assert out["NDCG@2"] == pytest.approx((user0_ndcg2 + user1_ndcg) / 2)
    assert out["NDCG@3"] == pytest.approx((user0_ndcg3 + user1_ndcg) / 2)
    assert out["n_users"] == 2


def test_hand_worked_threshold(example):
    train, test, scores = example
    out = ranking_metrics(lambda users: scores[users], train, test, ks=(3,), threshold=3)
    # Item 3 (2 stars) is no longer relevant for user 0: hits@3 = 1 (item 1) + 1.
    assert out["P@3"] == pytest.approx(2 / 6)
    d2, d3 = 1 / math.log2(3), 1 / math.log2(4)
    assert out["NDCG@3"] == pytest.approx((d3 / 1 + d2 / 1) / 2)


def test_hand_worked_test_items_graded(example):
    train, test, scores = example
    out = ranking_metrics(
        lambda users: scores[users], train, test, ks=(1, 3), protocol="test_items", gain="graded"
    )
    # User 0 ranks only items {1, 3}: scores 1, 5 -> [3, 1]; |R| = min(3, 2) = 2.
    # User 1 ranks only item 0; |R| = 1. Every listed item is relevant.
    assert out["P@1"] == 1.0 and out["P@3"] == 1.0
    d2 = 1 / math.log2(3)
    gain_4, gain_2 = 2**4 - 1, 2**2 - 1
    user0_ndcg1 = gain_2 / gain_4
    user0_ndcg3 = (gain_2 + gain_4 * d2) / (gain_4 + gain_2 * d2)
    assert out["NDCG@1"] == pytest.approx((user0_ndcg1 + 1) / 2)
    assert out["NDCG@3"] == pytest.approx((user0_ndcg3 + 1) / 2)


def test_users_without_relevant_items_are_skipped(example):
    train, test, scores = example
    out = ranking_metrics(lambda users: scores[users], train, test, ks=(1,), threshold=5)
    assert out["n_users"] == 1  # only user 1 has a 5-star test item


def test_precision_equals_mean_of_per_user_precision_when_all_users_list_k(example):
    train, test, scores = example
    out = ranking_metrics(lambda users: scores[users], train, test, ks=(2,))
    per_user = [1 / 2, 1 / 2]  # from the hand-worked example
    assert out["P@2"] == pytest.approx(np.mean(per_user))


# --------------------------------------------------------------------------------------------
# Property test against the plain-loop reference


@st.composite
def problems(draw):
    n_users = draw(st.integers(1, 7))
    n_items = draw(st.integers(1, 9))
    cells = st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5])
    dense = np.array(
        draw(st.lists(cells, min_size=n_users * n_items, max_size=n_users * n_items))
    ).reshape(n_users, n_items)
    assume(np.count_nonzero(dense) >= 2)
    # Few distinct values, so that ties are common; infinities must rank like any number.
    values = st.sampled_from([-np.inf, -1.0, 0.0, 0.5, 1.0, 2.0, np.inf])
    scores = np.array(
        draw(st.lists(values, min_size=n_users * n_items, max_size=n_users * n_items))
    ).reshape(n_users, n_items)
    return dense, scores


@settings(max_examples=150, deadline=None)
@given(
    problems(),
    st.integers(0, 2**16),
    st.lists(st.integers(1, 12), min_size=1, max_size=4),
    st.sampled_from([None, 1, 3, 4.5, 5]),
    st.sampled_from(["full_catalog", "test_items"]),
    st.sampled_from(["binary", "graded"]),
    st.integers(1, 4),
)
def test_matches_plain_loop_reference(problem, seed, ks, threshold, protocol, gain, chunk_size):
    dense, scores = problem
    full = from_dense(dense)
    try:
        train, test = full.random_split(0.4, seed=seed)
    except ValueError:
        assume(False)
    if protocol == "full_catalog":
        # Scores of training items must be ignored, whatever they are.
        scores = scores.copy()
        scores[train.users, train.items] = np.nan
    calls = []

    def score_fn(users):
        calls.append(users.copy())
        return scores[users]

    ks = tuple(sorted(set(ks)))
    expected = reference_metrics(scores, train, test, ks, threshold, protocol, gain)
    if expected["n_users"] == 0:
        with pytest.raises(ValueError, match="No user has a relevant test item"):
            ranking_metrics(score_fn, train, test, ks, threshold, protocol, gain, chunk_size)
        return
    got = ranking_metrics(score_fn, train, test, ks, threshold, protocol, gain, chunk_size)
    assert_metrics_equal(got, expected)
    assert all(len(c) <= chunk_size for c in calls)
    assert sum(len(c) for c in calls) == expected["n_users"]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 12),
    st.integers(0, 2**16),
    st.integers(1, 14),
)
def test_top_k_items_matches_sorted(rows, n_items, seed, k):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 3, size=(rows, n_items)).astype(float)
    valid = rng.random((rows, n_items)) < 0.7
    k = min(k, n_items)
    top, ok = top_k_items(scores, valid, k)
    for r in range(rows):
        ranked = sorted(np.flatnonzero(valid[r]).tolist(), key=lambda i: (-scores[r, i], i))[:k]
        assert top[r, : len(ranked)].tolist() == ranked
        assert ok[r].tolist() == [j < len(ranked) for j in range(k)]


# --------------------------------------------------------------------------------------------
# Errors


def test_score_fn_output_is_checked(example):
    train, test, scores = example
    with pytest.raises(ValueError, match=r"shape \(len\(user_indices\), n_items\) = \(2, 5\)"):
        ranking_metrics(lambda users: scores[users, :4], train, test)
    with pytest.raises(ValueError, match="real numbers"):
        ranking_metrics(lambda users: scores[users].astype(str), train, test)
    nan_scores = scores.copy()
    nan_scores[0, 2] = np.nan  # item 2 is a candidate of user 0
    with pytest.raises(ValueError, match=r"1 NaN score\(s\) for candidate items.*\(0, 2\)"):
        ranking_metrics(lambda users: nan_scores[users], train, test)


def test_overlapping_train_and_test_are_refused_for_full_catalog(example):
    train, _, scores = example
    with pytest.raises(
        ValueError, match=r"2 \(user, item\) pair\(s\) are in both.*\(0, 0\), \(1, 4\)"
    ):
        ranking_metrics(lambda users: scores[users], train, train)
    # The test-items protocol ranks test items only, so overlap does not matter there.
    out = ranking_metrics(lambda users: scores[users], train, train, protocol="test_items")
    assert out["P@3"] == 1.0


def test_mismatched_matrices_are_refused(example):
    train, _, scores = example
    other = from_dense([[1, 0, 0, 0, 0, 2], [0, 3, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="2 users x 5 items but test is 2 x 6"):
        ranking_metrics(lambda users: scores[users], train, other)
    # Same shape as train, but users are called "a" and "b" instead of 0 and 1.
    renamed = RatingMatrix.from_arrays(["a", "a", "b", "b", "b"], [0, 1, 2, 3, 4], [1] * 5)
    with pytest.raises(ValueError, match="different user or item id maps"):
        ranking_metrics(lambda users: scores[users], train, renamed)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"ks": (0, 3)}, r"ks=\(0, 3\)"),
        ({"ks": ()}, r"ks=\(\)"),
        ({"ks": (2.5,)}, "ks="),
        ({"protocol": "sampled"}, "protocol='sampled'"),
        ({"gain": "exp"}, "gain='exp'"),
        ({"threshold": float("nan")}, "threshold=nan"),
        ({"chunk_size": 0}, "chunk_size=0"),
    ],
)
def test_bad_options(example, kwargs, pattern):
    train, test, scores = example
    with pytest.raises(ValueError, match=pattern):
        ranking_metrics(lambda users: scores[users], train, test, **kwargs)


def test_single_int_k(example):
    train, test, scores = example
    assert set(ranking_metrics(lambda u: scores[u], train, test, ks=2)) == {
        "P@2",
        "NDCG@2",
        "n_users",
    }


def test_module_docstring_discusses_keras_rs():
    doc = ranking_module.__doc__
    assert "keras_rs.metrics.PrecisionAtK" in doc and "keras_rs.metrics.NDCG" in doc


# --------------------------------------------------------------------------------------------
# Real data


@pytest.mark.skipif(not U_DATA.is_file(), reason=f"MovieLens 100K not found at {U_DATA}")
def test_movielens_100k_popularity_matches_reference():
    frame = pd.read_csv(U_DATA, sep="\t", names=["user", "item", "rating", "timestamp"])
    train, test = RatingMatrix.from_dataframe(frame).random_split(0.2, seed=0)
    # Popularity scores have many ties, which exercises the tie-breaking rule.
    popularity = np.bincount(train.items, minlength=train.n_items).astype(np.float32)

    def score_fn(users):
        return np.broadcast_to(popularity, (len(users), train.n_items))

    start = time.perf_counter()
    got = ranking_metrics(score_fn, train, test, ks=(1, 5, 10, 20), threshold=4, chunk_size=300)
    elapsed = time.perf_counter() - start
    expected = reference_metrics(
        np.broadcast_to(popularity, (train.n_users, train.n_items)),
        train,
        test,
        (1, 5, 10, 20),
        4,
        "full_catalog",
        "binary",
    )
    assert_metrics_equal(got, expected)
    assert 0.0 < got["P@10"] < 1.0
    assert elapsed < 5.0
