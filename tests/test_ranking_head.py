"""benchmarks/ranking_head.py: the head's validation table (no fitting here)."""

import sys

import pytest
from backend import backend_independent

pytestmark = backend_independent


@pytest.fixture
def ranking_head():
    sys.modules.pop("ranking_head", None)
    import ranking_head

    return ranking_head


def row(seed, model, p10, setting=None, head_weight=None):
    out = {"seed": seed, "model": model, "MAE": 0.7, "P@10": p10, "NDCG@10": p10 + 0.1}
    if setting is not None:
        out["setting"] = setting
    if head_weight is not None:
        out["head_weight"] = head_weight
    return out


def test_summary_averages_each_score_over_the_seeds(ranking_head):
    rows = [
        row(0, "popularity", 0.05),
        row(1, "popularity", 0.07),
        row(0, "ease blend", 0.10, "{}", 0.0),
        row(1, "ease blend", 0.12, "{}", 0.0),
        row(0, "ease blend", 0.13, "{}", 0.5),
    ]
    table = {(m, s, h): (n, mean) for m, s, h, n, mean in ranking_head.summary(rows)}
    assert table[("popularity", None, None)][0] == 2
    assert table[("popularity", None, None)][1]["P@10"] == pytest.approx(0.06)
    assert table[("ease blend", "{}", 0.0)][1]["NDCG@10"] == pytest.approx(0.21)
    assert table[("ease blend", "{}", 0.5)][0] == 1
    result = {"data": "ml-100k", "seeds": [1, 0], "command": "python x", "rows": rows}
    text = ranking_head.markdown(result)
    assert "mean over split seeds [0, 1]" in text
    assert "| ease blend | `{}` | 0.5 | 1 | 0.7000 | 0.1300 | 0.2300 |" in text


def test_settings_are_json_objects(ranking_head):
    args = ranking_head.parse_args(["--settings", '{"ranking_weight": 0}', "--seeds", "0", "1"])
    assert args.settings == ['{"ranking_weight": 0}'] and args.seeds == [0, 1]
    assert args.head_weights == list(ranking_head.HEAD_WEIGHTS)
