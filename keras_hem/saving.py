"""The file names of a saved `Recommender`.

Kept free of Keras, so that the command line can name them without loading a backend.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["MODEL_FILE", "RATINGS_FILE", "STATE_FILE", "member_model_files", "model_files"]

MODEL_FILE = "model.keras"
RATINGS_FILE = "ratings.npz"
STATE_FILE = "recommender.json"
_MEMBER_FILE = re.compile(r"model-[1-9][0-9]*\.keras")


def model_files(members: int) -> list[str]:
    """The model files of a saved recommender of `members` models (`model.keras` first).

    Args:
        members: number of models (`Recommender(ensemble=...)`).

    Returns:
        File names, in member order.

    Examples:
        >>> model_files(3)
        ['model.keras', 'model-1.keras', 'model-2.keras']
    """
    return [MODEL_FILE] + [f"model-{k}.keras" for k in range(1, members)]


def member_model_files(folder: str | Path) -> list[str]:
    """The names of an ensemble's further members' files (`model-<k>.keras`, k >= 1) in a folder.

    Args:
        folder: a folder (need not exist).

    Returns:
        Sorted file names.

    Examples:
        >>> member_model_files("no/such/folder")
        []
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = (p.name for p in folder.iterdir() if p.is_file())
    return sorted(name for name in names if _MEMBER_FILE.fullmatch(name))
