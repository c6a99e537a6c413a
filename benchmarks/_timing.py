"""Shared timing helpers for the benchmark scripts."""

import json
import platform
import time
from pathlib import Path

import keras
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def median_seconds(fn, *args, repeats=10, warmup=2):
    """Median wall time of `fn(*args)` until every output is computed (no copy to the host)."""
    for _ in range(warmup):
        wait(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        wait(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def wait(outputs):
    """Block until `outputs` (and, on TensorFlow, all pending device work) are computed."""
    # Both backends dispatch asynchronously on a GPU; copying outputs to the host would time
    # the copy (a 4096 x 4096 distance matrix is 64 MB), so wait on the device instead.
    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready(outputs)
    else:
        import tensorflow as tf

        tf.test.experimental.sync_devices()


def xla(fn):
    """`fn` compiled with XLA by the active Keras backend (TensorFlow or JAX)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    raise SystemExit(f"no XLA compile for the {backend!r} backend; use tensorflow or jax")


def machine():
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        framework = {"jax": jax.__version__}
        gpus = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    else:
        import tensorflow as tf

        framework = {"tensorflow": tf.__version__}
        gpus = [g.name for g in tf.config.list_physical_devices("GPU")]
    return {
        "python": platform.python_version(),
        **framework,
        "keras": keras.__version__,
        "backend": backend,
        "cpu_count": __import__("os").cpu_count(),
        "gpus": gpus,
        "processor": platform.processor() or platform.machine(),
    }


def write(name, payload, folder=RESULTS):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    print(f"wrote {path}")
    return path
