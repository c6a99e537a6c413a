import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_hem.evaluation import mae, rmse


@pytest.fixture(autouse=True)
def _reset_keras_state():
    # Overrides tests/conftest.py: nothing here touches Keras, and its clear_session() costs
    # about 0.4 s per test.
    yield


def test_hand_worked_values():
    y_true = [1.0, 3.0, 5.0]
    y_pred = [2.0, 3.0, 7.0]
    assert mae(y_true, y_pred) == pytest.approx(1.0)  # (1 + 0 + 2) / 3
    assert rmse(y_true, y_pred) == pytest.approx(math.sqrt(5 / 3))  # (1 + 0 + 4) / 3
    # Clipping to (1, 5) turns the prediction 7 into 5.
    assert mae(y_true, y_pred, scale=(1, 5)) == pytest.approx(1 / 3)
    assert rmse(y_true, y_pred, scale=(1, 5)) == pytest.approx(math.sqrt(1 / 3))


def test_accepts_any_array_shape_and_returns_float():
    value = mae(np.ones((2, 2)), np.zeros(4, dtype=np.float32))
    assert isinstance(value, float) and value == 1.0


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(1, 5), st.floats(-10, 10)), min_size=1, max_size=30),
    st.booleans(),
)
def test_match_plain_loop_reference(pairs, clip):
    y_true = [t for t, _ in pairs]
    y_pred = [p for _, p in pairs]
    scale = (1.0, 5.0) if clip else None
    errors = []
    for t, p in pairs:
        if clip:
            p = min(max(p, 1.0), 5.0)
        errors.append(t - p)
    assert mae(y_true, y_pred, scale) == pytest.approx(sum(abs(e) for e in errors) / len(errors))
    assert rmse(y_true, y_pred, scale) == pytest.approx(
        math.sqrt(sum(e * e for e in errors) / len(errors))
    )


@pytest.mark.parametrize(
    ("y_true", "y_pred", "scale", "pattern"),
    [
        ([1, 2], [1], None, "same number of values, got 2 and 1"),
        ([], [], None, "empty"),
        ([1, np.nan], [1, 2], None, r"y_true has 1 NaN or infinite value\(s\).*1: nan"),
        ([1, 2], [np.inf, 2], None, r"y_pred has 1 NaN"),
        ([1, 2], [1, 2], (5, 1), r"min <= max, got scale=\(5, 1\)"),
        ([1, 2], [1, 2], 3, "scale=3"),
    ],
)
def test_errors(y_true, y_pred, scale, pattern):
    for metric in (mae, rmse):
        with pytest.raises(ValueError, match=pattern):
            metric(y_true, y_pred, scale)
