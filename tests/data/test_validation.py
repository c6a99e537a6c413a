import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keras_hem.data import validation

PACKAGE = Path(__file__).resolve().parents[2] / "keras_hem"


@pytest.fixture(autouse=True)
def _reset_keras_state():
    # Overrides tests/conftest.py: nothing here touches Keras, and its clear_session() costs
    # about 0.4 s per test.
    yield


# The input pipeline feeds Keras's trainers, so it alone may import keras (never TensorFlow:
# tf.data is imported where it is used, on the TensorFlow backend).
KERAS_ALLOWED = {"pipeline.py"}


@pytest.mark.parametrize("subpackage", ["data", "datasets", "evaluation"])
def test_modules_do_not_import_tensorflow_or_keras_at_module_level(subpackage):
    for path in (PACKAGE / subpackage).glob("*.py"):
        banned = ("tensorflow",) if path.name in KERAS_ALLOWED else ("tensorflow", "keras")
        tree = ast.parse(path.read_text())
        for node in tree.body:  # top level only: a deferred import inside a function is fine
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in banned, (path, name)


def test_bad_rows_error_names_column_count_and_at_most_five_rows():
    values = np.arange(10.0)
    err = validation.bad_rows_error("rating", "are odd", np.arange(1, 10, 1), values)
    message = str(err)
    assert "'rating'" in message
    assert "9 row(s) are odd" in message
    assert "row 5: 5.0" in message
    assert "row 6" not in message
    assert message.endswith(", ....")


def test_bad_rows_error_uses_labels():
    err = validation.bad_rows_error("x", "are bad", np.array([1]), [0, 7], labels=["a", "b"])
    assert "row 'b': 7" in str(err)


def test_check_columns():
    frame = pd.DataFrame({"user": [1], "item": [2]})
    validation.check_columns(frame, ["user", "item"])
    with pytest.raises(ValueError, match=r"Missing column\(s\) \['rating'\].*'user', 'item'"):
        validation.check_columns(frame, ["user", "item", "rating"])
    with pytest.raises(TypeError, match="DataFrame"):
        validation.check_columns({"user": [1]}, ["user"])


def test_check_same_length():
    validation.check_same_length({"a": [1, 2], "b": np.zeros(2)})
    with pytest.raises(ValueError, match="a=2, b=3"):
        validation.check_same_length({"a": [1, 2], "b": [1, 2, 3]})
    with pytest.raises(ValueError, match="`b` must be 1-D"):
        validation.check_same_length({"a": [1, 2], "b": np.zeros((2, 1))})


def test_check_not_empty():
    with pytest.raises(ValueError, match="DataFrame holds no ratings"):
        validation.check_not_empty(0, "DataFrame")


def test_check_ids_reports_missing_ids():
    ids = np.array(["a", None, "c", np.nan], dtype=object)
    with pytest.raises(ValueError, match=r"Column 'user': 2 row\(s\) have a missing id.*row 1"):
        validation.check_ids(ids, "user")


def test_coerce_ratings_accepts_numeric_strings():
    out = validation.coerce_ratings(np.array(["4", 3.5, 2], dtype=object), "rating")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [4.0, 3.5, 2.0])


@pytest.mark.parametrize(
    ("values", "pattern"),
    [
        (["1", "x", "y"], r"2 row\(s\) are not numbers.*row 1: 'x', row 2: 'y'"),
        ([1.0, np.nan, np.inf, -np.inf], r"3 row\(s\) are NaN, missing or infinite"),
        ([1, None, 2], r"1 row\(s\) are NaN, missing or infinite.*row 1: nan"),
        ([1, 0, -2, 3], r"2 row\(s\) are <= 0.*0 for a missing rating.*row 1: 0.0, row 2: -2.0"),
    ],
)
def test_coerce_ratings_rejects(values, pattern):
    with pytest.raises(ValueError, match=pattern):
        validation.coerce_ratings(np.array(values, dtype=object), "rating")


def test_coerce_ratings_rejects_booleans():
    with pytest.raises(ValueError, match="'stars' is boolean"):
        validation.coerce_ratings(np.array([True, False]), "stars")


@pytest.mark.parametrize(
    ("scale", "step", "pattern"),
    [
        ((1,), None, r"scale=\(1,\)"),
        ("ab", None, "scale='ab'"),
        ((5, 1), None, r"min <= max, got scale=\(5, 1\)"),
        ((1, np.inf), None, "finite"),
        (None, 0, "step=0"),
        (None, "1", "step='1'"),
    ],
)
def test_validate_scale_rejects(scale, step, pattern):
    with pytest.raises(ValueError, match=pattern):
        validation.validate_scale(scale, step)


def test_check_scale_infers_or_enforces():
    ratings = np.array([1.0, 2.5, 4.0])
    assert validation.check_scale(ratings, None, None, "r") == (1.0, 4.0)
    assert validation.check_scale(ratings, (0.5, 5.0), 0.5, "r") == (0.5, 5.0)
    with pytest.raises(ValueError, match=r"1 row\(s\) are outside the declared scale.*row 2: 4.0"):
        validation.check_scale(ratings, (1.0, 3.0), None, "r")
    with pytest.raises(ValueError, match=r"1 row\(s\) are not on the rating grid.*row 1: 2.5"):
        validation.check_scale(ratings, (1.0, 5.0), 1.0, "r")


def test_check_scale_grid_is_anchored_at_zero_when_scale_is_inferred():
    # The inferred minimum 1.5 is on the 0.5 grid, 1.7 is not, whatever the data minimum is.
    validation.check_scale(np.array([1.5, 2.0]), None, 0.5, "r")
    with pytest.raises(ValueError, match=r"grid 0.0 \+ j \* 0.5.*row 0: 1.7"):
        validation.check_scale(np.array([1.7, 2.2]), None, 0.5, "r")


def test_check_scale_tolerates_float_noise_on_the_grid():
    validation.check_scale(np.array([3.4999999999]), (0.5, 5.0), 0.5, "r")


def test_resolve_duplicates_policies():
    users = np.array([1, 0, 1, 1])
    items = np.array([0, 1, 0, 1])
    ratings = np.array([2.0, 3.0, 4.0, 5.0])

    def labels(pos):
        return [(f"u{u}", f"i{i}") for u, i in zip(users[pos], items[pos], strict=True)]

    u, i, r = validation.resolve_duplicates(users, items, ratings, 2, "last", labels)
    assert (u.tolist(), i.tolist(), r.tolist()) == ([0, 1, 1], [1, 0, 1], [3.0, 4.0, 5.0])
    u, i, r = validation.resolve_duplicates(users, items, ratings, 2, "mean", labels)
    assert r.tolist() == [3.0, 3.0, 5.0]
    with pytest.raises(ValueError, match=r"'\(u, i\)': 2 row\(s\) repeat.*row 0: \('u1', 'i0'\)"):
        validation.resolve_duplicates(users, items, ratings, 2, "error", labels, column="(u, i)")


def test_resolve_duplicates_without_duplicates_only_sorts():
    u, i, r = validation.resolve_duplicates(
        np.array([1, 0]), np.array([0, 0]), np.array([1.0, 2.0]), 1, "error", None
    )
    assert (u.tolist(), r.tolist()) == ([0, 1], [2.0, 1.0])


def test_validate_duplicates_policy_and_fraction():
    with pytest.raises(ValueError, match="duplicates='first'"):
        validation.validate_duplicates_policy("first")
    for bad in (0, 1, 1.5, -0.1, "0.2", None):
        with pytest.raises(ValueError, match="test_fraction"):
            validation.validate_fraction(bad, "test_fraction")
