"""`benchlab ab`'s output: two sides of one run compared round by round, per device and accelerator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchlab.views.console import stdout_console

if TYPE_CHECKING:
    from benchlab.nightly.ab import AbResult


def print_ab(result: AbResult, baseline: str, candidate: str) -> None:
    """Print each device and accelerator both sides ran on: rounds, the change with its 95% CI, the verdict."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"benchlab ab {result.run_id}: {baseline} → {candidate}"))
    for column in ("device · accelerator", "rounds", "change [95% CI]", "verdict"):
        table.add_column(column)
    for row in result.rows:
        table.add_row(escape(f"{row.device_id} · {row.accelerator}"), str(row.change.rounds),
                      escape(row.change.describe()), escape(row.change.verdict))
    stdout_console().print(table)
