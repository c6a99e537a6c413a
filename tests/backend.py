"""Backend-specific test helpers, so the keras.ops pieces are tested on every backend they run on.

The layer, loss and miner tests run under `KERAS_BACKEND=tensorflow` (the default) and
`KERAS_BACKEND=jax`; only tests of TensorFlow-only features (tf.data, string tensors, the
training step) are marked `requires_tensorflow`.
"""

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()

requires_tensorflow = pytest.mark.skipif(
    BACKEND != "tensorflow", reason=f"TensorFlow-only feature; the backend is {BACKEND!r}"
)

# Tests that start their own processes with the backend they need (parity between backends,
# JAX distribution, a TensorFlow-free import, the wheel): the outcome does not depend on the
# backend of the pytest run, so CI runs them once, in the default (TensorFlow) pass.
once_per_suite = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="starts its own processes with the backends it needs; run in the default pass",
)

# Tests whose subject is the same on every backend: the command line, the docs site and the
# benchmark scripts (argument handling, files written, tables rendered), the quickstart
# example (a Recommender on MovieLens), NumPy-side Recommender policy (ensembles, where a
# ranking head goes, the global kernel's second stage) and the CSR row features. The fits
# and layers under them are tested on every backend elsewhere (test_recommender,
# test_checkpoint, test_hem_aae, tests/layers), so CI runs these once, in the default pass
# (the second backend's pass stays within its time budget).
backend_independent = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="command-line, benchmark-script, quickstart or NumPy-side plumbing, the same on "
    "every backend; run in the default pass",
)


def xla(fn, dynamic_batch=None):
    """`fn` compiled with XLA by the active backend.

    `dynamic_batch` (TensorFlow only): per-argument trailing shapes, compiled with an unknown
    batch size, as Keras retraces a step for a short last batch. JAX compiles per shape, so
    there is no unknown batch size to test.
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        signature = None
        if dynamic_batch is not None:
            signature = [tf.TensorSpec([None, *shape], dtype) for shape, dtype in dynamic_batch]
        return tf.function(fn, jit_compile=True, input_signature=signature)
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    pytest.skip(f"no XLA compile helper for the {BACKEND!r} backend")


def value_and_gradient(fn, x):
    """`fn(x)` and its gradient with respect to the array `x`, as NumPy."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        variable = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = fn(variable)
        return np.asarray(value), np.asarray(tape.gradient(value, variable))
    if BACKEND == "jax":
        import jax

        value, grad = jax.value_and_grad(fn)(jax.numpy.asarray(x))
        return np.asarray(value), np.asarray(grad)
    pytest.skip(f"no gradient helper for the {BACKEND!r} backend")
