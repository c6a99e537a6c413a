"""AveragedModels: an ensemble served through the one-model interface, against NumPy means."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_hem.data import RatingMatrix
from keras_hem.ranking import AveragedModels, EASEBlendScorer, HeadScorer, RatingScorer


class LinearModel:
    """A stand-in with HEMAAE's serving interface: codes `rows @ A`, outputs `codes @ B`."""

    def __init__(self, n_columns, width, seed, orientation="item"):
        rng = np.random.default_rng(seed)
        self.encoder = rng.normal(size=(n_columns, width)).astype(np.float32)
        self.decoder = rng.normal(size=(width, n_columns)).astype(np.float32)
        self.head = rng.normal(size=(width, n_columns)).astype(np.float32)
        self.orientation = orientation

    def encode(self, rows, batch_size=None):
        dense = rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows)
        return dense @ self.encoder

    def _at(self, matrix, codes, columns):
        out = codes @ matrix
        return out if columns is None else out[:, np.asarray(columns)]

    def decode(self, codes, columns=None):
        return self._at(self.decoder, codes, columns)

    def decode_pairs(self, codes, columns):
        return np.einsum("ph,hp->p", codes, self.decoder[:, np.asarray(columns)])

    def ranking_logits(self, codes, columns=None):
        return self._at(self.head, codes, columns)

    def observation_scores(self, codes, columns=None):
        return 1.0 / (1.0 + np.exp(-self.ranking_logits(codes, columns)))


def train_matrix():
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((7, 5)) < 0.5)
    return RatingMatrix.from_arrays(users, items, rng.integers(1, 6, len(users)).astype(float))


@pytest.mark.parametrize("widths", [(3,), (2, 4), (3, 1, 2)])
def test_every_output_is_the_members_mean(widths):
    train = train_matrix()
    rows = train.to_item_user_csr()
    members = [LinearModel(train.n_users, w, seed) for seed, w in enumerate(widths)]
    ensemble = AveragedModels(members)
    codes = ensemble.encode(rows)
    assert codes.shape == (train.n_items, sum(widths))
    own = [m.encode(rows) for m in members]
    columns = [4, 0, 2]
    for method in ("decode", "ranking_logits", "observation_scores"):
        expected = np.mean([getattr(m, method)(c, columns) for m, c in zip(members, own)], axis=0)
        np.testing.assert_allclose(getattr(ensemble, method)(codes, columns), expected, rtol=1e-5)
        full = np.mean([getattr(m, method)(c) for m, c in zip(members, own)], axis=0)
        np.testing.assert_allclose(getattr(ensemble, method)(codes), full, rtol=1e-5)
    pairs = np.array([1, 3, 3, 0, train.n_users - 1])
    expected = np.mean([m.decode_pairs(c[[0, 1, 2, 3, 4]], pairs) for m, c in zip(members, own)], 0)
    np.testing.assert_allclose(ensemble.decode_pairs(codes[[0, 1, 2, 3, 4]], pairs), expected, 1e-5)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=4),
    st.integers(0, 2**16),
)
def test_scorers_rank_an_ensemble_by_the_mean_reconstruction(widths, seed):
    train = train_matrix()
    members = [LinearModel(train.n_users, w, seed + k) for k, w in enumerate(widths)]
    users = np.arange(train.n_users)
    alone = [RatingScorer(m, train) for m in members]
    together = RatingScorer(AveragedModels(members), train)
    reference = np.mean([s.reconstruction(users) for s in alone], axis=0)
    np.testing.assert_allclose(together.reconstruction(users), reference, rtol=1e-4, atol=1e-4)
    pairs = np.mean([s.predict_pairs(train.users, train.items) for s in alone], axis=0)
    np.testing.assert_allclose(
        together.predict_pairs(train.users, train.items), pairs, rtol=1e-4, atol=1e-4
    )
    head = np.mean([HeadScorer(s).score(users) for s in alone], axis=0)
    np.testing.assert_allclose(HeadScorer(together).score(users), head, rtol=1e-4, atol=1e-5)


def test_one_member_is_that_member():
    train = train_matrix()
    member = LinearModel(train.n_users, 3, 0)
    users = np.arange(train.n_users)
    alone = EASEBlendScorer(RatingScorer(member, train), head_weight=0.5).score(users)
    wrapped = EASEBlendScorer(RatingScorer(AveragedModels([member]), train), head_weight=0.5)
    np.testing.assert_allclose(wrapped.score(users), alone, rtol=1e-5, atol=1e-6)


def test_user_oriented_members_decode_user_rows():
    train = train_matrix()
    members = [LinearModel(train.n_items, 2, s, orientation="user") for s in (0, 1)]
    together = RatingScorer(AveragedModels(members), train)
    assert together.orientation == "user"
    users = np.array([0, 3])
    reference = np.mean([RatingScorer(m, train).reconstruction(users) for m in members], axis=0)
    np.testing.assert_allclose(together.reconstruction(users), reference, rtol=1e-5)


def test_bad_ensembles_are_refused_with_what_was_wrong():
    with pytest.raises(ValueError, match="at least one model"):
        AveragedModels([])
    item, user = LinearModel(5, 2, 0), LinearModel(5, 2, 1, orientation="user")
    with pytest.raises(ValueError, match=r"one orientation, got \['item', 'user'\]"):
        AveragedModels([item, user])
    ensemble = AveragedModels([item, LinearModel(5, 3, 2)])
    with pytest.raises(RuntimeError, match="encode first"):
        ensemble.decode(np.zeros((1, 5), np.float32))
    ensemble.encode(np.eye(5, dtype=np.float32))
    with pytest.raises(ValueError, match=r"width 5 \(the members' widths \[2, 3\]"):
        ensemble.decode(np.zeros((1, 4), np.float32))
