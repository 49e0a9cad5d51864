"""`benchlab report`: a finished run's report files, results table and ship plan, from its store alone
(also what `benchlab run` shows at its end)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.decide.run_decision import decide_run
from benchlab.decide.ship import ShipPlan
from benchlab.results.run_record import RunRecord
from benchlab.views.report import ReportFiles, build_report

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RunReport:
    """A run's report: the files written into it, its table annotated with the picks, what to ship."""

    files: ReportFiles
    table: pd.DataFrame
    ship: ShipPlan


def report_run(run: RunRecord | Path, budget_points: float | None = None) -> RunReport:
    """Write a run's plots, report.html and summary; return them with the annotated table and the
    per-tier ship plan. `budget_points` overrides the suite's accuracy budget.

    Raises StoreError for a directory that is not a run or has no measurements yet.
    """
    record = run if isinstance(run, RunRecord) else RunRecord.load(run)
    decision = decide_run(record, budget_points)
    return RunReport(build_report(record, decision), decision.table, decision.ship)
