"""Checks of constructor and function arguments, each raising a message that quotes the value.

What belongs here: the small validators the layers, models and helpers share, so that every
"must be one of" and "must be a positive integer" reads the same and is written once. Checks
of ratings data (columns, scales, ids) live in `keras_hem.data.validation`.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection
from typing import Any

__all__ = ["check_choice", "check_integer"]


def check_choice(name: str, value: Any, choices: Collection) -> Any:
    """`value` if it is one of `choices`.

    Args:
        name: the argument's name, for the message.
        value: the argument.
        choices: the accepted values.

    Returns:
        `value`, unchanged.

    Raises:
        ValueError: `` `name` must be one of (...), got name=value. ``

    Example:
        >>> check_choice("mode", "min", ("min", "max"))
        'min'
    """
    if isinstance(value, (list, dict, set)) or value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}, got {name}={value!r}.")
    return value


def check_integer(
    name: str, value: Any, minimum: int | None = None, maximum: int | None = None
) -> int:
    """`value` as an `int` if it is an integer (not a bool) in `[minimum, maximum]`.

    Args:
        name: the argument's name, for the message.
        value: the argument (any `numbers.Integral`, NumPy integers included).
        minimum: smallest accepted value, or `None`.
        maximum: largest accepted value, or `None`.

    Returns:
        `int(value)`.

    Raises:
        ValueError: `` `name` must be a positive integer, got name=value. `` (or "a
            non-negative integer", "an integer in [a, b]", ...).

    Example:
        >>> check_integer("hidden", 300, minimum=1)
        300
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and minimum is not None:
        ok = value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        raise ValueError(
            f"`{name}` must be {_integer_kind(minimum, maximum)}, got {name}={value!r}."
        )
    return int(value)


def _integer_kind(minimum, maximum):
    if maximum is not None:
        low = "" if minimum is None else f"[{minimum}, "
        return f"an integer in {low}{maximum}]" if low else f"an integer <= {maximum}"
    if minimum == 1:
        return "a positive integer"
    if minimum == 0:
        return "a non-negative integer"
    return "an integer" if minimum is None else f"an integer >= {minimum}"
