import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Keras ops are slow to call eagerly, so keep property tests small and without deadlines.
# The default (TensorFlow) pass draws 40 cases a property; the second backend's pass, which
# dispatches eager ops more slowly, draws 15 of its own (CI runs both).
settings.register_profile(
    "keras-hem",
    max_examples=40 if keras.backend.backend() == "tensorflow" else 15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("keras-hem")


@pytest.fixture(autouse=True)
def _reset_keras_state():
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# shared/ (with the MovieLens files) sits inside the checkout on some machines and beside it
# (../shared) on others, as in tests/datasets/test_movielens.py.
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SHARED_DATA_CANDIDATES = [
    os.path.join(_REPO, "shared", "data"),
    os.path.join(os.path.dirname(_REPO), "shared", "data"),
]


@pytest.fixture
def movielens_dir(monkeypatch):
    """The MovieLens folder, also set as KERAS_HEM_DATA; skips the test without it.

    `KERAS_HEM_DATA` (as the README says) comes first, then a shared/ folder near the checkout.
    """
    candidates = [os.environ.get("KERAS_HEM_DATA", ""), *_SHARED_DATA_CANDIDATES]
    folder = next(
        (p for p in candidates if p and os.path.isfile(os.path.join(p, "ml-100k", "u.data"))),
        None,
    )
    if folder is None:
        pytest.skip(f"no ml-100k/u.data in $KERAS_HEM_DATA or any of {_SHARED_DATA_CANDIDATES}")
    monkeypatch.setenv("KERAS_HEM_DATA", folder)
    return folder
