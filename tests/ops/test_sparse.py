"""The sparse products against dense NumPy references, and their gradients."""

import hypothesis.strategies as st
import keras
import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings

from keras_hem.data.pipeline import sparse_rows
from keras_hem.ops import gather_columns, pair_dot, sparse_dense_matmul, sparse_to_dense


@st.composite
def sparse_case(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n_rows, n_cols, width = (
        draw(st.integers(1, 9)),
        draw(st.integers(1, 12)),
        draw(st.integers(1, 5)),
    )
    dense = np.where(rng.random((n_rows, n_cols)) < 0.3, rng.integers(1, 6, (n_rows, n_cols)), 0)
    return dense.astype("float32"), rng.normal(size=(n_cols, width)).astype("float32")


@settings(deadline=None, max_examples=20)
@given(sparse_case())
def test_sparse_dense_matmul_equals_the_dense_product(case):
    dense, kernel = case
    batch = sparse_rows(sp.csr_array(dense), np.arange(len(dense)))
    out = sparse_dense_matmul(
        batch["row_ids"], batch["columns"], batch["values"], kernel, len(dense)
    )
    np.testing.assert_allclose(np.asarray(out), dense @ kernel, rtol=1e-5, atol=1e-5)


@settings(deadline=None, max_examples=20)
@given(st.integers(1, 6), st.integers(1, 9), st.integers(1, 5), st.integers(0, 2**16))
def test_pair_dot_and_gather_columns_pick_entries_of_the_product(n, m, width, seed):
    rng = np.random.default_rng(seed)
    codes = rng.normal(size=(n, width)).astype("float32")
    kernel = rng.normal(size=(m, width)).astype("float32")  # one row per output column
    full = codes @ kernel.T
    rows, columns = rng.integers(0, n, 7), rng.integers(0, m, 7)
    np.testing.assert_allclose(
        np.asarray(pair_dot(codes, rows, kernel, columns)), full[rows, columns], atol=1e-4
    )
    np.testing.assert_allclose(
        np.asarray(gather_columns(codes, kernel, columns)), full[:, columns], atol=1e-4
    )
    np.testing.assert_allclose(np.asarray(gather_columns(codes, kernel)), full, atol=1e-4)


def test_padding_entries_add_nothing():
    kernel = np.ones((3, 2), "float32")
    out = sparse_dense_matmul(
        np.array([0, 0, 0]), np.array([1, 0, 0]), np.array([2.0, 0.0, 0.0], "float32"), kernel, 2
    )
    assert np.asarray(out).tolist() == [[2.0, 2.0], [0.0, 0.0]]


def test_gradient_of_the_sparse_product_equals_the_dense_one():
    rng = np.random.default_rng(1)
    dense = np.where(rng.random((4, 6)) < 0.5, rng.integers(1, 6, (4, 6)), 0).astype("float32")
    kernel = keras.Variable(rng.normal(size=(6, 3)).astype("float32"))
    batch = sparse_rows(sp.csr_array(dense), np.arange(4))

    def sparse_loss():
        out = sparse_dense_matmul(batch["row_ids"], batch["columns"], batch["values"], kernel, 4)
        return keras.ops.sum(keras.ops.sin(out))

    # d/dK sum(sin(X K)) = X^T cos(X K)
    expected = dense.T @ np.cos(dense @ np.asarray(kernel))
    np.testing.assert_allclose(_gradient(sparse_loss, kernel), expected, rtol=1e-4, atol=1e-4)


def _gradient(loss_fn, variable):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        grad = tape.gradient(loss, variable.value)
        return np.asarray(tf.convert_to_tensor(grad))
    import jax

    def pure(value):
        with keras.StatelessScope(state_mapping=[(variable, value)]):
            return loss_fn()

    return np.asarray(jax.grad(pure)(variable.value))


@settings(deadline=None, max_examples=20)
@given(sparse_case())
def test_sparse_to_dense_gives_back_the_dense_rows(case):
    dense, _ = case
    batch = sparse_rows(sp.csr_array(dense), np.arange(len(dense)))  # padded entry lists
    out = sparse_to_dense(
        batch["row_ids"], batch["columns"], batch["values"], len(dense), dense.shape[1]
    )
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), dense)
