"""Data-parallel training through keras.distribution on JAX: devices and processes."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from backend import once_per_suite

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "examples", "train_data_parallel.py")

pytest.importorskip("jax")


def run(*args, env=None):
    environment = {**os.environ, "KERAS_BACKEND": "jax", **(env or {})}
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=environment, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_same_training(one, other):
    assert one["history"].keys() == other["history"].keys()
    for key, values in one["history"].items():
        assert other["history"][key] == pytest.approx(values, rel=1e-5, abs=1e-6), key
    assert other["weight_sums"] == pytest.approx(one["weight_sums"], rel=1e-5, abs=1e-5)


MINING = textwrap.dedent("""
    import json, os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec
    from keras_hem.mining import TripletHardMiner

    rng = np.random.default_rng(0)
    features = rng.normal(size=(16, 7)).astype("float32")
    labels = rng.integers(0, 2, 16).astype("int32")
    mine = jax.jit(lambda f, l: TripletHardMiner()(f, l))
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    split = NamedSharding(mesh, PartitionSpec("batch"))
    global_batch = [np.asarray(t) for t in mine(features, labels)]
    sharded = [np.asarray(t) for t in mine(jax.device_put(features, split),
                                          jax.device_put(labels, split))]
    # What per-device mining (TF Addons under MirroredStrategy) would give: two halves.
    halves = [[np.asarray(t) for t in mine(features[s], labels[s])]
              for s in (slice(0, 8), slice(8, 16))]
    per_device_negatives = np.concatenate([halves[0][2], halves[1][2] + 8])
    print(json.dumps({
        "devices": len(jax.devices()),
        "same": all((a == b).all() for a, b in zip(global_batch, sharded)),
        "per_device_differs": bool((per_device_negatives != global_batch[2]).any()),
    }))
""")


@once_per_suite
def test_mining_under_data_parallel_sees_the_global_batch():
    result = run("-c", MINING)
    assert result["devices"] == 2
    assert result["same"]
    assert result["per_device_differs"]  # so the comparison above could have failed


@pytest.mark.slow
@once_per_suite
def test_data_parallel_over_two_devices_trains_like_one_device():
    one = run(SCRIPT, "--devices", "1")
    two = run(SCRIPT, "--devices", "2")
    assert (one["devices"], two["devices"]) == (1, 2)
    assert_same_training(one, two)


@pytest.mark.slow
@once_per_suite
def test_two_processes_train_like_one_process(tmp_path):
    one = run(SCRIPT, "--devices", "1")
    two = run(SCRIPT, "--processes", "2", "--out", str(tmp_path / "two.json"))
    assert two["processes"] == 2 and two["devices"] == 2
    assert_same_training(one, two)
