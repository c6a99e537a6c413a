import json

import numpy as np
import pandas as pd
import pytest
from backend import backend_independent

from keras_hem.cli import main
from keras_hem.recommender import Recommender

pytestmark = backend_independent

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


@pytest.mark.parametrize("head_weight", ["0", "0.4"])
def test_fit_head_weight_is_saved_and_decides_the_head(ratings_csv, tmp_path, head_weight):
    out = tmp_path / "run"
    fit = [*data_args(ratings_csv), "--epochs", "1", "--hidden", "4", "--out", str(out)]
    assert main(["fit", *fit, "--head-weight", head_weight]) == 0
    loaded = Recommender.load(out)
    assert loaded.head_weight == float(head_weight)
    assert (loaded.model.observation_decoder is None) == (head_weight == "0")


def test_fit_denoising_options_are_saved(ratings_csv, tmp_path):
    out = tmp_path / "run"
    fit = [*data_args(ratings_csv), "--epochs", "2", "--hidden", "4", "--out", str(out)]
    assert main(["fit", *fit, "--input-dropout", "0.3", "--lr-patience", "1"]) == 0
    loaded = Recommender.load(out)
    assert (loaded.model.input_dropout, loaded.lr_patience) == (0.3, 1)
    assert loaded.model_kwargs == {"input_dropout": 0.3}
    assert "learning_rate" in loaded.history


def test_fit_lr_patience_zero_keeps_the_rate_constant(ratings_csv, tmp_path):
    out = tmp_path / "run"
    fit = [*data_args(ratings_csv), "--epochs", "1", "--hidden", "4", "--out", str(out)]
    assert main(["fit", *fit, "--lr-patience", "0"]) == 0
    assert Recommender.load(out).lr_patience is None
    assert main(["fit", *fit, "--overwrite"]) == 0
    assert Recommender.load(out).lr_patience == 5  # the default schedule


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "--data", "missing.csv"], "No such file"),
        (["fit", *data_args("{csv}"), "--input-dropout", "1"], "input_dropout=1.0"),
        (["fit", *data_args("{csv}"), "--lr-patience", "-1"], "lr_patience=-1"),
        (["fit", "--data", "{csv}", "--columns", "user,item,rating", "--sep", ";"], "user"),
        (["fit", "--data", "{csv}", "--columns", "uid,iid", "--sep", ";"], "columns"),
        (["fit", *data_args("{csv}"), "--hidden", "0"], "hidden=0"),
        (["fit", *data_args("{csv}"), "--head-weight", "-1"], "head_weight=-1.0"),
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


def fit_args(path, out, *extra):
    return ["fit", *data_args(path), "--epochs", "1", "--hidden", "4", "--out", str(out), *extra]


@pytest.mark.parametrize("kind", ["file", "non-empty"])
def test_out_is_checked_before_training(kind, ratings_csv, tmp_path, monkeypatch, capsys):
    def no_training(*args, **kwargs):
        raise AssertionError("trained although --out was refused")

    monkeypatch.setattr(Recommender, "fit", no_training)
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("not a folder")
        expected = "is a file"
    else:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        expected = "--overwrite"
    before = {p.name: p.read_bytes() for p in out.iterdir()} if out.is_dir() else None
    assert main(fit_args(ratings_csv, out)) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    if before is not None:  # untouched
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_overwrite_replaces_an_earlier_runs_files_only(ratings_csv, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "training_curve.png").write_bytes(b"stale")
    (out / "metrics.json").write_text('{"stale": true}')
    assert main(fit_args(ratings_csv, out, "--overwrite")) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "stale" not in json.loads((out / "metrics.json").read_text())
    printed = capsys.readouterr().out
    assert "Saved model.keras, ratings.npz, recommender.json, metrics.json, training_curve.png" in (
        printed
    )


def test_fit_ensemble_saves_every_member_and_overwrite_removes_them(ratings_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(fit_args(ratings_csv, out, "--ensemble", "2")) == 0
    printed = capsys.readouterr().out
    assert "Saved model.keras, model-1.keras, ratings.npz, recommender.json" in printed
    loaded = Recommender.load(out)
    assert (loaded.ensemble, len(loaded.models)) == (2, 2)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["member_epochs_run"] == [1, 1] and metrics["epochs_run"] == 1

    assert main(fit_args(ratings_csv, out, "--overwrite")) == 0
    assert not (out / "model-1.keras").exists()  # no stale member beside a single model
    assert len(Recommender.load(out).models) == 1


def test_a_one_to_three_scale_gets_its_own_relevance_threshold(tmp_path, capsys):
    rng = np.random.default_rng(1)
    users, items = np.nonzero(rng.random((30, 40)) < 0.3)
    frame = pd.DataFrame({"user": users, "item": items, "rating": rng.integers(1, 4, len(users))})
    path = tmp_path / "small_scale.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "run"
    fit = ["fit", "--data", str(path), "--epochs", "1", "--hidden", "4", "--out", str(out)]
    assert main(fit) == 0
    printed = printed_metrics(capsys.readouterr().out)
    assert "P@10_t2.5" in printed  # the top quarter of 1-3: ratings of 2.5 and above
    # A threshold above every rating: the metric is reported as not computable, not an error.
    assert (
        main(["evaluate", "--model", str(out), "--data", str(path), "--relevance-threshold", "9"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("P@10_t9") and "n/a (no test rating >= 9)" in line for line in lines)


def test_the_model_is_saved_before_evaluation(ratings_csv, tmp_path, monkeypatch, capsys):
    import keras_hem.cli as cli

    def broken(*args, **kwargs):
        raise ValueError("evaluation broke")

    monkeypatch.setattr(cli, "evaluate", broken)
    out = tmp_path / "run"
    assert main(fit_args(ratings_csv, out)) == 2
    assert "evaluation broke" in capsys.readouterr().err
    assert Recommender.load(out).model is not None  # the trained model was kept


def test_evaluate_remembers_the_fits_columns_and_separator(ratings_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(fit_args(ratings_csv, out)) == 0
    fitted = json.loads((out / "metrics.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--data", str(ratings_csv)]) == 0
    evaluated = printed_metrics(capsys.readouterr().out)
    assert evaluated["MAE"] == f"{fitted['MAE']:.4f}"


def write_csv(tmp_path, frame, name="r.csv", **kwargs):
    path = tmp_path / name
    frame.to_csv(path, index=False, **kwargs)
    return path


def small_frame(seed=0, n=30):
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n, 40)) < 0.3)
    return pd.DataFrame({"user": users, "item": items, "rating": rng.integers(1, 6, len(users))})


def one_error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_errors_name_command_line_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    frame = small_frame()
    repeated = write_csv(tmp_path, pd.concat([frame, frame.iloc[:3]]), "repeated.csv")
    assert main(["fit", "--data", str(repeated), "--out", "a"]) == 2
    err = one_error_line(capsys)
    assert "--duplicates last" in err and "duplicates='last'" not in err

    renamed = write_csv(tmp_path, frame.rename(columns={"user": "uid"}), "renamed.csv")
    assert main(["fit", "--data", str(renamed), "--out", "b"]) == 2
    assert "--columns" in one_error_line(capsys)

    tampered = tmp_path / "data" / "ml-100k"
    tampered.mkdir(parents=True)
    (tampered / "u.data").write_text("1\t1\t5\t0\n")
    assert (
        main(["fit", "--data", "ml-100k", "--data-dir", str(tmp_path / "data"), "--out", "c"]) == 2
    )
    err = one_error_line(capsys)
    assert "--no-verify" in err and "verify=False" not in err


def test_scale_encoding_and_duplicates_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    frame = small_frame()
    frame.loc[0, "rating"] = 1000
    out_of_scale = write_csv(tmp_path, frame, "scale.csv")
    assert main(["fit", "--data", str(out_of_scale), "--scale", "1,5", "--out", "a"]) == 2
    assert "1000" in one_error_line(capsys)
    assert main(["fit", "--data", str(out_of_scale), "--scale", "1-5", "--out", "a"]) == 2
    assert "--scale must be LOW,HIGH" in one_error_line(capsys)

    names = small_frame()
    names["user"] = [f"Jos\u00e9{u}" for u in names["user"]]
    latin = write_csv(tmp_path, names, "latin.csv", encoding="latin-1")
    assert main(["fit", "--data", str(latin), "--out", "b", "--epochs", "1", "--hidden", "4"]) == 2
    one_error_line(capsys)  # not UTF-8: one line, no traceback
    latin_fit = ["fit", "--data", str(latin), "--encoding", "latin-1", "--out", "b"]
    assert main([*latin_fit, "--epochs", "1", "--hidden", "4"]) == 0
    assert Recommender.load(tmp_path / "b").known_users(["Jos\u00e90"])[0]

    repeated = write_csv(tmp_path, pd.concat([names.iloc[:1], names]), "repeated.csv")
    repeated_fit = ["fit", "--data", str(repeated), "--duplicates", "last", "--out", "c"]
    assert main([*repeated_fit, "--encoding", "latin-1", "--epochs", "1", "--hidden", "4"]) == 0


def test_version_and_progress_output(ratings_csv, tmp_path, capsys):
    import keras_hem

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"keras-hem {keras_hem.__version__}"

    # Output to a file or pipe (as under pytest): one plain line per epoch, no progress bar.
    assert main(fit_args(ratings_csv, tmp_path / "a", "--epochs", "2")) == 0
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "\r" not in out and "\x1b[" not in out and "\x08" not in out

    assert main(fit_args(ratings_csv, tmp_path / "b", "--epochs", "2", "--quiet")) == 0
    out = capsys.readouterr().out
    assert "Epoch" not in out and "MAE" in out and "Saved" in out


def test_a_full_disk_is_one_line_not_a_traceback(ratings_csv, tmp_path, monkeypatch, capsys):
    import errno

    def full(self, directory):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Recommender, "save", full)
    assert main(fit_args(ratings_csv, tmp_path / "run")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err
