"""`benchlab history`'s output: the runs under a results root, or each series' change points and setup
changes (found by benchlab.results.changepoints)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.views.console import stdout_console

if TYPE_CHECKING:
    from benchlab.results.changepoints import SeriesChanges
    from benchlab.results.history import RunInfo
    from benchlab.results.run_summary import RunSummary


def print_runs(root: Path, runs: Sequence[tuple[RunInfo, RunSummary]]) -> None:
    """Print the runs under `root`, oldest first: order, id, suite, start, whether it finished, ok and
    all measurements, devices (each with its summary, benchlab.results.run_summary)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"runs in {escape(str(root))}")
    for column in ("#", "run id", "suite", "started (UTC)", "finished", "ok / measurements", "devices"):
        table.add_column(column)
    for run, summary in runs:
        started = run.started_at.strftime("%Y-%m-%d %H:%M:%S") if run.started_at else "?"
        table.add_row(str(run.order), escape(run.run_id), escape(run.suite_name or "?"), started,
                      "yes" if run.finished else "[yellow]no (interrupted?)[/yellow]",
                      f"{summary.ok} / {summary.measurements}", escape(", ".join(summary.devices)))
    stdout_console().print(table)


def print_changes(results: Sequence[SeriesChanges], title: str) -> None:
    """Print each series setup segment by setup segment: a row for the setup change that began a
    segment (its step shown, not judged), then one row per change point, or one saying why there is
    none (no change, too few runs); a note explains too few runs when a segment had them."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text  # cells as text, not markup to parse: a farm's year is 4,000 rows

    from benchlab.results.changepoints import MIN_RUNS, MIN_SEGMENT_RUNS, Step

    def step_cells(step: Step) -> list[str]:
        return [f"#{step.run_order} {step.run_id}", f"{step.before_ms:.4g} → {step.after_ms:.4g}",
                f"{step.change_pct:+.1f}% ({step.runs_before} runs before, {step.runs_after} after)"]

    table = Table(title=escape(title), caption="runs and noise are per setup (OS build, runner and its version): "
                                               "change points are looked for within one setup only; the step "
                                               "at a setup change is shown, not judged as a change point")
    for column in ("model/variant", "device · accelerator", "runs", "noise", "at run", "median ms", "step",
                   "finding"):
        table.add_column(column, overflow="fold")
    short = False
    for series in results:
        for segment in series.segments:
            ident = [f"{series.model}/{series.variant}", f"{series.device_id} · {series.accelerator}",
                     str(segment.runs), f"±{segment.noise_pct:.1f}%" if segment.noise_pct is not None else ""]
            if segment.setup_change is not None:
                cells = [*ident, *step_cells(segment.setup_change),
                         f"setup changed: {segment.setup_change.what} (step not judged)"]
                table.add_row(*map(Text, cells), style="cyan")
            if not segment.changes:
                short = short or not segment.enough_runs
                table.add_row(*map(Text, ident), "", "", "", Text(segment.status),
                              style=None if segment.enough_runs else "yellow")
            for change in segment.changes:
                cells = [*ident, *step_cells(change), "change point"]
                table.add_row(*map(Text, cells), style="bold red" if change.change_pct > 0 else "green")
    console = stdout_console()
    console.print(table)
    if not results:
        console.print("no measured latencies: nothing to look for change points in")
    if short:
        console.print(f"[yellow]too few runs: a setup needs {MIN_RUNS} runs ({MIN_SEGMENT_RUNS} on each side of a "
                      "step) before a change point can be looked for in it; none is reported there, which is "
                      "not the same as no change[/yellow]")
