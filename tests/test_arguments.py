"""The shared argument checks: accepted values come back converted, bad ones are quoted."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_hem.arguments import check_choice, check_integer, check_number


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_check_number_accepts_exactly_the_numbers_at_or_above_the_bound(value):
    if value >= 0:
        assert check_number("w", value) == value
    else:
        with pytest.raises(ValueError, match=r"`w` must be a number >= 0, got w="):
            check_number("w", value)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_strict_finite_check_rejects_zero_nan_and_infinity(value):
    if 0 < value < math.inf:
        assert check_number("rate", value, strict=True, finite=True) == value
    else:
        with pytest.raises(ValueError, match=r"`rate` must be a positive number, got rate="):
            check_number("rate", value, strict=True, finite=True)


def test_check_number_messages_and_conversions():
    assert check_number("w", np.float32(0.5)) == 0.5
    assert isinstance(check_number("w", 3), float)
    assert check_number("w", None, allow_none=True) is None
    assert check_number("w", math.inf) == math.inf  # no `finite`: infinity is a number >= 0
    with pytest.raises(ValueError, match=r"must be a number >= 0 or None, got w=-1\."):
        check_number("w", -1, allow_none=True)
    with pytest.raises(ValueError, match=r"must be a number >= 0, got w=None\."):
        check_number("w", None)
    with pytest.raises(ValueError, match=r"must be a number >= 0, got w=True\."):
        check_number("w", True)
    with pytest.raises(ValueError, match=r"must be a number >= 0, got w='1'\."):
        check_number("w", "1")
    with pytest.raises(ValueError, match=r"must be a number > 2, got w=2\."):
        check_number("w", 2, minimum=2, strict=True)


def test_check_integer_and_check_choice_quote_the_value():
    assert check_integer("k", np.int64(3), minimum=1) == 3
    with pytest.raises(ValueError, match=r"`k` must be a positive integer, got k=0\."):
        check_integer("k", 0, minimum=1)
    with pytest.raises(ValueError, match=r"`k` must be an integer in \[1, 5\], got k=2\.5\."):
        check_integer("k", 2.5, minimum=1, maximum=5)
    assert check_choice("mode", "min", ("min", "max")) == "min"
    with pytest.raises(ValueError, match=r"must be one of \('min', 'max'\), got mode='mean'\."):
        check_choice("mode", "mean", ("min", "max"))
