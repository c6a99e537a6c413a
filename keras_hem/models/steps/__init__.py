"""The backend-specific half of the adversarial autoencoder's training step.

The two-phase algorithm (reconstruction, then discriminator, then generator) is written once,
backend-neutrally, in `AdversarialAutoencoder.train_phases`; it asks its backend for two
things only:

* `minimize(loss_fn, variables, optimizer)`: differentiate `loss_fn() -> (loss, aux)` with
  respect to `variables`, let `optimizer` update them, return `aux`;
* `run(fn)`: call `fn()` where it may read and update the model's state (metrics).

Each backend's module supplies a `train_step` and a `test_step` built on those two:
`tensorflow.py` (`tf.GradientTape`, `tf.distribute` replicas), `jax.py` (stateless: every
variable's value is threaded through the compiled step) and `torch.py` (not supported yet).
"""

from __future__ import annotations

import types

import keras


def for_backend(backend: str | None = None) -> types.ModuleType:
    """The step module of `backend` (default: the active Keras backend).

    Args:
        backend: `"tensorflow"`, `"jax"` or `"torch"`; `None` for `keras.backend.backend()`.

    Returns:
        A module with `train_step(model, *args)` and `test_step(model, *args)`.

    Raises:
        NotImplementedError: for a backend without a training step.
    """
    backend = backend or keras.backend.backend()
    if backend == "tensorflow":
        from keras_hem.models.steps import tensorflow as module
    elif backend == "jax":
        from keras_hem.models.steps import jax as module
    elif backend == "torch":
        from keras_hem.models.steps import torch as module
    else:
        raise NotImplementedError(
            f"AdversarialAutoencoder has no training step for the {backend!r} backend; "
            "use KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax."
        )
    return module
