"""Shared timing helpers for the benchmark scripts."""

import json
import platform
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

RESULTS = Path(__file__).resolve().parent / "results"


def median_seconds(fn, *args, repeats=10, warmup=2):
    """Median wall time of `fn(*args)`, forcing the result to host memory."""
    for _ in range(warmup):
        keras.ops.convert_to_numpy(tf.nest.flatten(fn(*args))[0])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(tf.nest.flatten(fn(*args))[0])
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def machine():
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "cpu_count": __import__("os").cpu_count(),
        "gpus": [g.name for g in gpus],
        "processor": platform.processor() or platform.machine(),
    }


def write(name, payload):
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    print(f"wrote {path}")
    return path
