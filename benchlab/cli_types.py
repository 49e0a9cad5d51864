"""Argument types for the command line: a bad number is refused by argparse (exit 2, one line)
before any work, as a bad suite field is when it loads."""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind: type) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    """Return a whole number of at least 1."""
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def positive_seconds(text: str) -> float:
    """Return a finite number of seconds above 0."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 seconds")
    return value


def budget_points(text: str) -> float:
    """Return an accuracy budget: finite percentage points, 0 or more."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: an accuracy budget is 0 or more percentage points")
    return value


def threshold(text: str) -> tuple[str, float]:
    """Return a regression threshold override NAME=VALUE as (name, value), checked by the suite's own
    regression fields (benchlab.nightly.thresholds), so a value a suite may not hold is refused too."""
    from benchlab.nightly.thresholds import parse_threshold

    try:
        return parse_threshold(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
