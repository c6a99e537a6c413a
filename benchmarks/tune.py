"""Nested model selection for HEM-AAE: each split's settings are scored inside its training part.

    KERAS_HEM_DATA=<folder> python benchmarks/tune.py --data ml-1m --seeds 0 1 2 3 4 \\
        --settings '{}' '{"reconstruction_reduction": "sum", "l2": 300, "batch_size": 32}'

Protocol: for split seed s, `RatingMatrix.random_split(0.2, s)` gives the training part and
the test part of the main tables; the test part is never read here. The training part is
split again 90/10 (seed s): each setting is a `Recommender(seed=s, ranking="ratings", ...)`
fitted on the 90% (which carves its own early-stopping slice from it) and scored on the 10%.
Keys `hidden`, `epochs`, `batch_size`, `patience`, `learning_rate`, `lr_patience`,
`lr_factor`, `validation_fraction` and `global_kernel_epochs` go to `Recommender`, every
other key to `HEMAAE`; key `ensemble` lists further settings (each on top of the
defaults), fitted with seeds s + 1000, s + 2000, ..., whose predicted ratings are averaged
with the setting's own; key `global_kernel_statistics: "zeros"` runs the
`global_kernel_epochs` stage with the kernel left the identity (the control: training on
from the first stage's best weights alone). Every
setting tried is kept in the results file with its seed, validation MAE and RMSE, epochs run,
best epoch and fit time; the markdown beside it ranks the settings by their mean validation
MAE and names each seed's own winner (the choice that split's test part may be used to
report).
"""

import argparse
import contextlib
import inspect
import json
import time
from pathlib import Path

import keras
import numpy as np
from _timing import RESULTS, machine
from harness import command_line, portable, validation_slice

from keras_hem.evaluation import evaluate
from keras_hem.models import HEMAAE
from keras_hem.recommender import Recommender

RECOMMENDER_KEYS = (
    "hidden",
    "epochs",
    "batch_size",
    "patience",
    "learning_rate",
    "validation_fraction",
    "lr_patience",
    "lr_factor",
    "global_kernel_epochs",
)
PROTOCOL = __doc__.split("\n\n")[2].replace("\n", " ")
# Rows measured before a row recorded the defaults it was on top of (keras-hem 0.1's).
EARLIER_DEFAULTS = "hidden 400, batch 256, mean error, l2 0.001"


def current_defaults():
    """The library defaults a setting is on top of, in words (recorded with every row)."""
    rec = Recommender()
    params = inspect.signature(HEMAAE).parameters
    reduction, l2 = params["reconstruction_reduction"].default, params["l2"].default
    dropout = params["input_dropout"].default
    return (
        f"hidden {rec.hidden}, batch {rec.batch_size}, {reduction} error, l2 {l2:g}, "
        f"input_dropout {dropout:g}, lr_patience {rec.lr_patience}, epochs {rec.epochs}"
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="ml-100k", help="ml-100k or ml-1m")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--settings", nargs="+", default=["{}"], help="JSON objects")
    parser.add_argument("--out", help="results file (default: results/tune_<data>.json)")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the markdown from the results file"
    )
    return parser.parse_args(argv)


def split_settings(setting):
    """`(Recommender kwargs, HEMAAE kwargs)` of one setting."""
    outer = {k: setting[k] for k in RECOMMENDER_KEYS if k in setting}
    inner = {k: v for k, v in setting.items() if k not in RECOMMENDER_KEYS}
    return outer, inner


class Averaged:
    """Recommenders whose predicted ratings are averaged (an ensemble); ranks as the first."""

    def __init__(self, members):
        self.members = members

    def predict(self, users, items):
        return np.mean([m.predict(users, items) for m in self.members], axis=0)

    def score_users(self, user_indices):
        return self.members[0].score_users(user_indices)


def fitted(setting, fit_part, seed):
    setting = dict(setting)
    control = setting.pop("global_kernel_statistics", None) == "zeros"
    outer, inner = split_settings(setting)
    keras.utils.set_random_seed(seed)
    rec = Recommender(seed=seed, ranking="ratings", model_kwargs=inner, **outer)
    with statistics_left_at_zero() if control else contextlib.nullcontext():
        return rec.fit(fit_part, verbose=0)


@contextlib.contextmanager
def statistics_left_at_zero():
    """The second stage without its kernel: `start_global_kernel` leaves the statistics at 0.

    The kernel then stays the identity and learns nothing, so the stage is training on from
    the first stage's best weights alone: the control for what the kernel adds.
    """
    original = HEMAAE.start_global_kernel
    HEMAAE.start_global_kernel = lambda self, x, batch_size=None: None
    try:
        yield
    finally:
        HEMAAE.start_global_kernel = original


def score(setting, fit_part, val_part, seed):
    members = setting.get("ensemble", [])
    start = time.perf_counter()
    rec = fitted({k: v for k, v in setting.items() if k != "ensemble"}, fit_part, seed)
    others = [fitted(m, fit_part, seed + 1000 * (k + 1)) for k, m in enumerate(members)]
    seconds = time.perf_counter() - start
    model = Averaged([rec, *others]) if others else rec
    metrics = evaluate(model, fit_part, val_part, ks=(10,), thresholds=(None,)).iloc[0]
    val_mae = rec.history.get("val_mae", [])
    return {
        "setting": setting,
        "defaults": current_defaults(),
        "seed": seed,
        "val_MAE": float(metrics["MAE"]),
        "val_RMSE": float(metrics["RMSE"]),
        "epochs": len(rec.history["loss"]),
        **({"member_epochs": [len(m.history["loss"]) for m in others]} if others else {}),
        "best_epoch": int(np.argmin(val_mae)) + 1 if val_mae else None,
        "train_seconds": seconds,
    }


def summary(rows):
    """Per setting: mean validation MAE over its seeds; per seed: its best setting."""
    settings = {}
    for row in rows:
        key = json.dumps([row["setting"], row.get("defaults", EARLIER_DEFAULTS)], sort_keys=True)
        settings.setdefault(key, []).append(row)
    ranked = sorted(
        (
            {
                "setting": json.loads(key)[0],
                "defaults": json.loads(key)[1],
                "seeds": sorted(r["seed"] for r in group),
                "val_MAE": float(np.mean([r["val_MAE"] for r in group])),
                "val_RMSE": float(np.mean([r["val_RMSE"] for r in group])),
                "epochs": [r["epochs"] for r in group],
                "train_seconds": float(np.mean([r["train_seconds"] for r in group])),
            }
            for key, group in settings.items()
        ),
        key=lambda s: s["val_MAE"],
    )
    winners = {}
    for row in rows:
        best = winners.get(row["seed"])
        if best is None or row["val_MAE"] < best["val_MAE"]:
            winners[row["seed"]] = row
    return ranked, {seed: winners[seed] for seed in sorted(winners)}


def markdown(result):
    ranked, winners = summary(result["rows"])
    lines = [
        f"Commands ({result['data']}):",
        "",
        *[f"    {c}" for c in result["commands"]],
        "",
        "A setting is on top of the library defaults of its time (the `on` column).",
        "",
        "| setting | on | seeds | val MAE | val RMSE | epochs | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in ranked:
        lines.append(
            f"| `{json.dumps(s['setting'], sort_keys=True)}` | {s['defaults']} "
            f"| {' '.join(map(str, s['seeds']))} "
            f"| {s['val_MAE']:.4f} | {s['val_RMSE']:.4f} "
            f"| {' '.join(map(str, s['epochs']))} | {s['train_seconds']:.0f} |"
        )
    lines += ["", "Each seed's winner (scored inside that split's training part):", ""]
    for seed, row in winners.items():
        lines.append(
            f"- seed {seed}: `{json.dumps(row['setting'], sort_keys=True)}` on "
            f"{row.get('defaults', EARLIER_DEFAULTS)}, val MAE {row['val_MAE']:.4f}"
        )
    return "\n".join(lines) + "\n"


def load(path):
    """The results file's contents (empty before the first run)."""
    return json.loads(path.read_text()) if path.exists() else {"rows": [], "commands": []}


def record(path, row, command, header):
    """Add `row` (replacing its setting's row for that seed) and `command` to the results file.

    The file is read afresh at every write, so that a run beside this one keeps its rows.
    """
    result = load(path)
    result.update(header)
    result["commands"] = [c for c in result["commands"] if c != command] + [command]
    same = (row["setting"], row["defaults"], row["seed"])
    result["rows"] = [
        r
        for r in result["rows"]
        if (r["setting"], r.get("defaults", EARLIER_DEFAULTS), r["seed"]) != same
    ] + [row]
    path.write_text(json.dumps(result, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(result))
    return result


def main(argv=None):
    args = parse_args(argv)
    path = RESULTS / f"tune_{args.data}.json" if args.out is None else Path(args.out)
    result = load(path)  # a malformed file fails here, before any fit
    if args.render:
        result.setdefault("data", args.data)
        path.with_suffix(".md").write_text(markdown(result))
        return result
    header = {"data": args.data, "protocol": PROTOCOL, "machine": machine()}
    command = portable(command_line(argv, script="tune.py"))
    settings = [json.loads(s) for s in args.settings]
    for seed in args.seeds:
        fit_part, val_part = validation_slice(args.data, seed=seed)
        for setting in settings:
            row = score(setting, fit_part, val_part, seed)
            print(json.dumps(row), flush=True)
            result = record(path, row, command, header)
    return result


if __name__ == "__main__":
    main()
