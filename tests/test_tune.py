"""benchmarks/tune.py: nested model selection, each split scored inside its training part."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from backend import backend_independent

pytestmark = backend_independent

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def tune(monkeypatch):
    for name in ("tune", "reproduce"):
        sys.modules.pop(name, None)
    import tune

    return tune


def row(setting, seed, mae):
    return {
        "setting": setting,
        "seed": seed,
        "val_MAE": mae,
        "val_RMSE": mae + 0.2,
        "epochs": 3,
        "best_epoch": 2,
        "train_seconds": 1.0,
    }


def test_summary_ranks_by_mean_validation_mae_and_names_each_seeds_winner(tune):
    a, b = {"l2": 0.1}, {"l2": 1.0}
    rows = [row(a, 0, 0.70), row(b, 0, 0.72), row(a, 1, 0.75), row(b, 1, 0.71)]
    ranked, winners = tune.summary(rows)
    assert [s["setting"] for s in ranked] == [b, a]  # means 0.715 < 0.725
    assert ranked[0]["val_MAE"] == pytest.approx(0.715)
    assert winners[0]["setting"] == a and winners[1]["setting"] == b


def test_settings_split_between_recommender_and_model(tune):
    setting = {"hidden": 8, "learning_rate": 3e-4, "l2": 300.0, "global_kernel_epochs": 5}
    outer, inner = tune.split_settings(setting)
    assert outer == {"hidden": 8, "learning_rate": 3e-4, "global_kernel_epochs": 5}
    assert inner == {"l2": 300.0}


def test_the_recorded_protocol_is_the_docstrings_protocol_paragraph(tune):
    assert tune.PROTOCOL.startswith("Protocol: for split seed s,")
    assert "test part is never read" in tune.PROTOCOL


@pytest.mark.slow
def test_every_setting_and_seed_is_recorded_once(tune, movielens_dir, tmp_path):
    out = tmp_path / "tune.json"
    settings = ['{"hidden": 4, "epochs": 1}', '{"hidden": 4, "epochs": 1, "l2": 0.1}']
    common = ["--data", "ml-100k", "--out", str(out), "--settings"]
    tune.main([*common, *settings, "--seeds", "0", "1"])
    tune.main([*common, settings[0], "--seeds", "1"])  # scored again: replaced, not added
    result = json.loads(out.read_text())
    assert sorted((json.dumps(r["setting"]), r["seed"]) for r in result["rows"]) == sorted(
        (s, seed) for s in settings for seed in (0, 1)
    )
    assert all(np.isfinite(r["val_MAE"]) and r["epochs"] == 1 for r in result["rows"])
    assert len(result["commands"]) == 2 and str(movielens_dir) not in out.read_text()
    assert "Each seed's winner" in out.with_suffix(".md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 3])
def test_validation_slice_lies_inside_the_splits_training_part(tune, movielens_dir, seed):
    import harness

    ratings, _ = harness.load("ml-100k")
    train, test = ratings.random_split(harness.TEST_FRACTION, seed=seed)
    fit_part, val_part = harness.validation_slice("ml-100k", seed=seed)

    def pairs(matrix):
        coo = matrix.to_item_user_csr().tocoo()
        return set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))

    assert not pairs(val_part) & pairs(test) and not pairs(fit_part) & pairs(test)
    assert pairs(val_part) | pairs(fit_part) == pairs(train)


def test_a_setting_on_other_defaults_is_another_row_and_render_rewrites_the_markdown(
    tune, tmp_path
):
    old = row({"l2": 1.0}, 0, 0.72)  # no "defaults": measured on the earlier defaults
    new = {**row({"l2": 1.0}, 0, 0.70), "defaults": tune.current_defaults()}
    ranked, _ = tune.summary([old, new])
    assert [s["defaults"] for s in ranked] == [tune.current_defaults(), tune.EARLIER_DEFAULTS]
    out = tmp_path / "tune.json"
    out.write_text(json.dumps({"rows": [old, new], "commands": ["python benchmarks/tune.py"]}))
    tune.main(["--data", "ml-100k", "--out", str(out), "--render"])
    text = out.with_suffix(".md").read_text()
    assert tune.EARLIER_DEFAULTS in text and tune.current_defaults() in text
    assert tune.current_defaults() == (
        "hidden 300, batch 128, sum error, l2 5, input_dropout 0.5, lr_patience 5, epochs 150"
    )


def test_rows_another_run_writes_meanwhile_are_kept(tune, tmp_path, monkeypatch):
    out = tmp_path / "tune.json"
    other = {**row({"l2": 9.0}, 0, 0.69), "defaults": tune.current_defaults()}
    other_command = "python benchmarks/tune.py --settings other"

    def score(setting, fit_part, val_part, seed):
        # While this run fits, a run beside it records its own row.
        saved = json.loads(out.read_text()) if out.exists() else {"rows": [], "commands": []}
        saved["rows"].append(other)
        saved["commands"].append(other_command)
        out.write_text(json.dumps(saved))
        return {**row(setting, seed, 0.70), "defaults": tune.current_defaults()}

    monkeypatch.setattr(tune, "score", score)
    monkeypatch.setattr(tune, "validation_slice", lambda data, seed: (None, None))
    tune.main(["--data", "ml-100k", "--out", str(out), "--settings", '{"l2": 1.0}'])
    result = json.loads(out.read_text())
    assert sorted(r["setting"]["l2"] for r in result["rows"]) == [1.0, 9.0]
    assert other_command in result["commands"] and len(result["commands"]) == 2


def test_an_ensemble_averages_its_members_predictions_and_ranks_as_the_first(tune):
    class Constant:
        def __init__(self, value):
            self.value = value

        def predict(self, users, items):
            return np.full(len(users), self.value)

        def score_users(self, user_indices):
            return np.full((len(user_indices), 3), self.value)

    model = tune.Averaged([Constant(3.0), Constant(4.0), Constant(5.0)])
    np.testing.assert_array_equal(model.predict([0, 1], [0, 0]), [4.0, 4.0])
    np.testing.assert_array_equal(model.score_users([0]), [[3.0, 3.0, 3.0]])


@pytest.mark.slow
def test_an_ensemble_setting_scores_the_mean_of_its_fits(tune, movielens_dir, monkeypatch):
    import harness

    fit_part, val_part = harness.validation_slice("ml-100k", seed=0)
    base = {"hidden": 8, "epochs": 2, "learning_rate": 0.01}  # members that differ
    user = {**base, "orientation": "user"}
    row = tune.score({**base, "ensemble": [user]}, fit_part, val_part, seed=0)
    assert row["member_epochs"] == [2]
    first, second = tune.fitted(base, fit_part, 0), tune.fitted(user, fit_part, 1000)
    assert second.model.orientation == "user"
    frame = val_part.to_dataframe()
    users, items, truth = (frame[c].to_numpy() for c in ("user", "item", "rating"))
    one, two = first.predict(users, items), second.predict(users, items)
    assert np.abs(one - two).mean() > 0.1
    assert row["val_MAE"] == pytest.approx(np.mean(np.abs((one + two) / 2 - truth)), rel=1e-5)
    assert "member_epochs" not in tune.score(base, fit_part, val_part, seed=0)


def test_the_global_kernel_control_trains_the_second_stage_with_an_identity_kernel(tune):
    from keras_hem.data import RatingMatrix
    from keras_hem.datasets.synthetic import low_rank_ratings
    from keras_hem.models import HEMAAE

    items, users = np.nonzero(low_rank_ratings(n_items=40, n_users=30, seed=3))
    ratings = low_rank_ratings(n_items=40, n_users=30, seed=3)[items, users]
    part = RatingMatrix.from_arrays(users, items, ratings)
    setting = {"hidden": 4, "epochs": 2, "global_kernel_epochs": 2}
    original = HEMAAE.start_global_kernel
    real = tune.fitted(setting, part, seed=0)
    control = tune.fitted({**setting, "global_kernel_statistics": "zeros"}, part, seed=0)
    assert len(control.history["loss"]) == len(real.history["loss"]) == 4  # both stages ran
    statistics = [np.asarray(r.model.encoder.layers[0].statistics) for r in (real, control)]
    assert np.abs(statistics[0]).max() > 0 and not statistics[1].any()
    assert HEMAAE.start_global_kernel is original  # put back after the fit
