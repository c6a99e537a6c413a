"""benchmarks/bench_speed.py: its hand-written HEM-AAE step is the library's, and a smoke run."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
BACKEND = keras.backend.backend()

pytestmark = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"), reason=f"bench_speed.py does not run on {BACKEND!r}"
)


@pytest.fixture
def bench(monkeypatch):
    sys.modules.pop("bench_speed", None)
    import bench_speed

    return bench_speed


def library_weights(model):
    """The library model's weights under the hand-written loop's names."""
    dense = {
        "V": model.encoder.layers[0],
        "W": model.decoder.layers[0],
        "D1": model.discriminator.layers[0],
        "D2": model.discriminator.layers[1],
    }
    weights = {}
    for name, layer in dense.items():
        weights[name] = keras.ops.convert_to_numpy(layer.kernel)
        if name == "W":  # the decoder (OutputDense) keeps one kernel row per output
            weights[name] = weights[name].T
        weights[f"b_{name}"] = keras.ops.convert_to_numpy(layer.bias)
    return weights


def test_hand_written_step_is_the_library_step(bench):
    # One HEM-AAE step from the same weights on the same batch: the hand-written loop that
    # the benchmark holds up as the reference must land on the library's weights.
    from keras_hem import HEMAAE
    from keras_hem.datasets.synthetic import low_rank_ratings

    rows = low_rank_ratings(n_items=48, n_users=30, seed=0)
    model = HEMAAE(hidden=8, seed=0, input_dropout=0.0)  # the loops run no mask
    model.build((None, rows.shape[1]))
    model.compile()
    settings = bench.model_settings(model)
    extras = bench.mining_inputs(rows, settings["depth"], settings["label_depth"])
    batch = {"ratings": rows[:32], **{k: v[:32] for k, v in extras.items()}}
    loop = bench.hand_written("hem_aae", library_weights(model), settings, jit=False)

    model.train_on_batch(batch)
    loop.train(batch)

    expected, got = library_weights(model), loop.weights()
    assert sorted(got) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.slow
def test_smoke_run_writes_every_variant(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("KERAS_HEM_DATA", None)  # --smoke uses synthetic data anyway
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_speed.py"), "--smoke", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    path = tmp_path / f"speed_{BACKEND}_smoke.json"
    text = path.read_text()
    out = json.loads(text)
    assert out["backend"] == BACKEND and out["rounds"] == 2
    assert out["command"] == f"KERAS_BACKEND={BACKEND} python benchmarks/bench_speed.py --smoke"
    variants = [
        "hem_aae",
        "hem_aae_simultaneous",
        "hem_aae_loop",
        "autorec_loop",
        "floor_hem_aae",
        "floor_autorec",
    ]
    assert sorted(out["seconds"]) == sorted(variants)
    for name in variants:
        per_round = out["seconds_per_round"][name]
        assert len(per_round) == 2 and all(s > 0 for s in per_round), name
        assert out["seconds"][name]["min"] <= out["seconds"][name]["median"]
    # The rotation: every variant opens one round, and each round times each variant once.
    assert [order[0] for order in out["orders"]] == variants[:2]
    assert all(sorted(order) == sorted(variants) for order in out["orders"])
    assert out["seconds"]["floor_hem_aae"]["products"] == 7
    assert out["seconds"]["floor_autorec"]["products"] == 5
    n_rows, n = out["data"]["shape"]
    flop = 2 * n_rows * n * out["hidden"] * 7
    assert out["seconds"]["floor_hem_aae"]["flop_per_epoch"] == flop
    for name in ("hem_aae_over_hem_aae_loop", "hem_aae_over_autorec_loop"):
        ratio = out["ratios"][name]
        assert len(ratio["per_round"]) == 2 and 0 < ratio["min"] <= ratio["median"]
        assert out["met"][name] == (ratio["median"] <= out["targets"][name])
    # No absolute path anywhere in the file (the temporary folder included).
    assert str(tmp_path) not in text and str(REPO) not in text
    assert not re.search(r'"/|[A-Za-z]:\\\\', text), text
    assert "| `hem_aae_loop` |" in result.stdout
    assert "hem_aae / hem_aae_loop <= 1.15" in result.stdout
