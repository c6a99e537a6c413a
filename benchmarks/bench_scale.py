"""How HEM-AAE's training and serving scale from MovieLens-1M to MovieLens-25M sizes.

    python benchmarks/bench_scale.py [--shapes ml-1m ml-10m ml-25m] [--rounds 3] \
        [--steps 12] [--dense-steps 3] [--hidden 400] [--batch 256] \
        [--parts epoch pipeline] [--pipeline-format auto] [--merge] \
        [--out benchmarks/results/scale.json] \
        [--plot docs/img/scale_epoch_time.png]
    python benchmarks/bench_scale.py --smoke   # tiny shapes, for the test

Data: `keras_hem.datasets.synthetic.sparse_ratings` at the shapes of `SHAPES` (users, items,
ratings of ML-1M, ML-10M and ML-25M; skewed item popularity and user activity), seed 0. No
MovieLens file is needed.

Two measurements per shape, each in its own process (so that one shape's memory does not
count against the next):

* **Training steps** (`epoch`): `HEMAAE(hidden, seed=0)` with `batch_format="sparse"` and
  `"dense"`, batches of `--batch` item rows, the default step (both phases, mining, adversary,
  jit-compiled). Each format first runs a few untimed steps (compiling the step for the
  padded batch sizes), then `--rounds` rounds; every round times `--steps` sparse steps and
  `--dense-steps` dense ones, in an order that alternates between rounds. A step's time is
  the gap between two consecutive `on_train_batch_end` calls. A third variant,
  `sparse_large_batch`, times sparse steps of `--large-batch` items (default 1024; 0: off),
  which amortise the per-step passes over the weights (the optimizer's update). Reported
  per format: the median step over all rounds and the epoch it implies
  (`median step x ceil(items / batch)` steps), and per round the dense/sparse ratio of the
  round's median steps (median and minimum over rounds). The per-`fit` setup (the mining
  inputs of every row, computed once per `fit` from the CSR matrix) is timed apart
  (`setup_seconds`).
* **Whole pipeline** (`pipeline`): peak resident memory (`ru_maxrss`; its wall times go to
  the JSON file only, as this part may run beside other work) of
  `Recommender(hidden, epochs=1, batch_size, seed=0).fit(table)` (one epoch with its 10%
  validation slice; `batch_format` left at `"auto"`), then `recommend(every user, k=10)`, then
  `predict` of 1,000,000 random (user, item) pairs, from a ratings table. The peak includes
  the interpreter, TensorFlow and the table itself (`rss_before_fit_gb`); the peak after
  `fit` (`fit_peak_rss_gb`) is recorded too. `--pipeline-format dense|sparse` forces
  `HEMAAE(batch_format=...)` (sparse: with `head_weight=0`, as a head needs dense batches)
  and stores the run under its own key (`"ml-10m, dense batches"`) beside the auto one;
  `--pipeline-hidden` / `--pipeline-batch` likewise (e.g. the `Recommender` defaults).

`--parts` runs one kind only; with `--merge` the results file keeps what it holds for the
others (so that the timings can run on an idle machine and the memory runs beside other
work). Writes the JSON results file, the same table in markdown beside it (`scale.md`,
included in the docs) and a log-log plot of the epoch time against the number of ratings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "scale.json"
DEFAULT_PLOT = HERE.parent / "docs" / "img" / "scale_epoch_time.png"
SMOKE_SHAPES = {"tiny-a": (300, 200, 5_000), "tiny-b": (600, 300, 12_000)}
TARGETS = {
    "ml-25m": {"epoch_seconds": 60, "peak_rss_gb": 8},
    "ml-10m": {"peak_rss_gb": 4},
    "linear": {"epoch_ratio_25m_10m": 3.5},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["ml-1m", "ml-10m", "ml-25m"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12, help="timed sparse steps per round")
    parser.add_argument("--dense-steps", type=int, default=3, help="timed dense steps per round")
    parser.add_argument("--hidden", type=int, default=400)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument(
        "--large-batch", type=int, default=1024, help="sparse batches of this size too (0: off)"
    )
    parser.add_argument(
        "--parts", nargs="+", choices=("epoch", "pipeline"), default=["epoch", "pipeline"]
    )
    parser.add_argument(
        "--pipeline-format",
        choices=("auto", "dense", "sparse"),
        default="auto",
        help="HEMAAE batch_format of the pipeline part (other than auto: a row of its own)",
    )
    parser.add_argument(
        "--pipeline-hidden", type=int, help="hidden of the pipeline part (default: --hidden)"
    )
    parser.add_argument(
        "--pipeline-batch", type=int, help="batch of the pipeline part (default: --batch)"
    )
    parser.add_argument(
        "--merge", action="store_true", help="keep the other parts' results of --out"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, 2 rounds")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "SHAPE"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def shapes_table(args):
    from keras_hem.datasets.synthetic import SHAPES

    return SMOKE_SHAPES if args.smoke else SHAPES


def make_rows(args, shape):
    from keras_hem.datasets.synthetic import sparse_ratings

    users, items, ratings = shapes_table(args)[shape]
    return sparse_ratings(users, items, ratings, seed=0)


# -- workers (each runs in its own process) ---------------------------------------------------


class StepTimer:
    """Keras callback recording the time of every batch end."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.ends = []

            def on_train_batch_end(self, batch, logs=None):
                self.ends.append(time.perf_counter())

        return _Timer()


def timed_steps(model, rows, batch, steps):
    """Step times (s) of one `fit` of `steps + 1` steps: the gaps after the first batch end."""
    timer = StepTimer()
    model.fit(
        rows, epochs=1, batch_size=batch, steps_per_epoch=steps + 1, verbose=0, callbacks=[timer]
    )
    return np.diff(timer.ends).tolist()


def epoch_worker(args, shape):
    from keras_hem import HEMAAE
    from keras_hem.data.row_features import mean_model_features, row_labels

    rows = make_rows(args, shape)
    # variant: (batch_format, rows per batch, timed steps per round)
    variants = {
        "sparse": ("sparse", args.batch, args.steps),
        "dense": ("dense", args.batch, args.dense_steps),
    }
    if args.large_batch:
        variants["sparse_large_batch"] = ("sparse", args.large_batch, max(args.steps // 4, 2))
    models = {}
    for name, (fmt, batch, steps) in variants.items():
        # The step its committed figures time: no denoising mask.
        model = HEMAAE(hidden=args.hidden, seed=0, batch_format=fmt, input_dropout=0.0)
        model.compile(jit_compile=True)
        timed_steps(model, rows, batch, steps)  # compile the step for most bucket sizes
        models[name] = model
    # What every fit does once before its batches: the mining inputs of every row.
    start = time.perf_counter()
    mean_model_features(rows, 3)
    row_labels(rows, [float(rows.data.mean())])
    setup = time.perf_counter() - start
    times = {name: [] for name in variants}
    ratios = []
    for round_index in range(args.rounds):
        order = (
            list(variants)[round_index % len(variants) :]
            + list(variants)[: round_index % len(variants)]
        )
        medians = {}
        for name in order:
            _, batch, steps = variants[name]
            step_times = timed_steps(models[name], rows, batch, steps)
            times[name] += step_times
            medians[name] = float(np.median(step_times))
        ratios.append(medians["dense"] / medians["sparse"])
    result = {
        "shape": shape,
        "n_items": rows.shape[0],
        "n_users": rows.shape[1],
        "n_ratings": int(rows.nnz),
        "density": rows.nnz / (rows.shape[0] * rows.shape[1]),
        "setup_seconds": setup,
        "dense_over_sparse_step": {"median": float(np.median(ratios)), "min": min(ratios)},
    }
    for name, values in times.items():
        _, batch, _ = variants[name]
        step = float(np.median(values))
        n_steps = math.ceil(rows.shape[0] / batch)
        result[name] = {
            "batch": batch,
            "steps_per_epoch": n_steps,
            "timed_steps": len(values),
            "median_step_seconds": step,
            "min_step_seconds": float(np.min(values)),
            "epoch_seconds": step * n_steps,
        }
    return result


def pipeline_worker(args, shape):
    from keras_hem.datasets.synthetic import sparse_ratings
    from keras_hem.recommender import Recommender

    users, items, ratings = shapes_table(args)[shape]
    table = sparse_ratings(users, items, ratings, seed=0, as_frame=True)
    before = peak_rss_gb()
    timings = {}
    start = time.perf_counter()
    settings = {}
    if args.pipeline_format != "auto":
        settings["model_kwargs"] = {"batch_format": args.pipeline_format}
    if args.pipeline_format == "sparse":
        settings["head_weight"] = 0.0  # a ranking head needs dense batches
    hidden, batch = args.pipeline_hidden or args.hidden, args.pipeline_batch or args.batch
    rec = Recommender(hidden=hidden, epochs=1, batch_size=batch, seed=0, **settings)
    rec.fit(table, verbose=0)
    timings["fit_seconds"] = time.perf_counter() - start
    fit_peak = peak_rss_gb()
    user_ids = np.unique(table["user"].to_numpy())
    start = time.perf_counter()
    top = rec.recommend(user_ids, k=10)
    timings["recommend_all_seconds"] = time.perf_counter() - start
    rng = np.random.default_rng(0)
    pairs = (rng.choice(user_ids, 1_000_000), rng.choice(np.unique(table["item"]), 1_000_000))
    start = time.perf_counter()
    predicted = rec.predict(*pairs)
    timings["predict_1m_seconds"] = time.perf_counter() - start
    return {
        "shape": shape,
        "hidden": hidden,
        "batch": batch,
        "batch_format": (
            "sparse" if rec.model.uses_sparse_batches(rec.train.to_item_user_csr()) else "dense"
        ),
        "rss_before_fit_gb": before,
        "fit_peak_rss_gb": fit_peak,
        "peak_rss_gb": peak_rss_gb(),
        "recommended_rows": len(top),
        "predicted": int(np.isfinite(predicted).sum()),
        **timings,
    }


def peak_rss_gb():
    """Peak resident memory of this process so far, in GB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


# -- the driver ------------------------------------------------------------------------------


def run_worker(kind, shape, argv):
    command = [sys.executable, __file__, *argv, "--worker", kind, shape]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker for {shape} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_argv(args):
    argv = [
        "--rounds",
        str(args.rounds),
        "--steps",
        str(args.steps),
        "--dense-steps",
        str(args.dense_steps),
        "--hidden",
        str(args.hidden),
        "--batch",
        str(args.batch),
        "--large-batch",
        str(args.large_batch),
        "--pipeline-format",
        args.pipeline_format,
    ]
    for flag, value in (
        ("--pipeline-hidden", args.pipeline_hidden),
        ("--pipeline-batch", args.pipeline_batch),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return argv + (["--smoke"] if args.smoke else [])


def command_line(argv):
    shown = list(sys.argv[1:] if argv is None else argv)
    return "python benchmarks/bench_scale.py" + "".join(f" {a}" for a in shown)


def pipeline_key(shape, args):
    """The results key of a pipeline run: the shape, plus what differs from the epoch part's
    settings (a forced batch format, `--pipeline-hidden`, `--pipeline-batch`)."""
    parts = [shape]
    if args.pipeline_format != "auto":
        parts.append(f"{args.pipeline_format} batches")
    if args.pipeline_hidden is not None:
        parts.append(f"hidden {args.pipeline_hidden}")
    if args.pipeline_batch is not None:
        parts.append(f"batch {args.pipeline_batch}")
    return ", ".join(parts)


def linear_check(epochs):
    if "ml-25m" in epochs and "ml-10m" in epochs:
        return (
            epochs["ml-25m"]["sparse"]["epoch_seconds"]
            / epochs["ml-10m"]["sparse"]["epoch_seconds"]
        )
    return None


def markdown(result):
    lines = [
        "| shape | ratings | density | sparse step (s) | sparse epoch (s) | dense epoch (s) "
        "| dense/sparse step | sparse epoch, large batches (s) | peak RSS, whole pipeline (GB) "
        "| pipeline batches |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for shape, epoch in result["epoch"].items():  # pipeline-only shapes are not shown
        pipe = result["pipeline"].get(shape)
        big = epoch.get("sparse_large_batch")
        large = f"{big['epoch_seconds']:.1f} (batch {big['batch']})" if big else "-"
        rss = f"{pipe['peak_rss_gb']:.2f}" if pipe else "-"
        lines.append(
            f"| {shape} | {epoch['n_ratings']:,} | {epoch['density']:.2%} "
            f"| {epoch['sparse']['median_step_seconds']:.3f} "
            f"| {epoch['sparse']['epoch_seconds']:.1f} | {epoch['dense']['epoch_seconds']:.1f} "
            f"| {epoch['dense_over_sparse_step']['median']:.2f}x "
            f"| {large} | {rss} | {pipe['batch_format'] if pipe else '-'} |"
        )
    lines += pipeline_breakdown(result)
    ratio = result.get("epoch_ratio_25m_10m")
    if ratio is not None:
        lines.append(f"\nEpoch ratio ML-25M / ML-10M shape (sparse): {ratio:.2f}")
    return "\n".join(lines)


def pipeline_breakdown(result):
    """Table lines of the pipeline runs that recorded their peak after `fit`: where it goes."""
    rows = [(key, pipe) for key, pipe in result["pipeline"].items() if "fit_peak_rss_gb" in pipe]
    if not rows:
        return []
    lines = [
        "\n| pipeline run | hidden | batch | batches | before fit (GB) | peak after fit (GB) "
        "| peak, whole pipeline (GB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, pipe in rows:
        # Runs recorded before hidden / batch were stored used the epoch part's settings.
        hidden, batch = pipe.get("hidden", result["hidden"]), pipe.get("batch", result["batch"])
        lines.append(
            f"| {key} | {hidden} | {batch} | {pipe['batch_format']} "
            f"| {pipe['rss_before_fit_gb']:.2f} "
            f"| {pipe['fit_peak_rss_gb']:.2f} | {pipe['peak_rss_gb']:.2f} |"
        )
    return lines


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = list(result["epoch"].values())
    if not epochs:
        return
    nnz = np.array([e["n_ratings"] for e in epochs], float)
    fig, ax = plt.subplots(figsize=(6, 4))
    for fmt, marker in (("sparse", "o"), ("dense", "s"), ("sparse_large_batch", "^")):
        if not all(fmt in e for e in epochs):
            continue
        seconds = [e[fmt]["epoch_seconds"] for e in epochs]
        label = f"{fmt.split('_')[0]} batches of {epochs[0][fmt]['batch']}"
        ax.loglog(nnz, seconds, marker=marker, label=label)
        for x, y, e in zip(nnz, seconds, epochs, strict=True):
            ax.annotate(e["shape"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    first = epochs[0]["sparse"]["epoch_seconds"]
    ax.loglog(nnz, first * nnz / nnz[0], "k:", label="linear in ratings")
    ax.set_xlabel("ratings")
    ax.set_ylabel("epoch time (s, median step x steps)")
    cores = result["machine"]["cpu_count"]
    ax.set_title(f"HEM-AAE training epoch, hidden {result['hidden']}, {cores} CPU cores")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        kind, shape = args.worker
        worker = epoch_worker if kind == "epoch" else pipeline_worker
        print(json.dumps(worker(args, shape)))
        return None
    if args.smoke:
        if not set(args.shapes) <= set(SMOKE_SHAPES):
            args.shapes = list(SMOKE_SHAPES)
        args.rounds, args.steps, args.dense_steps = 2, 2, 2
        args.hidden, args.batch, args.large_batch = 16, 64, 128
    out = args.out or (DEFAULT_OUT.with_name("scale_smoke.json") if args.smoke else DEFAULT_OUT)
    plot_path = args.plot or (out.with_suffix(".png") if args.smoke else DEFAULT_PLOT)
    sys.path.insert(0, str(HERE))
    from _timing import machine

    result = {"commands": [], "epoch": {}, "pipeline": {}}
    if args.merge and out.is_file():
        result = json.loads(out.read_text())
    result.update(machine=machine(), hidden=args.hidden, batch=args.batch, targets=TARGETS)
    result["commands"].append(command_line(argv))
    for shape in args.shapes:
        for part in args.parts:
            print(f"{shape}: {part}", flush=True)
            key = pipeline_key(shape, args) if part == "pipeline" else shape
            result[part][key] = run_worker(part, shape, worker_argv(args))
    result["epoch_ratio_25m_10m"] = linear_check(result["epoch"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, plot_path)
    table = markdown(result)
    commands = "\n".join(f"    {c}" for c in result["commands"])
    out.with_suffix(".md").write_text(f"Commands:\n\n{commands}\n\n{table}\n")
    print(table)
    print(f"wrote {out}, {out.with_suffix('.md')} and {plot_path}")
    return result


if __name__ == "__main__":
    main()
