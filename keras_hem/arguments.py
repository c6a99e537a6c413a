"""Checks of constructor and function arguments, each raising a message that quotes the value.

What belongs here: the small validators the layers, models and helpers share, so that every
"must be one of" and "must be a positive integer" reads the same and is written once. Checks
of ratings data (columns, scales, ids) live in `keras_hem.data.validation`.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection
from typing import Any

__all__ = ["check_choice", "check_integer", "check_number"]


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


def check_number(
    name: str,
    value: Any,
    minimum: float = 0,
    *,
    strict: bool = False,
    finite: bool = False,
    allow_none: bool = False,
) -> float | None:
    """`value` as a `float` if it is a real number (not a bool) >= `minimum` (or > it).

    Args:
        name: the argument's name, for the message.
        value: the argument (any `numbers.Real`, NumPy floats included).
        minimum: the bound.
        strict: require `value > minimum` instead of `>=`.
        finite: reject infinity as well.
        allow_none: accept `None` (returned as is).

    Returns:
        `float(value)`, or `None` for an accepted `None`.

    Raises:
        ValueError: `` `name` must be a number >= 0, got name=value. `` (or "a positive
            number", "... or None").

    Example:
        >>> check_number("l2", 500, strict=True)
        500.0
    """
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    # Written as "not in range" so that NaN fails too.
    if ok:
        ok = value > minimum if strict else value >= minimum
    if ok and finite:
        ok = value < float("inf")
    if not ok:
        kind = _number_kind(minimum, strict) + (" or None" if allow_none else "")
        raise ValueError(f"`{name}` must be {kind}, got {name}={value!r}.")
    return float(value)


def _number_kind(minimum, strict):
    if strict and minimum == 0:
        return "a positive number"
    return f"a number {'>' if strict else '>='} {minimum:g}"


def _integer_kind(minimum, maximum):
    if maximum is not None:
        low = "" if minimum is None else f"[{minimum}, "
        return f"an integer in {low}{maximum}]" if low else f"an integer <= {maximum}"
    if minimum == 1:
        return "a positive integer"
    if minimum == 0:
        return "a non-negative integer"
    return "an integer" if minimum is None else f"an integer >= {minimum}"
