"""MeanModelLabeler: classes from the global mean-model tree, against a NumPy reference."""

import keras
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reference import mean_model

from keras_hem.layers import MeanModelLabeler


def reference_labels(rows, depth, missing_value=0.0):
    """Loop over rows: the leaf of the global tree that each row's mean rating falls into.

    Also returns which rows are decided: a row whose mean ties a threshold (within float32
    rounding) may fall either side in the layer's float32 arithmetic.
    """
    rows = rows.astype(np.float64)
    observed = rows[rows != missing_value]
    thresholds = np.sort(mean_model(observed[None, :], depth)[0])
    labels, decided = [], []
    for row in rows:
        values = row[row != missing_value]
        mean = values.mean() if values.size else 0.0
        labels.append(0 if values.size == 0 else int(np.sum(mean > thresholds)))
        decided.append(values.size == 0 or np.abs(mean - thresholds).min() > 1e-5)
    return np.array(labels), np.array(decided)


@given(
    rows=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 8), st.integers(1, 12)),
        elements=st.sampled_from([0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
    ),
    depth=st.integers(1, 3),
)
def test_labels_match_a_loop_over_rows(rows, depth):
    if not (rows != 0).any():
        rows[0, 0] = 3.0
    labeler = MeanModelLabeler(label_depth=depth)
    labeler.adapt(rows)
    labels = keras.ops.convert_to_numpy(labeler(rows))
    expected, decided = reference_labels(rows, depth)
    np.testing.assert_array_equal(labels[decided], expected[decided])
    assert labels.min() >= 0 and labels.max() < 2**depth


def test_weights_are_created_in_build_and_adapt_builds():
    labeler = MeanModelLabeler(label_depth=2)
    assert not labeler.built and not labeler.weights and not labeler.is_adapted
    labeler.adapt(sp.csr_array(np.array([[5.0, 0.0], [1.0, 3.0]])))
    assert labeler.built and labeler.is_adapted
    assert tuple(labeler.thresholds.shape) == (3,)


def test_missing_value_nan_and_sparse_input_agree_with_dense():
    dense = np.array([[5.0, 0.0, 4.0], [1.0, 2.0, 0.0], [0.0, 0.0, 0.0]], "float32")
    with_nan = np.where(dense == 0, np.nan, dense).astype("float32")
    by_zero, by_nan = MeanModelLabeler(), MeanModelLabeler(missing_value=np.nan)
    by_zero.adapt(sp.csr_array(dense))
    by_nan.adapt(with_nan)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(by_zero(dense)), keras.ops.convert_to_numpy(by_nan(with_nan))
    )
    assert keras.ops.convert_to_numpy(by_zero(dense)).tolist() == [1, 0, 0]  # empty row: 0


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="label_depth=0"):
        MeanModelLabeler(label_depth=0)
    with pytest.raises(ValueError, match="label_depth=True"):
        MeanModelLabeler(label_depth=True)
    with pytest.raises(ValueError, match="no observed rating"):
        MeanModelLabeler().adapt(np.zeros((2, 3)))


def test_save_load_round_trip_keeps_the_adapted_tree(tmp_path):
    rows = np.array([[5.0, 4.0, 0.0], [1.0, 0.0, 2.0], [3.0, 3.0, 3.0]], "float32")
    labeler = MeanModelLabeler(label_depth=2, name="labels")
    labeler.adapt(rows)  # adapted, never called
    model = keras.Sequential([keras.Input((3,)), labeler])
    path = tmp_path / "labeler.keras"
    model.save(path)
    loaded = keras.saving.load_model(path).layers[0]
    assert isinstance(loaded, MeanModelLabeler) and loaded.label_depth == 2
    assert loaded.is_adapted
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(rows)), keras.ops.convert_to_numpy(labeler(rows))
    )
    assert MeanModelLabeler.from_config(labeler.get_config()).get_config() == labeler.get_config()
