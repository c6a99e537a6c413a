"""benchmarks/hidden_sweep.py --plot-only: the table and plot from a results file."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from backend import backend_independent

pytestmark = backend_independent

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def hidden_sweep(monkeypatch):
    sys.modules.pop("hidden_sweep", None)
    import hidden_sweep

    return hidden_sweep


def test_plot_only_redraws_from_the_results_file(hidden_sweep, tmp_path):
    rows = [
        {"data": name, "hidden": h, "MAE": mae, "RMSE": 1.0, "epochs": 5, "train_seconds": 1.0}
        for name, points in {
            "ml-100k": [(10, 0.81), (100, 0.72), (200, 0.715)],
            "ml-1m": [(10, 0.96), (400, 0.69)],
        }.items()
        for h, mae in points
    ]
    out = tmp_path / "sweep.json"
    out.write_text(json.dumps({"rows": rows}))
    plot = tmp_path / "sweep.png"
    maes = hidden_sweep.main(["--plot-only", "--out", str(out), "--plot", str(plot)])
    np.testing.assert_allclose(sorted(maes), sorted(r["MAE"] for r in rows))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = out.with_suffix(".md").read_text()
    assert "| 100 | 0.7200 | 5 | 1 | — | — | — |" in table
    # Rows without a recipe were measured before rows recorded one: the previous recipe.
    assert "ml-100k: the previous recipe; ml-1m: the previous recipe" in table
    assert json.loads(out.read_text()) == {"rows": rows}  # nothing measured, nothing rewritten


def test_each_recipe_is_a_set_of_recommender_arguments(hidden_sweep):
    from keras_hem.recommender import Recommender

    previous = Recommender(hidden=8, **hidden_sweep.RECIPES["previous"])
    assert (previous.lr_patience, previous.epochs) == (None, 100)
    assert previous.model_kwargs == {"input_dropout": 0.0}
    assert Recommender(**hidden_sweep.RECIPES["default"]).get_config() == (
        Recommender().get_config()
    )
    assert hidden_sweep.parse_args(["--recipe", "previous"]).recipe == "previous"
