"""benchmarks/bench_scale.py: a smoke run writes every figure the docs table shows."""

import json
import subprocess
import sys
from pathlib import Path

from backend import backend_independent

pytestmark = backend_independent

REPO = Path(__file__).resolve().parents[1]


def test_smoke_run_writes_results_table_and_plot(tmp_path):
    out = tmp_path / "scale.json"
    command = [
        sys.executable,
        str(REPO / "benchmarks" / "bench_scale.py"),
        "--smoke",
        "--shapes",
        "tiny-a",
        "--out",
        str(out),
        "--plot",
        str(tmp_path / "scale.png"),
    ]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=900)
    result = json.loads(out.read_text())
    epoch = result["epoch"]["tiny-a"]
    assert epoch["n_ratings"] == 5_000
    for variant in ("sparse", "dense", "sparse_large_batch"):
        assert epoch[variant]["timed_steps"] >= 2
        assert epoch[variant]["epoch_seconds"] > 0
    pipeline = result["pipeline"]["tiny-a"]
    assert pipeline["batch_format"] == "dense"  # 8.3% observed: above the sparse threshold
    assert pipeline["peak_rss_gb"] >= pipeline["rss_before_fit_gb"] > 0
    assert pipeline["predicted"] == 1_000_000
    assert pipeline["recommended_rows"] == 10 * 300  # every one of the 300 users
    table = out.with_suffix(".md").read_text()
    assert "| tiny-a | 5,000 |" in table and "--smoke" in table
    assert (tmp_path / "scale.png").stat().st_size > 0
    assert pipeline["fit_peak_rss_gb"] <= pipeline["peak_rss_gb"]
    assert "| tiny-a | 16 | 64 | dense |" in table  # the memory breakdown

    # A forced batch format is a row of its own, beside the auto one.
    forced = [*command, "--parts", "pipeline", "--merge", "--pipeline-format", "sparse"]
    subprocess.run(forced, check=True, capture_output=True, text=True, timeout=900)
    result = json.loads(out.read_text())
    assert result["pipeline"]["tiny-a"] == pipeline
    assert result["pipeline"]["tiny-a, sparse batches"]["batch_format"] == "sparse"
    assert "| tiny-a, sparse batches | 16 | 64 | sparse |" in out.with_suffix(".md").read_text()
