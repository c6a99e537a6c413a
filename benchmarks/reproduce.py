"""Reproduces the HEM-AAE paper's MovieLens tables next to baselines, over several random splits.

    KERAS_HEM_DATA=<folder> python benchmarks/reproduce.py --data ml-100k ml-1m \
        [--runs 5 | --seeds 1 2 ...] [--models hem_aae ease ... | all] [--quick] [--merge]

The default `--models` is the main table: the baselines and the library's HEM-AAE (ranked by
`Recommender`'s default score, and the same fits ranked by predicted ratings as the row
`hem_aae_by_ratings`). `all` adds the paper's settings and the ablations, which rank by
predicted ratings like the paper.

For each data set and each seed `0..runs-1`: a random 80/20 split of the ratings
(`RatingMatrix.random_split(0.2, seed)`), every model fitted on the 80% (the HEM-AAE models
stop early on a validation slice carved from that 80% by `Recommender`; the test part is never
seen before evaluation), then `keras_hem.evaluation.evaluate(model, train, test, ks=(3, 5, 10),
thresholds=(None, 4))`.

Writes `results/reproduce_<data>.json` (every run's row, mean and standard deviation per model
and metric, configurations, the command, the data source) and `results/reproduce_<data>.md`
(the tables, beside the paper's figures). The JSON is rewritten after every fitted model, so an
interrupted run keeps what it measured. `--quick` (a smoke run: 2 epochs, 3 ALS sweeps, one
split unless `--runs` is given) writes `reproduce_<data>_quick.*` instead. `--merge` keeps the
rows of models that this command does not run from an existing results file of the same
data set and data source, so models can be measured by separate commands (and with fewer
splits: the table's `splits` column says how many each row has). `--seeds` runs chosen splits
instead of `0..runs-1`; with `--merge` it adds them to (or replaces them in) the models' rows,
so a long row can be completed split by split.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _timing import RESULTS, machine
from baselines import BASELINES

from keras_hem.data import RatingMatrix
from keras_hem.datasets import movielens
from keras_hem.evaluation import evaluate
from keras_hem.presets import PAPER_HIDDEN

KS = (3, 5, 10)
THRESHOLDS = (None, 4)
TEST_FRACTION = 0.2
EASE_REG = {"ml-100k": 500.0, "ml-1m": 500.0}
# `hem_aae_tuned`: the library's HEM-AAE with the recipe `tune.py` chose for each data set on
# validation slices of every split's own training part (results/tune_<data>.json; no test
# part read): the reconstruction error summed over the observed ratings (as eq 9 writes it)
# with a small L2, 200 (ML-100K) / 500 (ML-1M) hidden units, batch 128, Adam lr 0.001. The
# library's defaults (`hem_aae`) are the one setting that scored best on both data sets'
# slices together (300 hidden units, L2 5). Ranked like `hem_aae` (EASE + predicted rating).
TUNED = {
    "ml-100k": (
        {"reconstruction_reduction": "sum", "l2": 10.0},
        {"hidden": 200, "batch_size": 128, "learning_rate": 0.001},
    ),
    "ml-1m": (
        {"reconstruction_reduction": "sum", "l2": 3.0},
        {"hidden": 500, "batch_size": 128, "learning_rate": 0.001},
    ),
}
# HEM-AAE variants: (HEMAAE keyword arguments, Recommender keyword arguments), or a dict of
# them by data set. `hem_aae` is the library's defaults, ranked by `Recommender`'s default
# score; `hem_aae_paper` is the "paper" preset (its own ranking: predicted ratings); the
# ablations take one part out of the defaults and rank by predicted ratings, as the paper
# does, so that the rows compare what mining and the adversary do to the autoencoder.
BY_RATINGS = {"ranking": "ratings"}
HEM_MODELS = {
    "hem_aae": ({}, {}),
    "hem_aae_paper": ({}, {}),  # the "paper" preset, with the paper's hidden units
    "autorec": ({"triplet_weight": 0.0, "adversarial_weight": 0.0}, BY_RATINGS),
    "mining_only": ({"adversarial_weight": 0.0}, BY_RATINGS),
    "adversary_only": ({"triplet_weight": 0.0}, BY_RATINGS),
    "mining_on_codes": ({"mining_features": "codes"}, BY_RATINGS),
    "hem_aae_tuned": TUNED,  # one setting per data set
}
# Rows built from a named preset (`keras_hem.presets`) rather than the library's defaults.
PRESET_OF = {"hem_aae_paper": "paper"}
# Rows evaluated from another row's fitted model (no extra training).
DERIVED = {"hem_aae_by_ratings": "hem_aae"}
# The targets for the library's HEM-AAE (mean over the splits).
TARGETS = {
    "ml-100k": {"MAE": ("<=", 0.695), "P@10": (">=", 0.36), "NDCG@10": (">=", 0.40)},
    "ml-1m": {"MAE": ("<=", 0.650), "P@10": (">=", 0.36), "NDCG@10": (">=", 0.40)},
}
MODELS = list(BASELINES) + list(HEM_MODELS)
MAIN = [*BASELINES, "hem_aae"]  # the main table; ablations are asked for by name or "all"
ROW_ORDER = [*BASELINES, "hem_aae", "hem_aae_by_ratings", *list(HEM_MODELS)[1:]]
# HEM-AAE paper (Sun, Wei, Shagor, CBD 2020), Tables 3-5. It reports no RMSE and does not say
# which test items count as relevant for P@k and NDCG@k.
PAPER = {
    "ml-100k": {
        "MAE": 0.7024,
        "P@3": 0.4202,
        "P@5": 0.3927,
        "P@10": 0.3601,
        "NDCG@3": 0.4334,
        "NDCG@5": 0.4123,
        "NDCG@10": 0.3975,
    },
    "ml-1m": {
        "MAE": 0.6959,
        "P@3": 0.3939,
        "P@5": 0.3857,
        "P@10": 0.3601,
        "NDCG@3": 0.4284,
        "NDCG@5": 0.4133,
        "NDCG@10": 0.4051,
    },
}
TABLE_METRICS = ["MAE", "RMSE"] + [f"P@{k}" for k in KS] + [f"NDCG@{k}" for k in KS]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", choices=sorted(PAPER_HIDDEN), default=["ml-100k"])
    splits = parser.add_mutually_exclusive_group()
    splits.add_argument("--runs", type=int, default=None, help="splits, seeds 0..runs-1 (5)")
    splits.add_argument("--seeds", type=int, nargs="+", default=None, help="these splits only")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=[*MODELS, "all"],
        default=MAIN,
        help="models to run (default: the main table, baselines + hem_aae; all: + ablations)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run, *_quick outputs")
    parser.add_argument("--epochs", type=int, default=None, help="HEM-AAE max epochs (100)")
    parser.add_argument("--merge", action="store_true", help="keep other models' rows")
    parser.add_argument("--out", type=Path, default=RESULTS, help="output folder")
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 5
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    if args.seeds is None:
        args.seeds = list(range(args.runs))
    elif min(args.seeds) < 0 or len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds must be distinct and non-negative, got {args.seeds}")
    if "all" in args.models:
        args.models = MODELS
    if args.epochs is None:
        args.epochs = 2 if args.quick else 100
    return args


def command_line(argv=None, script="reproduce.py"):
    """The command as typed, with `KERAS_HEM_DATA=...` when it is set (its value left out)."""
    words = ["python", f"benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)]
    data = os.environ.get(movielens.ENV_DATA_DIR)
    prefix = f"{movielens.ENV_DATA_DIR}=... " if data else ""
    return prefix + shlex.join(words)


def portable(text):
    """`text` with this machine's data folder written as `$KERAS_HEM_DATA`.

    Results files are published: they name the data by the variable, never by a local path.
    """
    data = os.environ.get(movielens.ENV_DATA_DIR)
    if data:
        text = text.replace(f"{movielens.ENV_DATA_DIR}={data}", f"{movielens.ENV_DATA_DIR}=...")
        text = text.replace(data.rstrip("/"), f"${movielens.ENV_DATA_DIR}")
    return text


def load(name):
    """The ratings as a RatingMatrix and a description of where they came from."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = movielens.load_data(name)
    ratings = RatingMatrix.from_dataframe(frame)
    derived = bool(frame.attrs.get("derived", False))
    source = {
        "name": name,
        "file": portable(str(frame.attrs.get("source"))),
        "derived": derived,
        "checksum_verified": True,
        "n_ratings": ratings.n_ratings,
        "n_users": ratings.n_users,
        "n_items": ratings.n_items,
        "scale": list(ratings.scale),
        "warnings": [portable(str(w.message)) for w in caught],
    }
    if derived:
        source["note"] = (
            "ML-1M ratings read from the derived ratings.csv.gz (all 1,000,209 ratings of the "
            "original ratings.dat, rebuilt from a MATLAB copy, without timestamps), not from "
            "the official ratings.dat."
        )
    return ratings, source


def _framework(machine):
    """The backend framework and version a results file was measured with."""
    if "jax" in machine:
        return f"JAX {machine['jax']}"
    return f"TensorFlow {machine['tensorflow']}"


def validation_slice(name="ml-100k", fraction=0.1, seed=0):
    """`(fit_part, val_part)`: split `seed`'s training 80% split again; its test 20% is unused.

    The slice hyper-parameter choices in `benchmarks/` are scored on (`tune.py`: one per
    split, so each split's choice never sees its own test ratings).
    """
    ratings, _ = load(name)
    train, _ = ratings.random_split(TEST_FRACTION, seed=seed)
    return train.random_split(fraction, seed=seed)


def make_model(name, data, seed, args):
    """An unfitted model and its JSON-able configuration."""
    if name in BASELINES:
        if name == "ease":
            model = BASELINES[name](reg=EASE_REG[data])
        elif name == "biased_mf":
            model = BASELINES[name](seed=seed, **({"iterations": 3} if args.quick else {}))
        elif name == "surprise_svd":
            model = BASELINES[name](seed=seed, **({"n_epochs": 2} if args.quick else {}))
        else:
            model = BASELINES[name]()
        return model, {"class": type(model).__name__, **model.get_config()}
    from keras_hem.recommender import Recommender

    settings = HEM_MODELS[name]
    model_kwargs, recommender_kwargs = settings[data] if isinstance(settings, dict) else settings
    preset = PRESET_OF.get(name, "default")
    if preset == "paper":
        recommender_kwargs = {"hidden": PAPER_HIDDEN[data], **recommender_kwargs}
    model = Recommender.from_preset(
        preset,
        epochs=args.epochs,
        seed=seed,
        patience=1 if args.quick else 10,
        model_kwargs=dict(model_kwargs),
        **recommender_kwargs,
    )
    return model, {"class": "Recommender", **model.get_config()}


def fit(model, train, seed):
    """Fit a model on the training part; returns extra facts about the fit."""
    if not hasattr(model, "history"):
        model.fit(train)
        return {}
    import keras

    keras.utils.set_random_seed(seed)
    model.fit(train, verbose=0)
    val = model.history.get("val_mae", [])
    return {
        "epochs": len(model.history.get("loss", [])),
        "best_epoch": int(np.argmin(val)) + 1 if val else None,
        "best_val_mae": float(np.min(val)) if val else None,
    }


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def summarise(rows):
    """Mean, sample standard deviation (None for one run) and count per model and metric."""
    frame = pd.DataFrame(rows)
    skip = {"model", "seed", "epochs", "best_epoch"}
    summary = {}
    for model, group in frame.groupby("model", sort=False):
        stats = {}
        for column in group.columns:
            if column in skip or not pd.api.types.is_numeric_dtype(group[column]):
                continue
            values = group[column].dropna().to_numpy(dtype=np.float64)
            if len(values) == 0:
                continue
            stats[column] = {
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if len(values) > 1 else None,
                "n": int(len(values)),
            }
        summary[model] = stats
    return summary


def _cell(stats, metric):
    if metric not in stats:
        return "—"
    entry = stats[metric]
    if entry["std"] is None:
        return f"{entry['mean']:.4f}"
    return f"{entry['mean']:.4f} ± {entry['std']:.4f}"


def markdown(result):
    """The results as markdown tables (ratings, then ranking), the paper's row first.

    The part between the `tables` snippet markers is what the docs' Benchmarks page includes,
    under a level-2 heading per data set.
    """
    data = result["data"]
    name = data["name"]
    paper = PAPER[name]
    derived = f" {data['note']}" if data["derived"] else ""
    lines = [
        f"# {name}: keras-hem against the HEM-AAE paper",
        "",
        "Generated by `benchmarks/reproduce.py`; do not edit by hand.",
        "",
        "Commands:",
        "",
        *[f"    {command}" for command in result["commands"]],
        "",
        "<!-- --8<-- [start:tables] -->",
        "",
        f"Data: `{data['file']}` ({data['n_ratings']:,} ratings, {data['n_users']:,} users, "
        f"{data['n_items']:,} items).{derived}",
        "",
        f"Protocol: {result['protocol']['description']} Cells are mean ± sample standard "
        f"deviation over the splits (a bare number: one split). Machine: "
        f"{result['machine']['cpu_count']} CPU cores, GPUs {result['machine']['gpus'] or 'none'}, "
        f"{_framework(result['machine'])}, Keras {result['machine']['keras']}.",
        "",
        f"### {name}: ratings",
        "",
        *_table(result, paper, ["MAE", "RMSE"], suffix="", seconds=True),
    ]
    ranking = [m for m in TABLE_METRICS if m not in ("MAE", "RMSE")]
    for threshold in THRESHOLDS:
        suffix = "" if threshold is None else f"_t{threshold:g}"
        title = (
            "every test item relevant"
            if threshold is None
            else f"relevant = test rating >= {threshold:g}"
        )
        lines += [f"### {name}: ranking, {title}", ""]
        lines += _table(result, paper, ranking, suffix=suffix, seconds=False)
    lines += _targets(result) + [
        "The paper reports no RMSE and does not state which test items count as relevant, so "
        "its figures are shown beside both relevance definitions. EASE and Popularity are "
        "ranking models: their MAE and RMSE are the item mean's.",
        "",
        "<!-- --8<-- [end:tables] -->",
        "",
    ]
    return "\n".join(lines)


def _table(result, paper, metrics, suffix, seconds):
    """One markdown table: the paper's row, then a row per model, over `metrics`."""
    header = ["model", "splits", *metrics] + (["train s"] if seconds else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    paper_cells = [f"{paper[m]:.4f}" if m in paper else "—" for m in metrics]
    paper_cells += ["—"] if seconds else []
    lines.append("| HEM-AAE (paper, Tables 3-5) | — | " + " | ".join(paper_cells) + " |")
    keys = [m if m in ("MAE", "RMSE") else f"{m}{suffix}" for m in metrics]
    for model, stats in result["summary"].items():
        cells = [_cell(stats, key) for key in keys]
        if seconds:
            mean = stats.get("train_seconds", {}).get("mean")
            cells.append("—" if mean is None else f"{mean:.1f}")
        n = stats.get("MAE", {}).get("n", 0)
        lines.append(f"| {model} | {n} | " + " | ".join(cells) + " |")
    return lines + [""]


def _targets(result):
    """The project's targets for the library's HEM-AAE, met or missed, and the run time."""
    stats = result["summary"].get("hem_aae")
    name = result["data"]["name"]
    lines = [f"### {name}: the project's targets (library HEM-AAE, mean over the splits)", ""]
    if stats is None:
        lines += ["hem_aae has not been run on this data set yet.", ""]
    else:
        for metric, (sign, bound) in TARGETS[name].items():
            value = stats[metric]["mean"]
            met = value <= bound if sign == "<=" else value >= bound
            lines.append(
                f"- {metric} {sign} {bound}: {value:.4f}, **{'met' if met else 'missed'}**"
            )
        lines.append("")
    seconds = sum(r["train_seconds"] + r["eval_seconds"] for r in result["runs"])
    main = sum(r["train_seconds"] + r["eval_seconds"] for r in result["runs"] if r["model"] in MAIN)
    lines += [
        f"Time of every fit and evaluation above, added up: {seconds / 60:.1f} min; of the main "
        f"table (baselines and hem_aae, the default `--models`): {main / 60:.1f} min.",
        "",
    ]
    return lines


def run_dataset(name, args, command):
    ratings, source = load(name)
    suffix = "_quick" if args.quick else ""
    json_path = args.out / f"reproduce_{name}{suffix}.json"
    rows, configs, commands = [], {}, [command]
    if args.merge and json_path.exists():
        old = json.loads(portable(json_path.read_text()))
        if old["data"]["file"] != source["file"]:
            raise SystemExit(f"--merge: {json_path} has another data source.")
        replaced = set(args.models) | {d for d, m in DERIVED.items() if m in args.models}
        rows = [r for r in old["runs"] if r["model"] not in replaced or r["seed"] not in args.seeds]
        configs = {m: c for m, c in old["models"].items() if m not in replaced}
        commands = [*old["commands"], command]
    seeds = sorted({*args.seeds, *(r["seed"] for r in rows)})
    result = {
        "commands": commands,
        "data": source,
        "protocol": {
            "split": f"RatingMatrix.random_split({TEST_FRACTION}, seed)",
            "seeds": seeds,
            "runs": len(seeds),
            "ks": list(KS),
            "thresholds": list(THRESHOLDS),
            "ranking": "full_catalog",
            "quick": args.quick,
            "description": (
                "random 80/20 splits of the ratings (seed s: RatingMatrix.random_split(0.2, s); "
                "the splits column says how many, seeds 0 up); "
                "models fitted on the 80% (HEM-AAE models stop early on a 10% validation "
                "slice of it); MAE and RMSE over every test rating (clipped to the scale); "
                "P@k and NDCG@k rank every item the user did not rate in training."
            ),
        },
        "machine": machine(),
        "paper": PAPER[name],
    }

    def record(model_name, model, seed, train, test, train_seconds, facts):
        start = time.perf_counter()
        row = evaluate(model, train, test, ks=KS, thresholds=THRESHOLDS).iloc[0].to_dict()
        eval_seconds = time.perf_counter() - start
        row = {
            "model": model_name,
            "seed": seed,
            **{k: _jsonable(v) for k, v in row.items()},
            "train_seconds": train_seconds,
            "eval_seconds": eval_seconds,
            **facts,
        }
        rows.append(row)
        print(
            f"{name} seed {seed} {model_name}: MAE {row['MAE']:.4f} "
            f"P@10 {row['P@10']:.4f} NDCG@10 {row['NDCG@10']:.4f} "
            f"({train_seconds:.1f} s fit, {eval_seconds:.1f} s eval)",
            flush=True,
        )
        order = {m: i for i, m in enumerate(ROW_ORDER)}
        rows.sort(key=lambda r: (order[r["model"]], r["seed"]))
        result["models"] = {m: configs[m] for m in sorted(configs, key=order.get)}
        result["runs"] = rows
        result["summary"] = summarise(rows)
        args.out.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2) + "\n")

    for seed in args.seeds:
        train, test = ratings.random_split(TEST_FRACTION, seed=seed)
        for model_name in args.models:
            model, config = make_model(model_name, name, seed, args)
            configs[model_name] = config
            start = time.perf_counter()
            facts = fit(model, train, seed)
            train_seconds = time.perf_counter() - start
            record(model_name, model, seed, train, test, train_seconds, facts)
            for derived, source_model in DERIVED.items():
                if source_model == model_name:
                    configs[derived] = {**config, "ranking": "ratings", "derived_from": model_name}
                    record(derived, model.with_ranking("ratings"), seed, train, test, 0.0, facts)
    md_path = json_path.with_suffix(".md")
    md_path.write_text(markdown(result))
    print(f"wrote {json_path} and {md_path}")
    return result


def main(argv=None):
    args = parse_args(argv)
    command = command_line(argv)
    for name in args.data:
        run_dataset(name, args, command)


if __name__ == "__main__":
    main()
