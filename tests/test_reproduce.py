"""benchmarks/reproduce.py end to end on ML-100K in smoke mode (1 epoch, one split)."""

import json
import sys
from pathlib import Path

import pytest
from backend import backend_independent

from keras_hem import HEMAAE
from keras_hem.recommender import Recommender

pytestmark = backend_independent

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def reproduce(monkeypatch):
    sys.modules.pop("reproduce", None)
    import reproduce

    return reproduce


@pytest.mark.slow
def test_main_table_merge_and_targets(reproduce, movielens_dir, tmp_path):
    common = ["--data", "ml-100k", "--quick", "--epochs", "1", "--out", str(tmp_path)]
    reproduce.main([*common, "--models", "global_mean", "hem_aae"])
    reproduce.main([*common, "--models", "autorec", "--merge"])
    result = json.loads((tmp_path / "reproduce_ml-100k_quick.json").read_text())
    models = [row["model"] for row in result["runs"]]
    # The same fit ranked by predicted ratings, by the head alone and without the head;
    # merge kept the others.
    derived = ["hem_aae_by_ratings", "hem_aae_head", "hem_aae_no_head"]
    assert models == ["global_mean", "hem_aae", *derived, "autorec"]
    rows = {row["model"]: row for row in result["runs"]}
    assert rows["hem_aae"]["MAE"] == rows["hem_aae_by_ratings"]["MAE"]
    assert rows["hem_aae"]["P@10"] != rows["hem_aae_by_ratings"]["P@10"]
    assert result["models"]["hem_aae"]["ranking"] == "ease"
    assert result["models"]["autorec"]["ranking"] == "ratings"
    assert result["models"]["hem_aae_head"]["ranking"] == "head"
    assert result["models"]["hem_aae_no_head"]["head_weight"] == 0.0
    assert len({rows[name]["MAE"] for name in ["hem_aae", *derived]}) == 1
    assert len(result["commands"]) == 2
    table = (tmp_path / "reproduce_ml-100k_quick.md").read_text()
    mae = rows["hem_aae"]["MAE"]
    assert f"- MAE <= 0.695: {mae:.4f}, **{'met' if mae <= 0.695 else 'missed'}**" in table
    assert "| hem_aae_by_ratings | 1 |" in table
    assert "main table (baselines and hem_aae" in table
    # Published results name the data folder by its variable, never by this machine's path.
    assert str(movielens_dir) not in (tmp_path / "reproduce_ml-100k_quick.json").read_text()
    assert str(movielens_dir) not in table
    assert "$KERAS_HEM_DATA/ml-100k/u.data" in table


def test_seeds_add_splits_to_existing_rows(reproduce, movielens_dir, tmp_path):
    common = ["--data", "ml-100k", "--quick", "--out", str(tmp_path), "--models"]
    reproduce.main([*common, "global_mean", "item_mean"])
    reproduce.main([*common, "global_mean", "--seeds", "2", "1", "--merge"])
    reproduce.main([*common, "global_mean", "--seeds", "1", "--merge"])  # replaces seed 1
    result = json.loads((tmp_path / "reproduce_ml-100k_quick.json").read_text())
    runs = [(row["model"], row["seed"]) for row in result["runs"]]
    assert runs == [("global_mean", 0), ("global_mean", 1), ("global_mean", 2), ("item_mean", 0)]
    assert result["protocol"]["seeds"] == [0, 1, 2] and result["protocol"]["runs"] == 3
    assert result["summary"]["global_mean"]["MAE"]["n"] == 3
    assert "| global_mean | 3 |" in (tmp_path / "reproduce_ml-100k_quick.md").read_text()


@pytest.mark.parametrize("argv", [["--seeds", "1", "1"], ["--seeds", "-1"], ["--runs", "0"]])
def test_bad_splits_are_refused(reproduce, argv, capsys):
    with pytest.raises(SystemExit):
        reproduce.parse_args(argv)
    assert argv[-1] in capsys.readouterr().err


@pytest.mark.parametrize("data, l2, hidden", [("ml-100k", 10.0, 200), ("ml-1m", 3.0, 500)])
def test_tuned_row_uses_the_recipe_chosen_per_data_set(reproduce, data, l2, hidden):
    args = reproduce.parse_args(["--data", data])
    model, config = reproduce.make_model("hem_aae_tuned", data, 0, args)
    assert (model.hidden, model.batch_size, model.learning_rate) == (hidden, 128, 0.001)
    # The recipe it was measured with: no denoising, a constant rate, at most 100 epochs.
    assert model.model_kwargs == {
        "reconstruction_reduction": "sum",
        "l2": l2,
        "input_dropout": 0.0,
    }
    assert (model.lr_patience, model.epochs) == (None, 100)
    default, _ = reproduce.make_model("hem_aae", data, 0, args)
    assert default.get_config() == Recommender().get_config()


def test_no_denoising_row_is_the_defaults_without_the_new_recipe(reproduce):
    args = reproduce.parse_args(["--data", "ml-1m"])
    model, _ = reproduce.make_model("hem_aae_no_denoising", "ml-1m", 0, args)
    default, _ = reproduce.make_model("hem_aae", "ml-1m", 0, args)
    expected = {
        **default.get_config(),
        "model_kwargs": {"input_dropout": 0.0},
        "lr_patience": None,
        "epochs": 100,
    }
    assert model.get_config() == expected
    assert (default.lr_patience, default.epochs) == (5, 150)


def test_epochs_flag_replaces_every_rows_cap(reproduce):
    args = reproduce.parse_args(["--data", "ml-1m", "--epochs", "7"])
    for name in ("hem_aae", "hem_aae_no_denoising", "hem_aae_paper"):
        assert reproduce.make_model(name, "ml-1m", 0, args)[0].epochs == 7


@pytest.mark.parametrize("data", ["ml-100k", "ml-1m"])
def test_paper_row_keeps_the_settings_it_was_measured_with(reproduce, data):
    # The settings of the committed hem_aae_paper rows (library 0.1 defaults, sigmoid output,
    # the paper's hidden units, ranked by predicted ratings): the preset must keep them.
    args = reproduce.parse_args(["--data", data])
    model, _ = reproduce.make_model("hem_aae_paper", data, 0, args)
    assert (model.hidden, model.batch_size, model.learning_rate) == (
        {"ml-100k": 100, "ml-1m": 400}[data],
        256,
        0.001,
    )
    assert (model.epochs, model.patience, model.ranking) == (100, 10, "ratings")
    assert model.lr_patience is None
    network = HEMAAE(hidden=model.hidden, seed=0, **model.model_kwargs).get_config()
    assert (network["l2"], network["reconstruction_reduction"]) == (0.001, "mean")
    assert network["input_dropout"] == 0.0
    assert network["output_activation"] == "sigmoid"
    first = {"triplet_weight": 0.1, "adversarial_weight": 0.1, "triplet_margin": 1.0}
    assert {key: network[key] for key in first} == first
