import keras
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_hem.ops import observed_mask


@given(
    ratings=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 5), st.integers(1, 7)),
        elements=st.sampled_from([0.0, -1.0, 1.0, 4.5, np.nan]),
    ),
    missing=st.sampled_from([0.0, -1.0, np.nan]),
)
def test_observed_mask_matches_numpy(ratings, missing):
    expected = ~np.isnan(ratings) if np.isnan(missing) else ratings != missing
    got = keras.ops.convert_to_numpy(observed_mask(ratings, missing))
    np.testing.assert_array_equal(got, expected)


def test_numpy_twin_agrees_and_ease_honours_a_nan_missing_value():
    from keras_hem.layers import EASEScorer
    from keras_hem.ops import observed_mask_numpy

    rows = np.array([[4.0, np.nan, 2.0], [np.nan, 5.0, 1.0]])
    np.testing.assert_array_equal(
        observed_mask_numpy(rows, np.nan), keras.ops.convert_to_numpy(observed_mask(rows, np.nan))
    )
    zeros = np.nan_to_num(rows, nan=0.0)
    by_nan, by_zero = EASEScorer(l2=1.0, missing_value=np.nan), EASEScorer(l2=1.0)
    by_nan.adapt(rows)
    by_zero.adapt(zeros)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(by_nan(rows)), keras.ops.convert_to_numpy(by_zero(zeros))
    )
