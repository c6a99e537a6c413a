"""The batch pipeline: every row once per epoch, seeded order, sharding, padding, sparse twin."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from keras_hem.data.pipeline import RowBatches, SparseRowBatches, epoch_order, sparse_rows
from keras_hem.datasets.synthetic import low_rank_ratings


def rows_of(batches):
    return np.concatenate([batches[i] for i in range(len(batches))])


@given(n_rows=st.integers(1, 40), batch_size=st.integers(1, 16), seed=st.integers(0, 99))
def test_an_epoch_yields_every_row_once_in_the_seeded_order(n_rows, batch_size, seed):
    rows = np.arange(1, n_rows + 1, dtype="float32")[:, None] * np.eye(1, 3, dtype="float32")
    batches = RowBatches(rows, batch_size=batch_size, shuffle=True, seed=seed)
    assert len(batches) == -(-n_rows // batch_size)
    order = epoch_order(n_rows, seed, 0)
    np.testing.assert_array_equal(rows_of(batches), rows[order])
    batches.on_epoch_end()
    np.testing.assert_array_equal(rows_of(batches), rows[epoch_order(n_rows, seed, 1)])


def test_remainder_drop_and_pad():
    rows = low_rank_ratings(n_items=10, n_users=6, seed=0)
    assert len(RowBatches(rows, batch_size=4, remainder="drop")) == 2
    padded = RowBatches(rows, batch_size=4, remainder="pad")
    assert padded.n_padding == 2 and padded[2].shape == (4, 6)
    np.testing.assert_array_equal(padded[2][2:], 0.0)  # padding rows hold no rating
    np.testing.assert_array_equal(padded[2][:2], rows[8:])


def test_shards_join_into_the_global_batch():
    rows = low_rank_ratings(n_items=12, n_users=5, seed=1)
    whole = RowBatches(rows, batch_size=6, shuffle=True, seed=3)
    parts = [RowBatches(rows, batch_size=6, shuffle=True, seed=3, shard=(i, 2)) for i in (0, 1)]
    for index in range(len(whole)):
        joined = np.concatenate([part[index] for part in parts])
        np.testing.assert_array_equal(joined, whole[index])


def test_extras_and_targets_travel_with_their_rows():
    rows = low_rank_ratings(n_items=9, n_users=4, seed=2)
    labels = np.arange(9)
    batches = RowBatches(
        rows, targets=rows * 2, batch_size=4, shuffle=True, seed=1, extras={"labels": labels}
    )
    order = epoch_order(9, 1, 0)
    inputs, targets = batches[0]
    np.testing.assert_array_equal(inputs["labels"], labels[order[:4]])
    np.testing.assert_array_equal(inputs["ratings"], rows[order[:4]])
    np.testing.assert_array_equal(targets, 2 * rows[order[:4]])


def test_sparse_batches_hold_the_dense_batches_entries():
    rows = sp.random(30, 20, density=0.2, random_state=0, format="csr", dtype="float32")
    rows.data = np.ceil(rows.data * 5)
    dense = RowBatches(rows, batch_size=8, shuffle=True, seed=4)
    sparse = SparseRowBatches(rows, batch_size=8, shuffle=True, seed=4)
    for index in range(len(dense)):
        block, batch = dense[index], sparse[index]
        rebuilt = np.zeros_like(block)
        total = int(batch["row_counts"].sum())
        rebuilt[batch["row_ids"][:total], batch["columns"][:total]] = batch["values"][:total]
        np.testing.assert_array_equal(rebuilt, block)
        np.testing.assert_array_equal(batch["row_counts"], (block != 0).sum(axis=1))
        np.testing.assert_array_equal(batch["values"][total:], 0.0)  # padding adds nothing


def test_sparse_rows_marks_padding_rows_empty():
    out = sparse_rows(sp.csr_array(np.array([[0.0, 2.0], [3.0, 4.0]])), np.array([-1, 0]))
    assert out["row_counts"].tolist() == [0.0, 1.0]
    assert out["columns"][:1].tolist() == [1] and out["row_ids"][:1].tolist() == [1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"remainder": "wrap"}, "remainder='wrap'"),
        ({"shard": (2, 2)}, "shard"),
        ({"batch_size": 3, "shard": (0, 2)}, "multiple of the number of processes"),
        ({"extras": {"labels": np.arange(3)}}, "extras\\['labels'\\] has 3 entries"),
        ({"targets": np.zeros((2, 2))}, "shape of the rows"),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RowBatches(np.ones((4, 3), "float32"), **{"batch_size": 2, **kwargs})


def test_out_of_range_batch_index_raises():
    with pytest.raises(IndexError, match="out of range"):
        RowBatches(np.ones((4, 3), "float32"), batch_size=2)[2]
