"""Named presets: the library's defaults and the paper's settings, by name."""

import numpy as np
import pandas as pd
import pytest

from keras_hem import HEMAAE
from keras_hem.cli import _parser, _settings, main
from keras_hem.presets import PAPER_HIDDEN, PRESETS, get_preset, merge_preset
from keras_hem.recommender import Recommender


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown preset 'papr'.*\['default', 'paper'\]"):
        get_preset("papr")
    with pytest.raises(ValueError, match="Unknown preset"):
        Recommender.from_preset("tuned")
    with pytest.raises(ValueError, match="Unknown preset"):
        HEMAAE.from_preset(None)


def test_a_preset_is_a_copy():
    settings = get_preset("paper")
    settings["model_kwargs"]["l2"] = 123.0
    settings["hidden"] = 7
    assert PRESETS["paper"]["model_kwargs"]["l2"] == 0.001
    assert get_preset("paper")["hidden"] == PAPER_HIDDEN["ml-1m"]


def test_overrides_merge_model_kwargs_key_by_key():
    merged = merge_preset("paper", {"hidden": 100, "model_kwargs": {"l2": 0.01, "depth": 2}})
    assert merged["hidden"] == 100
    assert merged["model_kwargs"] == {
        "output_activation": "sigmoid",
        "reconstruction_reduction": "mean",
        "l2": 0.01,
        "input_dropout": 0.0,
        "depth": 2,
    }
    assert merged["batch_size"] == 256  # the preset's, untouched
    assert merge_preset("default", {}) == {}
    with pytest.raises(ValueError, match=r"model_kwargs=\['l2'\]"):
        merge_preset("paper", {"model_kwargs": ["l2"]})


def test_default_preset_is_the_constructors_defaults():
    assert Recommender.from_preset("default").get_config() == Recommender().get_config()
    assert HEMAAE.from_preset("default", name="m").get_config() == HEMAAE(name="m").get_config()


def test_paper_preset_holds_the_papers_settings():
    rec = Recommender.from_preset("paper", hidden=PAPER_HIDDEN["ml-100k"], seed=3)
    config = rec.get_config()
    assert (config["hidden"], config["batch_size"], config["ranking"]) == (100, 256, "ratings")
    assert config["seed"] == 3
    assert config["model_kwargs"]["output_activation"] == "sigmoid"
    model = HEMAAE.from_preset("paper", l2=0.5)
    assert (model.hidden, model.output_activation, model.l2) == (400, "sigmoid", 0.5)
    assert model.reconstruction_reduction == "mean"
    # A preset's model is an ordinary model: its config round-trips.
    assert HEMAAE.from_config(model.get_config()).get_config() == model.get_config()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {}),
        (["--preset", "paper"], {"hidden": PAPER_HIDDEN["ml-1m"]}),
        (["--preset", "paper", "--hidden", "50"], {"hidden": 50}),
        (["--epochs", "3", "--ranking", "ratings"], {"epochs": 3, "ranking": "ratings"}),
    ],
)
def test_command_line_sets_only_what_it_names(argv, expected):
    args = _parser().parse_args(["fit", "--data", "ratings.csv", *argv])
    assert _settings(args) == expected


def test_paper_preset_on_movielens_100k_uses_its_hidden_size():
    args = _parser().parse_args(["fit", "--data", "ml-100k", "--preset", "paper"])
    assert _settings(args) == {"hidden": PAPER_HIDDEN["ml-100k"]}


def test_fit_with_the_paper_preset_saves_its_settings(tmp_path):
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((30, 40)) < 0.3)
    path = tmp_path / "ratings.csv"
    frame = pd.DataFrame({"user": users, "item": items, "rating": rng.integers(1, 6, len(users))})
    frame.to_csv(path, index=False)
    out = tmp_path / "run"
    argv = ["fit", "--data", str(path), "--preset", "paper", "--epochs", "1", "--hidden", "4"]
    assert main([*argv, "--out", str(out)]) == 0
    saved = Recommender.load(out).get_config()
    assert (saved["hidden"], saved["epochs"], saved["ranking"]) == (4, 1, "ratings")
    assert saved["model_kwargs"]["reconstruction_reduction"] == "mean"
