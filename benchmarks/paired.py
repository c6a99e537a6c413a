"""Paired per-split differences between rows of a `reproduce.py` results file.

    python benchmarks/paired.py --data ml-100k --baseline autorec \
        --models mining_only adversary_only hem_aae [--metric MAE] [--out FILE.md]

Every row of a results file is measured on the same splits (seed s: the same 80/20 split for
every model), so the difference of two rows on one split is paired: its mean and standard
deviation over the splits, and on how many splits each side is lower, say more than the two
rows' own means and deviations. The epochs each fit ran (early stopping fires on a validation
slice of the training part) are listed beside, since where it fires moves the test MAE.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# As `_timing.RESULTS`, without its Keras import: this script only reads JSON.
RESULTS = Path(__file__).resolve().parent / "results"


def paired(runs, baseline, model, metric):
    """`(differences, epochs_model, epochs_baseline)` over the seeds both rows have."""
    by = {(r["model"], r["seed"]): r for r in runs}
    seeds = sorted(s for (m, s) in by if m == model and (baseline, s) in by)
    diff = np.array([by[(model, s)][metric] - by[(baseline, s)][metric] for s in seeds])
    epochs = [(by[(model, s)].get("epochs"), by[(baseline, s)].get("epochs")) for s in seeds]
    return seeds, diff, epochs


def table(result, baseline, models, metric):
    lines = [
        f"| {metric}: row - {baseline} | splits | mean | sd | lower on | epochs (row / "
        f"{baseline}) |",
        "|---|---|---|---|---|---|",
    ]
    for model in models:
        seeds, diff, epochs = paired(result["runs"], baseline, model, metric)
        if not seeds:
            lines.append(f"| {model} | 0 | — | — | — | — |")
            continue
        sd = f"{diff.std(ddof=1):.4f}" if len(diff) > 1 else "—"
        lower = int((diff < 0).sum())
        shown = ", ".join(f"{a}/{b}" for a, b in epochs)
        lines.append(
            f"| {model} | {len(seeds)} | {diff.mean():+.4f} | {sd} | {lower} of {len(seeds)} "
            f"| {shown} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="ml-100k or ml-1m")
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--metric", default="MAE")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    result = json.loads((args.results / f"reproduce_{args.data}.json").read_text())
    known = {r["model"] for r in result["runs"]}
    missing = [m for m in [args.baseline, *args.models] if m not in known]
    if missing:
        parser.error(f"no rows for {missing} in reproduce_{args.data}.json; it has {sorted(known)}")
    text = table(result, args.baseline, args.models, args.metric)
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
