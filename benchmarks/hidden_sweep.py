"""MAE against the number of hidden units (the paper's Fig. 5), one split per data set.

    KERAS_HEM_DATA=<folder> python benchmarks/hidden_sweep.py --data ml-100k ml-1m \
        [--hidden 10 50 100 150 ... 600] [--recipe default|previous]

For each data set: seed 0's random 80/20 split (as in `reproduce.py`), the library's HEM-AAE
(`Recommender` defaults; early stopping on a validation slice of the 80%) fitted once per
hidden size, MAE and RMSE on the test 20%; `--recipe previous` fits the recipe before
denoising and the falling learning rate became the defaults (each row records its recipe;
rows without one were measured with it). The sweep reports; no default was chosen from it.
Results accumulate in `results/hidden_sweep.json` (one row per data set and size; a rerun
replaces its rows), are tabulated in `results/hidden_sweep.md` and plotted to
`docs/img/hidden_sweep.png`; `--plot-only` redraws the table and plot from the results file.
"""

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
from _timing import RESULTS, machine
from harness import PAPER, PREVIOUS_FIT, PREVIOUS_MODEL, TEST_FRACTION, load

from keras_hem.evaluation import evaluate
from keras_hem.presets import PAPER_HIDDEN
from keras_hem.recommender import Recommender

GRID = [10, *range(50, 601, 50)]
# Recommender keyword arguments of each recipe; rows measured before rows recorded a recipe
# used "previous".
RECIPES = {
    "default": {},
    "previous": {**PREVIOUS_FIT, "model_kwargs": PREVIOUS_MODEL},
}
PLOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "hidden_sweep.png"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", choices=sorted(PAPER_HIDDEN), default=["ml-100k"])
    parser.add_argument("--hidden", nargs="+", type=int, default=GRID)
    parser.add_argument("--out", type=Path, default=RESULTS / "hidden_sweep.json")
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="default")
    parser.add_argument(
        "--plot-only", action="store_true", help="redraw the table and plot from --out"
    )
    return parser.parse_args(argv)


def recipe(row):
    return row.get("recipe", "previous")


def measure(name, hidden, train, test, recipe_name="default"):
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    settings = RECIPES[recipe_name]
    rec = Recommender(hidden=hidden, seed=0, ranking="ratings", **settings)
    rec.fit(train, verbose=0)
    seconds = time.perf_counter() - start
    row = evaluate(rec, train, test, ks=(10,), thresholds=(None,)).iloc[0]
    return {
        "data": name,
        "hidden": hidden,
        "MAE": float(row["MAE"]),
        "RMSE": float(row["RMSE"]),
        "epochs": len(rec.history.get("loss", [])),
        "train_seconds": seconds,
        "recipe": recipe_name,
    }


def plot(rows, path):
    """MAE per hidden size, the paper's Table 3 MAE at its own hidden size as a star.

    The y range is set by the sizes from 50 up: the 10-unit fits sit far above, so they are
    drawn at the top edge with their value written beside them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    shown = [r["MAE"] for r in rows if r["hidden"] >= 50]
    shown += [PAPER[r["data"]]["MAE"] for r in rows]
    low, high = min(shown), max(shown)
    top = high + 0.15 * (high - low)
    ax.set_ylim(low - 0.08 * (high - low), top + 0.05 * (high - low))
    for index, name in enumerate(sorted({r["data"] for r in rows})):
        points = sorted((r["hidden"], r["MAE"]) for r in rows if r["data"] == name)
        xs = [x for x, _ in points]
        ys = [min(y, top) for _, y in points]
        recipes = "/".join(sorted({recipe(r) for r in rows if r["data"] == name}))
        (line,) = ax.plot(xs, ys, marker="o", label=f"{name} (keras-hem, {recipes} recipe)")
        for x, y in points:
            if y > top:
                ax.annotate(
                    f"{name} at {x}: {y:.3f} (off scale)",
                    (x, top),
                    xytext=(8, -4 - 11 * index),
                    textcoords="offset points",
                    fontsize=8,
                    color=line.get_color(),
                )
        ax.plot(
            [PAPER_HIDDEN[name]],
            [PAPER[name]["MAE"]],
            marker="*",
            markersize=13,
            linestyle="none",
            color=line.get_color(),
            markeredgecolor="black",
            label=f"{name}: paper, Table 3",
        )
    ax.set_xlabel("hidden units")
    ax.set_ylabel("test MAE (seed 0 split)")
    ax.set_title("MAE against hidden units (cf. the paper's Fig. 5)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def table(rows):
    """Markdown: one row per hidden size, one MAE column per data set; its recipe below."""
    names = sorted({r["data"] for r in rows})
    cells = {(r["data"], r["hidden"]): r for r in rows}
    notes = [
        f"{n}: the {'/'.join(sorted({recipe(r) for r in rows if r['data'] == n}))} recipe"
        for n in names
    ]
    lines = [
        "| hidden | " + " | ".join(f"{n} MAE | {n} epochs | {n} fit s" for n in names) + " |",
        "|---|" + "---|---|---|" * len(names),
    ]
    for hidden in sorted({r["hidden"] for r in rows}):
        row = [str(hidden)]
        for n in names:
            r = cells.get((n, hidden))
            row += (
                [f"{r['MAE']:.4f}", str(r["epochs"]), f"{r['train_seconds']:.0f}"]
                if r
                else ["—"] * 3
            )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n\nRecipes (`--recipe`): " + "; ".join(notes) + ".\n"


def main(argv=None):
    args = parse_args(argv)
    old = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    for name in [] if args.plot_only else args.data:
        ratings, _ = load(name)
        train, test = ratings.random_split(TEST_FRACTION, seed=0)
        for hidden in args.hidden:
            row = measure(name, hidden, train, test, args.recipe)
            print(json.dumps(row), flush=True)
            old = [r for r in old if (r["data"], r["hidden"]) != (name, hidden)] + [row]
            old.sort(key=lambda r: (r["data"], r["hidden"]))
            payload = {"machine": machine(), "protocol": __doc__.split("\n\n")[2], "rows": old}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(payload, indent=2) + "\n")
    plot(old, args.plot)
    args.out.with_suffix(".md").write_text(table(old))
    best = {
        n: min((r for r in old if r["data"] == n), key=lambda r: r["MAE"])
        for n in {r["data"] for r in old}
    }
    for n, r in sorted(best.items()):
        print(f"{n}: lowest MAE {r['MAE']:.4f} at {r['hidden']} hidden units")
    return np.array([r["MAE"] for r in old])


if __name__ == "__main__":
    main()
