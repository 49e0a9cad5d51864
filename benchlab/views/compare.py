"""`benchlab compare`'s output, and the gate's at the end of `benchlab run --baseline`: the comparison
table (cells from benchlab.nightly.ci_outputs, as the CI files have them), its notes and verdict."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.views.check import print_warnings
from benchlab.views.console import stderr_console, stdout_console

if TYPE_CHECKING:
    from benchlab.decide.check import CheckWarning
    from benchlab.nightly.compare import CompareResult


def print_comparison(result: CompareResult) -> None:
    """Print a comparison as a table, then its notes and the verdict line."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text  # cells as text, not markup to parse: a farm's night is 1,200 rows

    from benchlab.nightly.ci_outputs import compare_cells, compare_headings, status_text

    table = Table(title=escape(f"benchlab compare: {result.baseline_run} → {result.candidate_run}"))
    for column in ("model/variant", "device · accelerator", *compare_headings(), "status"):
        table.add_column(column, overflow="fold")
    for c in result.comparisons:
        cells = [f"{c.model}/{c.variant}", f"{c.device_id} · {c.accelerator}", *compare_cells(c),
                 status_text(c) + "".join(f"; {n}" for n in c.notes)]
        style = "bold red" if c.failed else ("green" if c.status == "improved" else
                                             "yellow" if c.status.endswith("(provisional)") else None)
        table.add_row(*map(Text, cells), style=style)
    console = stdout_console()
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note: {escape(note)}[/yellow]")
    for change in result.sustained:
        console.print(f"sustained: {escape(change.text())}")
    colour = "red" if result.verdict else "green"
    console.print(f"[{colour}]{escape(result.verdict_text)}[/{colour}]")


def print_gate(result: CompareResult, warnings: Sequence[CheckWarning], files: Sequence[Path], run_name: str) -> None:
    """Print a run's comparison with its baseline, its check warnings and where the CI files are."""
    print_comparison(result)
    print_warnings(warnings, f"check {run_name}")
    stderr_console(highlight=False).print("comparison: " + ", ".join(str(path) for path in files))
