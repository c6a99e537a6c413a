"""How `Recommender` ranks: the multinomial ranking head, alone and blended with EASE.

    KERAS_HEM_DATA=<folder> python benchmarks/ranking_head.py --data ml-100k \\
        --seeds 0 1 2 3 4 --settings '{"ranking_weight": 0}' \\
        '{"ranking_weight": 1, "ranking_trains_encoder": false}' '{"ranking_weight": 0.1}'
    KERAS_HEM_DATA=<folder> python benchmarks/ranking_head.py --render

Protocol (nested, as `tune.py`): for split seed s the training part of the main tables'
80/20 split is split again 90/10 (seed s); for each setting (`HEMAAE` keyword arguments on
top of a multinomial head, `ranking_loss="multinomial"`) a `Recommender(seed=s,
model_kwargs=setting)` is fitted on the 90% and scored on the 10% (full catalogue). The test
part is never read. One fit per (seed, setting) gives the MAE, the head alone
(`ranking="head"`) and the default score, EASE + 0.03 x rating + `head_weight` x the head's
standardised logits, at each `head_weight` (`keras_hem.ranking.EASEBlendScorer`; 0 is the
score without the head). Popularity is scored on the same slices.
"""

import argparse
import json
from pathlib import Path

import keras
import numpy as np
from _timing import RESULTS, machine
from baselines import Popularity
from harness import PREVIOUS_FIT, PREVIOUS_MODEL, Scored, command_line, portable, validation_slice

from keras_hem.evaluation import evaluate
from keras_hem.ranking import EASEBlendScorer
from keras_hem.recommender import Recommender

COLUMNS = ("MAE", "P@10", "NDCG@10")
HEAD_WEIGHTS = (0.0, 0.3, 0.5, 0.7, 1.0, 1.5)
PROTOCOL = __doc__.split("\n\n")[2].replace("\n", " ")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="ml-100k", help="ml-100k or ml-1m")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--settings", nargs="+", default=["{}"], help="JSON objects")
    parser.add_argument("--head-weights", type=float, nargs="+", default=list(HEAD_WEIGHTS))
    parser.add_argument("--out", help="results file (default: results/ranking_head_<data>.json)")
    parser.add_argument("--render", action="store_true", help="only rewrite the markdown")
    return parser.parse_args(argv)


def metrics(model, fit_part, val_part):
    row = evaluate(model, fit_part, val_part).iloc[0]
    return {k: round(float(row[k]), 4) for k in COLUMNS}


def blends(rec, fit_part, val_part, head_weights):
    """Rows of the EASE score at each head weight; the EASE fit and the head term are shared."""
    if rec.model.observation_decoder is None:
        head_weights = [0.0]
    scorer = EASEBlendScorer(rec.scorer.ratings, l2=rec.ease_l2, rating_weight=rec.rating_weight)
    users = np.arange(fit_part.n_users)
    if rec.model.observation_decoder is None:
        base = scorer.score(users)
    else:
        base, head = scorer.score_terms(users)  # score = base + head_weight x head
    rows = []
    for weight in head_weights:
        scores = base if weight == 0 else base + np.float32(weight) * head
        rows.append({"head_weight": weight, **metrics(Scored(rec, scores), fit_part, val_part)})
    return rows


def run_seed(seed, args):
    fit_part, val_part = validation_slice(args.data, seed=seed)
    popularity = Popularity().fit(fit_part)
    rows = [{"seed": seed, "model": "popularity", **metrics(popularity, fit_part, val_part)}]
    print(json.dumps(rows[0]), flush=True)
    for text in args.settings:
        setting = json.loads(text)
        keras.utils.set_random_seed(seed)
        # The head weight was chosen on the previous recipe's fits (no denoising, a constant
        # rate), which this script keeps so that its results file reproduces.
        kwargs = {"ranking_weight": 1.0, "ranking_loss": "multinomial", **PREVIOUS_MODEL}
        kwargs.update(setting)
        rec = Recommender(seed=seed, model_kwargs=kwargs, **PREVIOUS_FIT)
        rec.fit(fit_part, verbose=0)
        common = {"seed": seed, "setting": text, "epochs": len(rec.history["loss"])}
        new = []
        if rec.model.observation_decoder is not None:
            head = metrics(rec.with_ranking("head"), fit_part, val_part)
            new.append({**common, "model": "head alone", **head})
        for row in blends(rec, fit_part, val_part, args.head_weights):
            new.append({**common, "model": "ease blend", **row})
        for row in new:
            print(json.dumps(row), flush=True)
        rows += new
    return rows


def summary(rows):
    """Mean over seeds of each (model, setting, head_weight), with the seed count."""
    groups = {}
    for row in rows:
        key = (row["model"], row.get("setting"), row.get("head_weight"))
        groups.setdefault(key, []).append(row)
    table = []
    for (model, weight, head), group in groups.items():
        mean = {k: float(np.mean([r[k] for r in group])) for k in COLUMNS}
        table.append((model, weight, head, len(group), mean))
    return table


def markdown(result):
    """The mean table over seeds, under the command that measured it (no heading: included)."""
    lines = [
        f"Command ({result['data']}, mean over split seeds {sorted(set(result['seeds']))}):",
        "",
        f"    {result['command']}",
        "",
        "| ranked by | setting | head_weight | seeds | val MAE | val P@10 | val NDCG@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, setting, head, n, mean in summary(result["rows"]):
        cells = [model, "" if setting is None else f"`{setting}`"]
        cells += ["" if head is None else f"{head:g}", str(n)]
        cells += [f"{mean[k]:.4f}" for k in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out or RESULTS / f"ranking_head_{args.data}.json")
    if args.render:
        result = json.loads(out.read_text())
    else:
        rows = [row for seed in args.seeds for row in run_seed(seed, args)]
        result = {
            "data": args.data,
            "command": command_line(argv, "ranking_head.py"),
            "protocol": PROTOCOL,
            "seeds": args.seeds,
            "machine": machine(),
            "rows": rows,
        }
        out.write_text(portable(json.dumps(result, indent=1)) + "\n")
    out.with_suffix(".md").write_text(markdown(result))


if __name__ == "__main__":
    main()
