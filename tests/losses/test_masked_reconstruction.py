"""The reconstruction term of eq 9: squared error over observed entries, summed or averaged."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_hem.losses import masked_squared_error

ratings = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
    elements=st.sampled_from([0.0, 1.0, 2.5, 5.0]),
)


def reference(y_true, y_pred, reduction):
    """Loop over every entry; 0 marks an unobserved one."""
    total, count = 0.0, 0
    for i in range(y_true.shape[0]):
        for j in range(y_true.shape[1]):
            if y_true[i, j] != 0:
                total += (float(y_true[i, j]) - float(y_pred[i, j])) ** 2
                count += 1
    return total if reduction == "sum" else total / max(count, 1)


@given(y_true=ratings, seed=st.integers(0, 2**16), reduction=st.sampled_from(["mean", "sum"]))
def test_matches_a_loop_over_the_observed_entries(y_true, seed, reduction):
    y_pred = np.random.default_rng(seed).normal(3.0, 2.0, y_true.shape).astype("float32")
    got = float(masked_squared_error(y_true, y_pred, reduction=reduction))
    np.testing.assert_allclose(got, reference(y_true, y_pred, reduction), rtol=1e-5, atol=1e-5)


def test_the_default_is_the_mean():
    y_true = np.array([[0.0, 4.0], [2.0, 0.0]], "float32")
    y_pred = np.array([[9.0, 3.0], [5.0, 9.0]], "float32")  # errors 1 and 3 where observed
    assert float(masked_squared_error(y_true, y_pred)) == 5.0
    assert float(masked_squared_error(y_true, y_pred, reduction="sum")) == 10.0
