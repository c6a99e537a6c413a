"""The `keras-hem` command: train, evaluate and query a HEM-AAE recommender from the shell.

Sub-commands (`keras-hem <command> --help` lists every option):

* `fit`: load MovieLens (`ml-100k`, `ml-1m`) or a CSV file, split it 80/20 at random, train a
  `Recommender`, save it, then print its test metrics and save `metrics.json` and
  `training_curve.png`. The output folder is checked before anything is trained: a file, an
  unwritable folder or a non-empty folder (without `--overwrite`) is refused at once.
* `evaluate`: re-create the split of a saved recommender and print its test metrics.
* `recommend`: print a user's top-k items (with titles for MovieLens, when the title file is
  available locally).

Every action is a library call (`movielens.load_data`, `RatingMatrix.random_split`,
`Recommender.fit`, `evaluate`, ...); this module only parses arguments and prints. Errors in
the input (missing files, bad columns or ratings) print one line to stderr and exit with
status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from keras_hem.data import RatingMatrix
from keras_hem.datasets import csv_ratings, movielens
from keras_hem.evaluation import evaluate, relevance_threshold
from keras_hem.presets import PAPER_HIDDEN, PRESETS
from keras_hem.saving import (
    MODEL_FILE,
    RATINGS_FILE,
    STATE_FILE,
    member_model_files,
    model_files,
)
from keras_hem.version import __version__

TEST_FRACTION = 0.2
DEFAULT_COLUMNS = "user,item,rating"
DEFAULT_SEP = ","
EXIT_ERROR = 2
# Metrics shown by `fit` and `evaluate`, in order ("{t}" is the relevance threshold's
# suffix); metrics.json keeps every column.
SHOWN_METRICS = (
    "MAE",
    "RMSE",
    "P@3",
    "P@5",
    "P@10",
    "NDCG@3",
    "NDCG@5",
    "NDCG@10",
    "P@10{t}",
    "NDCG@10{t}",
    "n_unseen",
    "train_time_s",
)
# The files `fit` writes into its output folder (`--overwrite` replaces exactly these).
MODEL_FILES = (MODEL_FILE, RATINGS_FILE, STATE_FILE)
RUN_FILES = (*MODEL_FILES, "metrics.json", "training_curve.png")
# Per-epoch checkpoints of a running `fit`, removed when the run completes.
CHECKPOINT_DIR = "checkpoint"
EXIT_INTERRUPTED = 130  # the shell's convention for a command stopped by Ctrl-C (SIGINT)


def _add_data_arguments(parser):
    """The options that name a data set, shared by `fit` and `evaluate`."""
    parser.add_argument(
        "--data",
        required=True,
        help="ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, or the path of a CSV file with a header.",
    )
    parser.add_argument(
        "--data-dir",
        help=f"folder with the MovieLens files (default: ${movielens.ENV_DATA_DIR}, else the "
        f"Keras cache, downloading if needed).",
    )
    parser.add_argument(
        "--columns",
        help="CSV header names of the user, item and rating columns (default: "
        f"{DEFAULT_COLUMNS}; `evaluate`: the ones the model was fitted with).",
    )
    parser.add_argument(
        "--sep",
        help=f"CSV field separator (default: {DEFAULT_SEP!r}; `evaluate`: the fit's).",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="load local MovieLens files even if their SHA-256 is not the original's",
    )
    parser.add_argument(
        "--encoding", help="text encoding of the CSV file, e.g. latin-1 (default: UTF-8)"
    )
    parser.add_argument(
        "--scale",
        help="rating scale as LOW,HIGH, e.g. 1,5 (default: the lowest and highest rating); "
        "a rating outside it is an error",
    )
    parser.add_argument(
        "--duplicates",
        choices=["error", "last", "mean"],
        default="error",
        help="what a repeated (user, item) pair means: an error (default), its last rating, "
        "or the mean of its ratings",
    )
    parser.add_argument(
        "--relevance-threshold",
        type=float,
        help="a test rating at least this high is relevant for the *_t metrics (default: the "
        "top quarter of the rating scale, low + 0.75 x (high - low): 4 on a 1-5 scale)",
    )


def _command(commands, name, summary):
    """A sub-command whose `--help` starts with the summary `keras-hem --help` lists."""
    return commands.add_parser(
        name, help=summary, description=summary[0].upper() + summary[1:] + "."
    )


def _parser():
    """The argument parser of the `keras-hem` command."""
    parser = argparse.ArgumentParser(
        prog="keras-hem", description="HEM-AAE recommender: fit, evaluate, recommend."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show what the Keras backend logs as it starts (hidden by default)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    fit = _command(commands, "fit", "train a recommender and report its test metrics")
    _add_data_arguments(fit)
    fit.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help="named settings (keras_hem.presets): the library's defaults (default) or the "
        "HEM-AAE paper's; the options below override them",
    )
    fit.add_argument(
        "--epochs", type=int, help="maximum epochs, with early stopping (default: the preset's)"
    )
    fit.add_argument(
        "--hidden",
        type=int,
        help="hidden units (default: the preset's; paper: 100 for ml-100k, else 400)",
    )
    fit.add_argument("--batch-size", type=int, help="item rows per batch (default: the preset's)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the split and the model")
    fit.add_argument(
        "--ranking",
        choices=["ease", "ratings"],
        help="top-N score: EASE + predicted ratings or predicted ratings alone (default: the "
        "preset's: EASE for default, ratings for paper)",
    )
    fit.add_argument(
        "--head-weight",
        type=float,
        help="weight of the learnt ranking head in the EASE score; 0 trains no head (default: "
        "0.5 where the ratings fill at least 1.5%% of the matrix, else no head)",
    )
    fit.add_argument(
        "--input-dropout",
        type=float,
        help="share of each item's ratings hidden from the encoder at each training step "
        "(denoising; default: the preset's: 0.5, paper 0)",
    )
    fit.add_argument(
        "--lr-patience",
        type=int,
        help="epochs without progress of the validation MAE before the learning rate is "
        "halved; 0 keeps it constant (default: the preset's: 5, paper constant)",
    )
    fit.add_argument(
        "--ensemble",
        type=int,
        help="fit this many models with different seeds and average their predictions "
        "(each costs one fit; default: the preset's: 1)",
    )
    fit.add_argument("--out", help="output folder (default: runs/<data>-<seed>)")
    fit.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier run in --out (other files are left alone)",
    )
    output = fit.add_mutually_exclusive_group()
    output.add_argument(
        "--quiet",
        action="store_true",
        help="print no progress, only the metrics and where they were saved",
    )
    output.add_argument(
        "--progress",
        choices=["bar", "epoch"],
        help="progress display: a bar per epoch (default on a terminal) or one line per "
        "epoch (default when the output is a file or a pipe)",
    )
    fit.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --out from its last checkpoint (give the same "
        "options as the interrupted command)",
    )
    fit.set_defaults(handler=_fit)

    evaluate_ = _command(commands, "evaluate", "re-create a saved model's split, evaluate")
    evaluate_.add_argument("--model", required=True, help="folder written by `fit`")
    _add_data_arguments(evaluate_)
    evaluate_.add_argument(
        "--seed",
        type=int,
        help="split seed (default: the fit's). Another seed draws another 80/20 split, whose "
        "test part overlaps the model's training ratings: its metrics are then optimistic",
    )
    evaluate_.set_defaults(handler=_evaluate)

    recommend = _command(commands, "recommend", "print a user's top-k items")
    recommend.add_argument("--model", required=True, help="folder written by `fit`")
    recommend.add_argument("--user", required=True, help="user id")
    recommend.add_argument("-k", type=int, default=10, help="number of items (default: 10)")
    recommend.set_defaults(handler=_recommend)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the `keras-hem` command.

    Args:
        argv: argument list without the program name; `None` reads `sys.argv`.

    Returns:
        Exit status: 0 on success, 2 on an input error (the message goes to stderr). Usage
        errors exit with status 2 through `SystemExit`, as argparse does.

    Examples:
        >>> main(["recommend", "--model", "runs/ml-100k-0", "--user", "1"])  # doctest: +SKIP
    """
    args = _parser().parse_args(argv)

    def show(message, category, *_, **__):  # one line a warning, without file and line
        print(f"keras-hem {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            return args.handler(args) or 0
    except (ValueError, OSError, KeyError) as err:
        message = _cli_advice(" ".join(str(err).split()) or type(err).__name__, args)
        print(f"keras-hem {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR


# The library's advice names Python arguments; on the command line, name the flags instead.
_CLI_ADVICE = (
    ("pass duplicates='last' or 'mean'", "pass --duplicates last or --duplicates mean"),
    ("pass verify=False to load it anyway", "pass --no-verify to load it anyway"),
    ("pass data_dir=<folder> or set", "pass --data-dir <folder> or set"),
)


def _cli_advice(message, args):
    """`message` with its advice in command-line terms."""
    for api, flag in _CLI_ADVICE:
        message = message.replace(api, flag)
    if message.startswith("Missing column(s)") and getattr(args, "columns", "") is None:
        message += (
            " Name the user, item and rating columns with --columns, e.g. --columns uid,iid,stars."
        )
    return message


# ---------------------------------------------------------------------------------------------
# Data


def _split(args, seed, fitted=None):
    """Load the ratings named by the data arguments and split them; returns (train, test).

    `fitted`: the metadata of a saved recommender, whose CSV columns and separator are used
    where the command line names none.
    """
    if args.data in movielens.DATASETS:
        frame = movielens.load_data(args.data, data_dir=args.data_dir, verify=not args.no_verify)
    else:
        fitted = fitted or {}
        columns = args.columns or fitted.get("columns") or DEFAULT_COLUMNS
        sep = args.sep or fitted.get("sep") or DEFAULT_SEP
        names = tuple(name.strip() for name in columns.split(","))
        frame = csv_ratings.load_csv(args.data, columns=names, sep=sep, encoding=args.encoding)
    ratings = RatingMatrix.from_dataframe(
        frame, scale=_scale(args.scale), duplicates=args.duplicates
    )
    return ratings.random_split(TEST_FRACTION, seed=seed)


def _settings(args):
    """The `Recommender` arguments the command line sets on top of its `--preset`."""
    settings = {
        "hidden": args.hidden,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "ranking": args.ranking,
        "head_weight": args.head_weight,
        "ensemble": args.ensemble,
    }
    # An option left out (None) takes the preset's value.
    settings = {key: value for key, value in settings.items() if value is not None}
    if args.lr_patience is not None:
        # None already means "the preset's", so 0 stands for a constant rate.
        settings["lr_patience"] = args.lr_patience or None
    if args.input_dropout is not None:
        settings["model_kwargs"] = {"input_dropout": args.input_dropout}
    if args.preset == "paper" and args.hidden is None:
        settings["hidden"] = PAPER_HIDDEN.get(args.data, PAPER_HIDDEN["ml-1m"])
    return settings


def _recommender_class(args):
    """`Recommender`, imported only now: it loads Keras and its backend (seconds).

    Without `--verbose`, what the backend writes to the terminal while it starts (TensorFlow's
    C++ log lines, e.g. a CUDA probe failing on a machine without a GPU) is kept out of the
    command's output.
    """
    if "keras_hem.recommender" in sys.modules or args.verbose:
        from keras_hem.recommender import Recommender

        return Recommender
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced():
        from keras_hem.recommender import Recommender
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # e.g. retracing notes
    return Recommender


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 (C libraries write there, not to `sys.stderr`) to /dev/null."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _scale(text):
    """`--scale LOW,HIGH` as a pair of floats (None when not given)."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"--scale must be LOW,HIGH (two numbers), got {text!r}.") from None
    return low, high


def _data_label(data):
    """Short name of a data argument for the default output folder."""
    return data if data in movielens.DATASETS else Path(data).stem


# ---------------------------------------------------------------------------------------------
# Commands


def _fit(args):
    """`keras-hem fit`."""
    out = Path(args.out or Path("runs") / f"{_data_label(args.data)}-{args.seed}")
    if args.resume and args.overwrite:
        raise ValueError(
            "--resume continues the run in --out; it cannot be combined with "
            "--overwrite, which replaces it."
        )
    if args.resume:
        if not (out / CHECKPOINT_DIR / "state.json").is_file():
            raise ValueError(
                f"--resume: {out} holds no checkpoint of an interrupted run "
                f"({out / CHECKPOINT_DIR} is missing); run without --resume."
            )
    else:
        _prepare_out(out, args.overwrite)  # before any training: never lose a finished run
    train, test = _split(args, args.seed)
    Recommender = _recommender_class(args)  # noqa: N806 (a class)
    recommender = Recommender.from_preset(args.preset, seed=args.seed, **_settings(args))
    # Seeds batch shuffling and every other random op, so that a run can be repeated.
    import keras

    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    threshold = _threshold(args, train)
    try:
        recommender.fit(
            train,
            verbose=_verbosity(args),
            checkpoint_dir=out / CHECKPOINT_DIR,
            resume=args.resume,
        )
    except KeyboardInterrupt:
        return _interrupted(recommender, out, args, threshold)
    train_time = time.perf_counter() - start
    recommender.metadata = _metadata(args, threshold)
    recommender.save(out)  # first: the model is kept whatever happens next
    shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)  # the run is complete
    written = [*model_files(len(recommender.models)), *MODEL_FILES[1:]]
    metrics = _metrics(recommender, train, test, threshold)
    metrics["train_time_s"] = train_time
    metrics["epochs_run"] = len(recommender.history.get("loss", []))
    if len(recommender.histories) > 1:
        metrics["member_epochs_run"] = [len(h.get("loss", [])) for h in recommender.histories]
    # NaN (a metric with nothing to measure) is written as null: metrics.json stays JSON.
    stored = {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in metrics.items()}
    (out / "metrics.json").write_text(json.dumps(stored, indent=1) + "\n")
    written.append("metrics.json")
    if _save_training_curve(recommender.history, out / "training_curve.png"):
        written.append("training_curve.png")
    _print_metrics(metrics, threshold)
    print(f"Saved {', '.join(written)} to {out}")


def _verbosity(args):
    """Keras's `verbose` for the fit: 0 (--quiet), 1 (a progress bar) or 2 (a line an epoch).

    A progress bar redraws itself with control characters, which make a log file unreadable, so
    it is the default only on a terminal.
    """
    if args.quiet:
        return 0
    progress = args.progress or ("bar" if sys.stdout.isatty() else "epoch")
    return 1 if progress == "bar" else 2


def _metadata(args, threshold):
    """What a saved recommender remembers of the command that trained it."""
    return {
        "data": args.data,
        "data_dir": None if args.data_dir is None else str(Path(args.data_dir).resolve()),
        "columns": args.columns or DEFAULT_COLUMNS,
        "sep": args.sep or DEFAULT_SEP,
        "seed": args.seed,
        "test_fraction": TEST_FRACTION,
        "relevance_threshold": threshold,
    }


def _interrupted(recommender, out, args, threshold):
    """Ctrl-C: keep the best weights so far and say, in one line, how to go on."""
    # Of an ensemble: the epochs of every member so far.
    epochs = sum(len(h.get("loss", [])) for h in recommender.histories)
    kept = ""
    if recommender.is_fitted:
        recommender.metadata = _metadata(args, threshold)
        recommender.save(out)
        kept = f"the best weights so far are saved in {out}; "
    print(
        f"keras-hem fit: interrupted after {epochs} epoch(s); {kept}run the same command with "
        "--resume to continue.",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


def _prepare_out(out, overwrite):
    """Check (and make) the output folder before training; refuse to mix two runs."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder.")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(
                f"--out {out} is not empty; pass --overwrite to replace the earlier run's "
                f"files ({', '.join(RUN_FILES)}), --resume to continue an interrupted run, "
                "or choose another --out."
            )
        shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
        # Only what a run writes: no stale curve, metrics or ensemble member survives.
        for name in [*RUN_FILES, *member_model_files(out)]:
            path = out / name
            if path.is_dir():
                raise ValueError(f"--out {out} holds a folder {name!r} where a file goes.")
            path.unlink(missing_ok=True)
    # Can the folder (or, if it does not exist yet, its nearest existing parent) be written?
    # Nothing is created here: a command that fails later leaves no empty folder behind.
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"--out {out}: {existing} is a file, not a folder.")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise ValueError(f"--out {out} cannot be written: {err.strerror or err}.") from None


def _threshold(args, train):
    """The relevance threshold: `--relevance-threshold`, else the scale's top quarter."""
    if args.relevance_threshold is not None:
        return float(args.relevance_threshold)
    return relevance_threshold(train.scale)


def _metrics(recommender, train, test, threshold):
    """The test metrics; a metric with nothing to measure is NaN, never an error."""
    row = evaluate(recommender, train, test, thresholds=(None, threshold), if_empty="nan")
    return row.to_dict("records")[0]


def _evaluate(args):
    """`keras-hem evaluate`."""
    recommender = _recommender_class(args).load(args.model)
    seed = args.seed if args.seed is not None else recommender.metadata.get("seed", 0)
    train, test = _split(args, seed, fitted=recommender.metadata)
    threshold = _threshold(args, train)
    _print_metrics(_metrics(recommender, train, test, threshold), threshold)


def _recommend(args):
    """`keras-hem recommend`."""
    recommender = _recommender_class(args).load(args.model)
    user = _parse_id(args.user, recommender.train.user_ids)
    if not recommender.known_users(user)[0]:
        print(
            f"User {user!r} has no training ratings: showing the best-rated popular items.",
            file=sys.stderr,
        )
    table = recommender.recommend(user, k=args.k)
    titles = _titles(recommender.metadata)
    columns = ["rank", "item", "score"]
    if titles is not None:
        table["title"] = table["item"].map(titles).fillna("")
        columns = ["rank", "item", "title", "score"]
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _parse_id(text, known_ids):
    """Turn a command-line id into the type of the model's ids (int, float or str)."""
    kind = known_ids.dtype.kind
    try:
        if kind in "iu":
            return int(text)
        if kind == "f":
            return float(text)
    except ValueError:
        raise ValueError(f"user id {text!r} is not a number, but the model's ids are.") from None
    return text


def _titles(metadata):
    """MovieLens titles by item id when the model was trained on MovieLens, else `None`."""
    name = metadata.get("data")
    if name not in movielens.DATASETS:
        return None
    data_dir = metadata.get("data_dir")
    if data_dir is not None and not Path(data_dir).is_dir():
        data_dir = None  # moved since training: fall back to KERAS_HEM_DATA or the cache
    return movielens.load_titles(name, data_dir=data_dir)


# ---------------------------------------------------------------------------------------------
# Output


def _print_metrics(metrics, threshold):
    """Print the headline metrics as a two-column table; NaN prints as n/a, with the reason."""
    suffix = f"_t{threshold:g}"
    names = [name.format(t=suffix) for name in SHOWN_METRICS]
    rows = [(name, metrics[name]) for name in names if name in metrics]
    width = max(len(name) for name, _ in rows)
    print(f"{'metric':<{width}}  value")
    for name, value in rows:
        if isinstance(value, float) and np.isnan(value):
            reason = "no test rating" if name.endswith(("@3", "@5", "@10")) else None
            reason = reason or f"no test rating >= {threshold:g}"
            shown = f"n/a ({reason})"
        else:
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{name:<{width}}  {shown}")


def _save_training_curve(history, path):
    """Plot training loss and validation MAE per epoch into a PNG; True when it was written.

    The loss is drawn on a log scale, so that the large losses of the first epochs do not
    flatten the rest; the epoch with the best validation MAE (the weights that are kept) is
    marked.
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print("matplotlib is not installed: no training_curve.png.", file=sys.stderr)
        return False
    loss = np.asarray(history.get("loss", []), dtype=float)
    if len(loss) == 0:
        return False
    figure = Figure(figsize=(6.4, 4), layout="constrained")
    axes = figure.subplots()
    epochs = np.arange(1, len(loss) + 1)
    style = "-o" if len(loss) <= 30 else "-"  # a few epochs: show each as a point
    axes.plot(epochs, loss, style, color="tab:blue", markersize=3, label="training loss")
    axes.set_xlim(0.5, len(loss) + 0.5)
    if len(loss) <= 10:
        axes.set_xticks(epochs)
    if np.all(loss > 0):
        axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("training loss" + (" (log scale)" if np.all(loss > 0) else ""))
    if "val_mae" in history:
        # The two curves have different units, hence a second y axis.
        val = np.asarray(history["val_mae"], dtype=float)
        right = axes.twinx()
        right.plot(epochs, val, style, color="tab:orange", markersize=3, label="validation MAE")
        best = int(np.nanargmin(val))
        right.axvline(best + 1, color="gray", linestyle=":", linewidth=1)
        right.plot(
            [best + 1],
            [val[best]],
            "o",
            color="tab:orange",
            label=f"best: epoch {best + 1}, MAE {val[best]:.4f}",
        )
        right.set_ylabel("validation MAE")
    figure.legend(loc="outside upper center", ncols=3)
    figure.savefig(path, dpi=100)
    return True


if __name__ == "__main__":
    sys.exit(main())
