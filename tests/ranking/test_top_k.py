"""Chunked top-k against ranking the whole score matrix at once."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from keras_hem.ranking import TopK, chunk_size_for, chunked_top_k


def reference_top_k(scores, exclude, k):
    """Per user: sort the candidates by (-score, item index), keep k."""
    rows = []
    for u, row in enumerate(scores):
        candidates = [i for i in range(len(row)) if exclude is None or exclude[u, i] == 0]
        best = sorted(candidates, key=lambda i: (-row[i], i))[:k]
        rows.append([(i, row[i]) for i in best])
    return rows


def as_lists(top):
    return [
        [(int(i), s) for i, s, ok in zip(items, scores, valid, strict=True) if ok]
        for items, scores, valid in zip(top.items, top.scores, top.valid, strict=True)
    ]


@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 7)),
    k=st.integers(1, 9),
    chunk_size=st.integers(1, 10),
    seed=st.integers(0, 1000),
    levels=st.integers(1, 4),
)
def test_top_k_from_chunks_equals_top_k_of_the_full_matrix(shape, k, chunk_size, seed, levels):
    rng = np.random.default_rng(seed)
    # Few distinct values, so that ties are common.
    scores = rng.integers(0, levels, shape).astype(np.float32)
    exclude = sp.csr_array(rng.random(shape) < 0.3)
    users = rng.integers(0, shape[0], rng.integers(0, 12))
    top = chunked_top_k(lambda u: scores[u], users, k, exclude=exclude, chunk_size=chunk_size)
    expected = reference_top_k(scores[users], exclude.toarray()[users], k)
    assert as_lists(top) == expected
    assert top.items.shape == (len(users), min(k, shape[1])) or len(users) == 0


def test_scorer_objects_and_the_default_chunk_size():
    class Table:
        name, n_items = "table", 4

        def __init__(self):
            self.calls = []

        def score(self, users):
            self.calls.append(len(users))
            return np.tile(np.array([0.1, 0.4, 0.3, 0.2], "float32"), (len(users), 1))

    table = Table()
    top = chunked_top_k(table, np.arange(10), k=2)
    assert isinstance(top, TopK) and top.items.tolist() == [[1, 2]] * 10
    assert top.scores.dtype == np.float32
    assert table.calls == [10]  # one chunk: chunk_size_for(4) is far more than 10 users
    assert chunk_size_for(4, cells=12) == 3 and chunk_size_for(10**9) == 1


def test_unknown_users_exclude_nothing_and_no_users_give_empty_arrays():
    scores = np.array([[3.0, 2.0, 1.0]], "float32")
    exclude = sp.csr_array(np.array([[1, 0, 0]]))
    top = chunked_top_k(lambda u: np.repeat(scores, len(u), 0), np.array([-1, 0]), 1, exclude)
    assert top.items[:, 0].tolist() == [0, 1]
    empty = chunked_top_k(lambda u: scores[u], np.array([], int), 3)
    assert empty.items.shape == (0, 3)


@pytest.mark.parametrize(("k", "chunk_size"), [(0, None), (2, 0), (True, 1), (2, 1.5)])
def test_bad_arguments(k, chunk_size):
    with pytest.raises(ValueError, match="positive integer"):
        chunked_top_k(lambda u: np.zeros((len(u), 2)), np.arange(2), k, chunk_size=chunk_size)
