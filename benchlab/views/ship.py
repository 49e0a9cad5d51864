"""What to ship, per device tier, as the report's section and the terminal's table.

The plan itself (per-tier picks, tier coverage, deliveries) is decided in benchlab.decide.ship;
this module only renders a ShipPlan.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from benchlab.decide.pick import TIE_THRESHOLD_PCT
from benchlab.decide.ship import ShipPlan, TierPick
from benchlab.views.delivery import delivery_rows, limit_rows


def _accuracy_text(p: TierPick) -> str:
    if p.accuracy is not None:
        delta = f" (Δ {p.accuracy_delta:+.2f} pts)" if p.accuracy_delta is not None else ""
        return f"{p.accuracy:.1f}%{delta}"
    if p.top1_agreement is not None:
        return f"top-1 agrees {100.0 * p.top1_agreement:.1f}%"
    if p.worst_cosine is not None:
        return f"worst-output cosine {p.worst_cosine:.4f}"
    return ""


def tier_rows(plan: ShipPlan) -> list[dict[str, str]]:
    """Return the per-tier picks as display rows, one per (model, tier)."""
    return [{
        "model": p.model, "tier": p.tier,
        "judged on": p.device_id if p.device_id is None or not p.device_model else f"{p.device_id} ({p.device_model})",
        "variant": p.variant or "", "accelerator": p.accelerator or "",
        "median ms": "" if p.median_ms is None else f"{p.median_ms:.3f}",
        "size KB": "" if p.size_bytes is None else f"{p.size_bytes / 1024:,.1f}",
        "zipped KB": "" if p.size_compressed_bytes is None else f"{p.size_compressed_bytes / 1024:,.1f}",
        "accuracy / fidelity": _accuracy_text(p), "reason": p.reason, "runner-up": p.runner_up or "",
    } for p in plan.picks]


def ship_section(plan: ShipPlan, table: Callable[[list[dict[str, str]]], str]) -> str:
    """Return the report's "What to ship, per tier" and "Delivery" sections, rows rendered by `table`."""
    note = plan.coverage.note()
    gap = f'<p class="note">{html.escape(note)}</p>\n' if note else ""
    limits = "".join(f'<li>{html.escape(r["limit"])} ({html.escape(r["counts"])}): {html.escape(r["note"])}; '
                     f'<a href="{html.escape(r["source"])}">{html.escape(r["source"])}</a>, checked '
                     f'{html.escape(r["checked"])}</li>' for r in limit_rows())
    return (f"<h2>What to ship, per tier</h2>\n<p class=\"note\">Per model and device tier, judged on the tier's "
            "slowest device (its reference variant's best median is the highest): within the budget (accuracy on "
            "labelled data, else top-1 agreement with the reference, else the worst output's cosine similarity to "
            "it), the fastest variant and accelerator; one not significantly slower beyond "
            f"{TIE_THRESHOLD_PCT:g}% (paired by round) than it and than any faster one ties, and ties go to the "
            "smallest file. The reason compares the pick with the runner-up and names the figure that put it "
            "within the budget."
            f"</p>\n{gap}{table(tier_rows(plan))}\n"
            "<h2>Delivery</h2>\n<p class=\"note\">Each shipped model's compressed size (inside an APK / IPA) against "
            "the store limits; the install-download limits count the rest of the app too (suite "
            "<code>delivery.app_base_mb</code>). Where bundling would cross one, download the model on first run."
            f"</p>\n{table(delivery_rows(plan.deliveries))}\n<ul class=\"note\">{limits}</ul>")


def print_ship(plan: ShipPlan) -> None:
    """Print the per-tier picks and their delivery to the terminal."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(170, Console().width))
    rows = tier_rows(plan)
    if rows:
        table = Table(title="what to ship, per tier (judged on each tier's slowest device)")
        columns = [c for c in rows[0] if c != "model" or len({p.model for p in plan.picks}) > 1]
        for column in columns:
            table.add_column(column, justify="right" if column.endswith(("ms", "KB")) else "left",
                             overflow="fold" if column in ("reason", "runner-up") else "ellipsis")
        for row in rows:
            table.add_row(*(row[c] for c in columns))
        console.print(table)
    for d in plan.deliveries:
        console.print(f"delivery of {d.model}/{d.variant}: {d.verdict()}", highlight=False)
    if (note := plan.coverage.note()) is not None:
        console.print(f"[yellow]{note}[/yellow]", highlight=False)
