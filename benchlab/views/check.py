"""`benchlab check`'s output: the warnings about a run, and each row's run-to-run noise floor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from benchlab.views.console import stdout_console

if TYPE_CHECKING:
    from benchlab.decide.check import CheckWarning


def print_warnings(warnings: Sequence[CheckWarning], title: str) -> None:
    """Print check warnings as a table (or say there are none)."""
    from rich.markup import escape
    from rich.table import Table

    console = stdout_console()
    if not warnings:
        console.print(f"{escape(title)}: no warnings")
        return
    table = Table(title=escape(f"{title}: {len(warnings)} warning(s)"))
    for column in ("where", "warning", "detail"):
        table.add_column(column, overflow="fold")
    for w in warnings:
        table.add_row(escape(w.where), w.code, escape(w.message), style="yellow")
    console.print(table)


def print_noise_floors(floors: Mapping[tuple[str, str, str, str], float], title: str) -> None:
    """Print each (model, variant, device, accelerator) row's run-to-run noise floor in percent,
    grouped by device (or say there is none yet)."""
    from rich.markup import escape
    from rich.table import Table

    from benchlab.nightly.noise import MIN_CHANGES

    console = stdout_console()
    if not floors:
        console.print(f"{escape(title)}: not known yet (needs {MIN_CHANGES} unchanged run-to-run changes: "
                      "run `benchlab calibrate SUITE`)")
        return
    table = Table(title=escape(title))
    for column in ("device · accelerator", "model/variant", "noise floor"):
        table.add_column(column)
    for (model, variant, device, accelerator), floor in sorted(floors.items(), key=lambda kv: (kv[0][2], kv[0][3])):
        table.add_row(escape(f"{device} · {accelerator}"), escape(f"{model}/{variant}"), f"±{floor:.1f}%")
    console.print(table)


def print_check(run_name: str, warnings: Sequence[CheckWarning], outliers: str,
                floors: Mapping[tuple[str, str, str, str], float]) -> None:
    """Print what `benchlab check` found in a run: its warnings, its iteration outliers (one
    paragraph of plain text) and each row's noise floor from earlier runs and calibration."""
    from rich.markup import escape

    print_warnings(warnings, f"check {run_name}")
    stdout_console().print(escape(outliers))
    print_noise_floors(floors, f"noise floor per row ({run_name}, from earlier runs and calibration)")
