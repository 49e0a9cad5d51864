"""A run's decisions, made once for everything that shows them: its table annotated with the
accuracy budget and the picks (benchlab.decide.pick), and what to ship per tier (benchlab.decide.ship).

`benchlab report` and the end of `benchlab run` decide here; the report page and the terminal
render the same RunDecision, so neither decides again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchlab.decide.pick import annotate, round_values
from benchlab.decide.ship import ShipPlan, ship_plan
from benchlab.errors import StoreError
from benchlab.results.run_record import RunRecord

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RunDecision:
    """A run's results table with its budget and pick columns, the budget it was judged by, and the
    per-tier ship plan."""

    table: pd.DataFrame
    budget_points: float
    ship: ShipPlan


def decide_run(record: RunRecord, budget_points: float | None = None) -> RunDecision:
    """Judge a run: annotate its results with the accuracy budget (the suite's, unless `budget_points`
    overrides it) and the picks, and plan what to ship per tier.

    Raises StoreError when the run has no measurements yet.
    """
    results = record.results
    if results.empty:
        raise StoreError(f"{record.directory} has no measurements yet", hint="run or resume the suite first")
    accuracy = record.meta.suite.accuracy
    budget = budget_points if budget_points is not None else accuracy.budget_points
    table = annotate(results, budget, round_values(record.repeat_table), accuracy.min_cosine)
    return RunDecision(table, budget, ship_plan(record, table))
