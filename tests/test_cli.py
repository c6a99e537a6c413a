import json

import numpy as np
import pandas as pd
import pytest

from keras_hem.cli import main
from keras_hem.recommender import Recommender

METRIC_KEYS = {"MAE", "RMSE", "P@3", "P@5", "P@10", "NDCG@3", "NDCG@5", "NDCG@10", "train_time_s"}


@pytest.fixture
def ratings_csv(tmp_path):
    """A small ratings file with its own header names and string user ids."""
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((30, 40)) < 0.3)
    frame = pd.DataFrame(
        {
            "uid": [f"u{u}" for u in users],
            "iid": items + 100,
            "stars": rng.integers(1, 6, len(users)),
            "note": "x",
        }
    )
    path = tmp_path / "ratings.csv"
    frame.to_csv(path, index=False, sep=";")
    return path


def data_args(path):
    return ["--data", str(path), "--columns", "uid,iid,stars", "--sep", ";"]


def printed_metrics(text):
    """The `metric value` table printed by fit and evaluate, as a dict of strings."""
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.split() == ["metric", "value"]))
    return dict(line.split() for line in lines[start + 1 :] if len(line.split()) == 2)


def body_rows(text):
    """The data rows of a printed table (everything after its header line)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["rank"])
    return lines[header + 1 :]


def test_fit_evaluate_recommend_on_a_csv_file(ratings_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    fit = ["fit", *data_args(ratings_csv), "--epochs", "2", "--hidden", "8", "--batch-size", "16"]
    assert main(fit) == 0
    printed = capsys.readouterr().out
    assert "MAE" in printed and "NDCG@10" in printed

    out = tmp_path / "runs" / "ratings-0"  # the default output folder
    for name in ("metrics.json", "training_curve.png", "model.keras", "recommender.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= METRIC_KEYS

    assert main(["evaluate", "--model", str(out), *data_args(ratings_csv)]) == 0
    evaluated = printed_metrics(capsys.readouterr().out)
    for name in ("MAE", "RMSE", "P@10", "NDCG@10"):  # the same split, the same model
        assert evaluated[name] == f"{metrics[name]:.4f}"

    assert main(["recommend", "--model", str(out), "--user", "u3", "-k", "4"]) == 0
    recommended = capsys.readouterr().out
    assert recommended.split()[:3] == ["rank", "item", "score"]  # no titles outside MovieLens
    assert len(body_rows(recommended)) == 4


def test_fit_and_recommend_on_movielens_100k(movielens_dir, tmp_path, capsys):
    out = tmp_path / "run"
    fit = ["fit", "--data", "ml-100k", "--epochs", "1", "--hidden", "8", "--out", str(out)]
    assert main(fit) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= METRIC_KEYS and metrics["n_test"] == 20_000
    assert (out / "training_curve.png").stat().st_size > 0
    capsys.readouterr()

    assert main(["recommend", "--model", str(out), "--user", "1", "-k", "5"]) == 0
    printed = capsys.readouterr().out
    assert printed.split()[:4] == ["rank", "item", "title", "score"]
    rows = body_rows(printed)
    assert len(rows) == 5
    assert all("(19" in row or "(20" in row for row in rows)  # titles end in "(year)"


def test_unknown_user_gets_a_note(ratings_csv, tmp_path, capsys):
    out = tmp_path / "run"
    fit = [*data_args(ratings_csv), "--epochs", "1", "--hidden", "4", "--out", str(out)]
    assert main(["fit", *fit]) == 0
    capsys.readouterr()
    assert main(["recommend", "--model", str(out), "--user", "nobody", "-k", "3"]) == 0
    captured = capsys.readouterr()
    assert "no training ratings" in captured.err
    assert len(body_rows(captured.out)) == 3


@pytest.mark.parametrize("ranking", ["ease", "ratings"])
def test_fit_saves_the_ranking_choice(ratings_csv, tmp_path, ranking):
    out = tmp_path / "run"
    fit = [*data_args(ratings_csv), "--epochs", "1", "--hidden", "4", "--out", str(out)]
    assert main(["fit", *fit, "--ranking", ranking]) == 0
    assert Recommender.load(out).ranking == ranking


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "--data", "missing.csv"], "No such file"),
        (["fit", "--data", "{csv}", "--columns", "user,item,rating", "--sep", ";"], "user"),
        (["fit", "--data", "{csv}", "--columns", "uid,iid", "--sep", ";"], "columns"),
        (["fit", *data_args("{csv}"), "--hidden", "0"], "hidden=0"),
        (["fit", "--data", "ml-100k", "--data-dir", "{empty}"], "was not found"),
        (["recommend", "--model", "{empty}", "--user", "1"], "not a saved Recommender"),
    ],
)
def test_input_errors_print_one_line_and_exit_2(
    argv, message, ratings_csv, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # a wrongly accepted fit writes runs/ here, not in the checkout
    argv = [a.format(csv=ratings_csv, empty=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit"])
    assert exit_info.value.code == 2
    assert "--data" in capsys.readouterr().err
