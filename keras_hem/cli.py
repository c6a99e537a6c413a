"""The `keras-hem` command: train, evaluate and query a HEM-AAE recommender from the shell.

Sub-commands (`keras-hem <command> --help` lists every option):

* `fit`: load MovieLens (`ml-100k`, `ml-1m`) or a CSV file, split it 80/20 at random, train a
  `Recommender`, print its test metrics and save it with `metrics.json` and
  `training_curve.png`.
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
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np

from keras_hem.data import RatingMatrix
from keras_hem.datasets import movielens
from keras_hem.evaluation import evaluate
from keras_hem.recommender import Recommender

TEST_FRACTION = 0.2
DEFAULT_HIDDEN = {"ml-100k": 100, "ml-1m": 400}
FALLBACK_HIDDEN = 100
EXIT_ERROR = 2
# Metrics shown by `fit` and `evaluate`, in order; metrics.json keeps every column.
SHOWN_METRICS = (
    "MAE",
    "RMSE",
    "P@3",
    "P@5",
    "P@10",
    "NDCG@3",
    "NDCG@5",
    "NDCG@10",
    "P@10_t4",
    "NDCG@10_t4",
    "n_unseen",
    "train_time_s",
)


def _add_data_arguments(parser):
    """The options that name a data set, shared by `fit` and `evaluate`."""
    parser.add_argument(
        "--data",
        required=True,
        help="ml-100k, ml-1m, or the path of a CSV file with a header.",
    )
    parser.add_argument(
        "--data-dir",
        help=f"folder with the MovieLens files (default: ${movielens.ENV_DATA_DIR}, else the "
        f"Keras cache, downloading if needed).",
    )
    parser.add_argument(
        "--columns",
        default="user,item,rating",
        help="CSV header names of the user, item and rating columns (default: %(default)s).",
    )
    parser.add_argument("--sep", default=",", help="CSV field separator (default: %(default)r).")


def _parser():
    """The argument parser of the `keras-hem` command."""
    parser = argparse.ArgumentParser(
        prog="keras-hem", description="HEM-AAE recommender: fit, evaluate, recommend."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser("fit", help="train a recommender and report its test metrics")
    _add_data_arguments(fit)
    fit.add_argument("--epochs", type=int, default=100, help="maximum epochs (early stopping)")
    fit.add_argument(
        "--hidden",
        type=int,
        help="hidden units (default: 100 for ml-100k, 400 for ml-1m, else 100)",
    )
    fit.add_argument("--batch-size", type=int, default=256, help="item rows per batch")
    fit.add_argument("--seed", type=int, default=0, help="seed of the split and the model")
    fit.add_argument(
        "--ranking",
        choices=["ease", "ratings"],
        default="ease",
        help="top-N score: EASE + predicted ratings (default) or predicted ratings (the paper)",
    )
    fit.add_argument("--out", help="output folder (default: runs/<data>-<seed>)")
    fit.set_defaults(handler=_fit)

    evaluate_ = commands.add_parser("evaluate", help="re-create a saved model's split, evaluate")
    evaluate_.add_argument("--model", required=True, help="folder written by `fit`")
    _add_data_arguments(evaluate_)
    evaluate_.add_argument("--seed", type=int, help="split seed (default: the one used by fit)")
    evaluate_.set_defaults(handler=_evaluate)

    recommend = commands.add_parser("recommend", help="print a user's top-k items")
    recommend.add_argument("--model", required=True, help="folder written by `fit`")
    recommend.add_argument("--user", required=True, help="user id")
    recommend.add_argument("-k", type=int, default=10, help="number of items (default: 10)")
    recommend.set_defaults(handler=_recommend)
    return parser


def main(argv=None):
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
    try:
        args.handler(args)
    except (ValueError, OSError, KeyError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"keras-hem {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    return 0


# ---------------------------------------------------------------------------------------------
# Data


def _split(args, seed):
    """Load the ratings named by the data arguments and split them; returns (train, test)."""
    if args.data in movielens.DATASETS:
        frame = movielens.load_data(args.data, data_dir=args.data_dir)
    else:
        columns = tuple(name.strip() for name in args.columns.split(","))
        frame = movielens.load_csv(args.data, columns=columns, sep=args.sep)
    ratings = RatingMatrix.from_dataframe(frame)
    return ratings.random_split(TEST_FRACTION, seed=seed)


def _data_label(data):
    """Short name of a data argument for the default output folder."""
    return data if data in movielens.DATASETS else Path(data).stem


# ---------------------------------------------------------------------------------------------
# Commands


def _fit(args):
    """`keras-hem fit`."""
    train, test = _split(args, args.seed)
    hidden = DEFAULT_HIDDEN.get(args.data, FALLBACK_HIDDEN) if args.hidden is None else args.hidden
    recommender = Recommender(
        hidden=hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        ranking=args.ranking,
    )
    # Seeds batch shuffling and every other random op, so that a run can be repeated.
    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    recommender.fit(train, verbose="auto")
    train_time = time.perf_counter() - start
    metrics = evaluate(recommender, train, test).to_dict("records")[0]
    metrics["train_time_s"] = train_time
    metrics["epochs_run"] = len(recommender.history.get("loss", []))
    _print_metrics(metrics)

    out = Path(args.out or Path("runs") / f"{_data_label(args.data)}-{args.seed}")
    recommender.metadata = {
        "data": args.data,
        "data_dir": None if args.data_dir is None else str(Path(args.data_dir).resolve()),
        "seed": args.seed,
        "test_fraction": TEST_FRACTION,
    }
    recommender.save(out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    _save_training_curve(recommender.history, out / "training_curve.png")
    print(f"Saved the recommender, metrics.json and training_curve.png to {out}")


def _evaluate(args):
    """`keras-hem evaluate`."""
    recommender = Recommender.load(args.model)
    seed = args.seed if args.seed is not None else recommender.metadata.get("seed", 0)
    train, test = _split(args, seed)
    _print_metrics(evaluate(recommender, train, test).to_dict("records")[0])


def _recommend(args):
    """`keras-hem recommend`."""
    recommender = Recommender.load(args.model)
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


def _print_metrics(metrics):
    """Print the headline metrics as a two-column table."""
    rows = [(name, metrics[name]) for name in SHOWN_METRICS if name in metrics]
    width = max(len(name) for name, _ in rows)
    print(f"{'metric':<{width}}  value")
    for name, value in rows:
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{name:<{width}}  {shown}")


def _save_training_curve(history, path):
    """Plot the training loss and validation MAE per epoch into a PNG file."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print("matplotlib is not installed: no training_curve.png.", file=sys.stderr)
        return
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    axes.plot(epochs, history.get("loss", []), color="tab:blue", label="training loss")
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("training loss")
    if "val_mae" in history:
        # The two curves have different units, hence a second y axis.
        right = axes.twinx()
        right.plot(epochs, history["val_mae"], color="tab:orange", label="validation MAE")
        right.set_ylabel("validation MAE")
        figure.legend(loc="outside upper center", ncols=2)
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
