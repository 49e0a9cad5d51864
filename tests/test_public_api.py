"""benchlab's public functions say what they return, and the package says it is typed (PEP 561)."""

from __future__ import annotations

import typing
from pathlib import Path

import benchlab
from benchlab.pipeline import RunOutcome


def test_the_package_ships_its_type_hints() -> None:
    assert (Path(benchlab.__file__).parent / "py.typed").is_file()


def test_run_returns_a_run_outcome_not_any() -> None:
    hints = typing.get_type_hints(benchlab.run, globalns={**vars(benchlab), "RunOutcome": RunOutcome})
    assert hints["return"] is RunOutcome
    assert all(hint is not typing.Any for hint in hints.values())
