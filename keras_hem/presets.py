"""Named settings of the recommender: the library's defaults and the paper's.

A preset is a dict of `keras_hem.recommender.Recommender` keyword arguments, whose
`model_kwargs` go to `keras_hem.models.HEMAAE`. `Recommender.from_preset`,
`HEMAAE.from_preset` and `keras-hem fit --preset` build from them; keyword arguments given
beside the name override the preset's.

* `"default"`: the constructors' defaults, chosen by nested validation on MovieLens-100K and
  -1M (`benchmarks/tune.py`; see the docs' benchmarks page): the reconstruction error summed
  over the observed ratings as eq 9 writes it, a small L2, batch 128, denoising (half of each
  item's ratings hidden from the encoder at each step) and a learning rate halved after 5
  epochs without progress on the validation slice.
* `"paper"`: the HEM-AAE paper's settings where it states them (sigmoid output, 400 hidden
  units for MovieLens-1M, Adam with lr 0.001, top-N by predicted rating) and the library's
  first settings where it does not (the squared error averaged over observed ratings with
  L2 0.001, batch 256, no denoising, a constant learning rate, at most 100 epochs). The
  paper uses 100 hidden units for MovieLens-100K: `PAPER_HIDDEN` holds its sizes.

Example:
    >>> from keras_hem.presets import get_preset
    >>> get_preset("paper")["model_kwargs"].get("output_activation")
    'sigmoid'
"""

from __future__ import annotations

import copy

__all__ = ["PAPER_HIDDEN", "PRESETS", "get_preset", "merge_preset"]

# The paper's hidden units per data set (Section 3; its Fig. 5 sweeps 10..600 around them).
PAPER_HIDDEN = {"ml-100k": 100, "ml-1m": 400}

PRESETS = {
    "default": {},
    "paper": {
        "hidden": PAPER_HIDDEN["ml-1m"],
        "epochs": 100,
        "batch_size": 256,
        "patience": 10,
        "learning_rate": 0.001,
        "lr_patience": None,
        "ranking": "ratings",
        "model_kwargs": {
            "output_activation": "sigmoid",
            "reconstruction_reduction": "mean",
            "l2": 0.001,
            "input_dropout": 0.0,
        },
    },
}


def get_preset(name: str) -> dict:
    """A copy of a preset's `Recommender` keyword arguments.

    Args:
        name: a key of `PRESETS`.

    Returns:
        Dict of keyword arguments (changing it leaves the preset alone).

    Raises:
        ValueError: for an unknown name (the message lists the known ones).

    Example:
        >>> get_preset("default")
        {}
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; the presets are {sorted(PRESETS)}.")
    return copy.deepcopy(PRESETS[name])


def merge_preset(name: str, overrides: dict) -> dict:
    """A preset's `Recommender` keyword arguments with `overrides` on top.

    `model_kwargs` merge key by key, so an override of one `HEMAAE` argument keeps the
    preset's others.

    Args:
        name: a key of `PRESETS`.
        overrides: `Recommender` keyword arguments.

    Returns:
        Dict of keyword arguments.

    Raises:
        ValueError: for an unknown name or a `model_kwargs` override that is not a dict.

    Example:
        >>> network = merge_preset("paper", {"model_kwargs": {"l2": 0.01}})["model_kwargs"]
        >>> network["l2"], network["output_activation"]
        (0.01, 'sigmoid')
    """
    settings = get_preset(name)
    overrides = dict(overrides)
    extra = overrides.pop("model_kwargs", None)
    if extra is not None and not isinstance(extra, dict):
        raise ValueError(f"`model_kwargs` must be a dict or None, got model_kwargs={extra!r}.")
    model_kwargs = {**settings.pop("model_kwargs", {}), **(extra or {})}
    settings.update(overrides)
    if model_kwargs:
        settings["model_kwargs"] = model_kwargs
    return settings
