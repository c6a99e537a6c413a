"""PyTorch: not supported yet.

PyTorch's wheels on the package index bundle CUDA libraries (several GB), more than the
project's test machines can install within their time budget, so a PyTorch training step
would ship untested. Until it can be tested, training on the torch backend raises at once
with a clear message instead of failing somewhere inside Keras. The layers, losses and the
miner are `keras.ops` code and do not depend on this.
"""

MESSAGE = (
    "AdversarialAutoencoder's training step is not available on the PyTorch backend yet "
    "(it is untested there). Use KERAS_BACKEND=jax or KERAS_BACKEND=tensorflow; the "
    "layers, losses and the miner work on PyTorch as they are."
)


def train_step(model, data):
    """Raises `NotImplementedError` (see the module docstring)."""
    raise NotImplementedError(MESSAGE)


def test_step(model, data):
    """Raises `NotImplementedError` (see the module docstring)."""
    raise NotImplementedError(MESSAGE)
