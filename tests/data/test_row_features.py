"""Mean-model features and labels from CSR rows agree with the dense Keras layers."""

import hypothesis.strategies as st
import numpy as np
import scipy.sparse as sp
from backend import backend_independent
from hypothesis import given, settings

from keras_hem.data.row_features import mean_model_features, row_labels
from keras_hem.layers import MeanModel, MeanModelLabeler


@st.composite
def rating_rows(draw):
    n_rows = draw(st.integers(1, 12))
    n_cols = draw(st.integers(1, 15))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    # Half-star ratings, many ties with node means, and some rows without any rating.
    values = rng.integers(1, 11, (n_rows, n_cols)) / 2
    observed = rng.random((n_rows, n_cols)) < draw(st.floats(0.0, 1.0))
    return np.where(observed, values, 0.0).astype("float32")


# The CSR paths are NumPy, the same on every backend; the layers they are checked against
# have their own reference tests on every backend (tests/layers). So the module runs once,
# in the default pass.
pytestmark = backend_independent
EXAMPLES = 25


@settings(deadline=None, max_examples=EXAMPLES)
@given(rating_rows(), st.integers(1, 6), st.sampled_from([0.0, -1.0]))
def test_csr_mean_model_equals_the_layer(rows, depth, fill):
    expected = np.asarray(MeanModel(depth=depth, fill_value=fill)(rows))
    np.testing.assert_allclose(
        mean_model_features(sp.csr_array(rows), depth, fill), expected, atol=1e-5
    )


@settings(deadline=None, max_examples=EXAMPLES)
@given(rating_rows(), st.integers(1, 3))
def test_csr_labels_equal_the_labeler(rows, label_depth):
    labeler = MeanModelLabeler(label_depth=label_depth)
    if not rows.any():
        rows[0, 0] = 3.0
    labeler.adapt(rows)
    thresholds = np.asarray(labeler.thresholds)
    np.testing.assert_array_equal(row_labels(sp.csr_array(rows), thresholds), labeler(rows))


def test_explicit_zeros_in_the_csr_are_unobserved():
    rows = sp.csr_array((np.array([0.0, 4.0]), (np.array([0, 0]), np.array([0, 1]))), (1, 3))
    assert mean_model_features(rows, 1).tolist() == [[4.0]]


def test_features_of_a_wide_sparse_matrix_need_no_dense_block():
    # 10 rows x 10 million columns would be 400 MB dense; the CSR path reads 30 entries.
    rows = sp.random_array((10, 10_000_000), density=3e-7, random_state=0, format="csr")
    rows.data = np.ceil(rows.data * 5).astype("float32")
    features = mean_model_features(rows, 3)
    assert features.shape == (10, 7)
    counts = np.diff(rows.indptr)
    means = np.add.reduceat(rows.data, rows.indptr[:-1])[counts > 0] / counts[counts > 0]
    np.testing.assert_allclose(features[counts > 0, 0], means, rtol=1e-6)
