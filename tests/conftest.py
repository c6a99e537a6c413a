import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Keras ops are slow to call eagerly, so keep property tests small and without deadlines.
settings.register_profile(
    "keras-hem", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
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
    """The shared MovieLens folder, also set as KERAS_HEM_DATA; skips the test without it."""
    folder = next(
        (
            p
            for p in _SHARED_DATA_CANDIDATES
            if os.path.isfile(os.path.join(p, "ml-100k", "u.data"))
        ),
        None,
    )
    if folder is None:
        pytest.skip(f"no ml-100k/u.data in any of {_SHARED_DATA_CANDIDATES}")
    monkeypatch.setenv("KERAS_HEM_DATA", folder)
    return folder
