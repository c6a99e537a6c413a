"""Each example runs in smoke mode in a fresh interpreter and prints its headline lines."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from backend import backend_independent

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, cwd, env_extra=None):
    """Run `examples/<name> --smoke` from `cwd` and return its stdout (fails on a non-zero exit)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env_extra or {})}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--smoke"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
@backend_independent
def test_quickstart(movielens_dir, tmp_path):
    out = run_example("quickstart.py", tmp_path, {"KERAS_HEM_DATA": movielens_dir})
    assert re.search(r"^\s*MAE\s+RMSE\s+P@10\s+NDCG@10$", out, re.M), out
    assert re.search(r"^\s*\d+\.\d{4}\s+\d+\.\d{4}\s+\d\.\d{4}\s+\d\.\d{4}$", out, re.M), out
    assert "Top 5 for user 42:" in out
    ranks = re.findall(r"^\s+([1-5])\s+\d+\s+\S", out, re.M)
    assert ranks == ["1", "2", "3", "4", "5"], out


@pytest.mark.slow
def test_custom_assembly(tmp_path):
    out = run_example("custom_assembly.py", tmp_path)
    assert "ratings: 200 items x 150 users" in out
    assert re.search(r"^held-out MAE, HEM-AAE:\s+\d+\.\d{4}$", out, re.M), out
    assert re.search(r"^held-out MAE, global mean:\s+\d+\.\d{4}$", out, re.M), out


@pytest.mark.slow
def test_reuse_miner(tmp_path):
    pytest.importorskip("sklearn", reason="the example needs scikit-learn (the dev extra)")
    out = run_example("reuse_miner.py", tmp_path)
    assert "digits: 1257 train, 540 test" in out
    for stage in ("raw pixels", "before training", "after training"):
        assert re.search(rf"^nearest-neighbour accuracy, {stage}:\s+[01]\.\d{{3}}$", out, re.M)


@pytest.mark.slow
def test_demo_components(tmp_path):
    out = run_example("demo_components.py", tmp_path)
    assert re.search(r"^triplet loss: \d+\.\d{3} -> \d+\.\d{3}$", out, re.M), out
    assert "nearest-neighbour accuracy of the learned embedding:" in out
