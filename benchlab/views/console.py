"""The terminal the commands print to (a wide stdout for tables, stderr for progress and notes), and
what `benchlab optimize` and `benchlab run` say while they work and when they end: the progress bar,
one line per variant built and per repeat measured, the variants table, the sustained sessions'
lines, and the command that finishes an interrupted run.

Render only: every figure comes from the records the pipeline returns (Variant, Measurement,
ReportFiles).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.results.layout import RunLayout
from benchlab.results.store import DEFAULT_RESULTS

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from benchlab.records import Measurement, Variant
    from benchlab.views.report import ReportFiles


def stdout_console() -> Console:
    """Return the console tables go to: stdout, at least 170 columns wide, no highlighting of
    numbers (a table's colours say what a row is)."""
    from rich.console import Console

    return Console(width=max(170, Console().width), highlight=False)


def stderr_console(highlight: bool = True) -> Console:
    """Return the console progress and notes go to (stderr, so stdout holds the tables)."""
    from rich.console import Console

    return Console(stderr=True, highlight=highlight)


def progress() -> Progress:
    """Return a transient progress display on stderr: description, bar, done / total, time elapsed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=stderr_console(), transient=True)


def variant_line(variant: Variant) -> str:
    """Return the line said when a variant is built, reused from the cache, or failed (rich markup)."""
    notes = f" · {variant.notes}" if variant.notes else ""
    if variant.status == "failed":
        return f"[red]✗ {variant.model}/{variant.name}: {variant.error}[/red]{notes}"
    reused = list(dict.fromkeys(step["step"] for step in variant.lineage if step["cached"]))
    if variant.status == "cached":
        verb = "reused from cache"
    elif reused:  # e.g. a chain whose training another variant already did: only the rest was built now
        seconds = sum(step["seconds"] for step in variant.lineage if not step["cached"])
        verb = f"built in {seconds:.1f} s ({', '.join(reused)} from the cache)"
    else:
        verb = f"built in {variant.build_seconds:.1f} s"
    return f"✓ {variant.model}/{variant.name} ({variant.format}, {variant.size_bytes / 1024:,.1f} KB) {verb}{notes}"


def variant_summary(variants: Sequence[Variant]) -> str:
    """Return one line: how many variants were built, reused and failed."""
    counts = {s: sum(v.status == s for v in variants) for s in ("built", "cached", "failed")}
    return (f"variants: {counts['built']} built, {counts['cached']} reused from cache (unchanged content hash), "
            f"{counts['failed']} failed")


def measurement_line(m: Measurement) -> str | None:
    """Return the line said when a repeat is stored (plain text), or None for an unsupported job: the
    same refusal for every such job is said once, whole, under the results table."""
    if m.status == "unsupported":
        return None
    if "decode_tps" in m.metric_values:  # a language model's cell: its rates, not iterations
        measured = (f"decode {m.metric_values['decode_tps']:.1f} tok/s, "
                    f"prefill {m.metric_values['prefill_tps']:.1f} tok/s")
    else:
        measured = (f"{len(m.all_samples_us)} iterations" if m.all_samples_us
                    else f"{len(m.runner_stats)} runner run(s)")
    detail = f"{m.status}: {m.error}" if m.status != "ok" else measured
    return (f"  {m.variant.model}/{m.variant.name} on {m.device.id} · {m.accelerator.name} "
            f"repeat {m.repeat + 1}: {detail}")


def print_variants(variants: Sequence[Variant]) -> None:
    """Print the variants as a table: recipe, format, status, sizes, hash, error and notes."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="variants")
    for column in ("model", "variant", "recipe", "format", "status", "size KB", "zipped KB", "sha256", "error", "notes"):
        table.add_column(column, overflow="fold")
    for v in variants:
        size = f"{v.size_bytes / 1024:,.1f}" if v.size_bytes is not None else ""
        zipped = f"{v.size_compressed_bytes / 1024:,.1f}" if v.size_compressed_bytes is not None else ""
        table.add_row(v.model, v.name, v.recipe, v.format, v.status, size, zipped, (v.sha256 or "")[:12], v.error or "",
                      v.notes or "")
    Console(width=160).print(table)


def print_sustained(files: ReportFiles) -> None:
    """Say each sustained session's kept throughput and first drop, and where the curve is."""
    for line in files.sustained_lines:
        print(f"sustained: {line}")
    if files.sustained_plot is not None:
        print(f"curve:   {files.sustained_plot}")


def resume_command(run_dir: Path, results: Path) -> str:
    """Return the command that finishes `run_dir`, as it can be pasted: by id under the results root
    it was found in, else by its path (a run given as a path elsewhere)."""
    if RunLayout(run_dir).results_root.resolve() != results.resolve():
        return f"benchlab run --resume {shlex.quote(str(run_dir))}"
    flag = "" if results == DEFAULT_RESULTS else f" --results {shlex.quote(str(results))}"
    return f"benchlab run --resume {shlex.quote(run_dir.name)}{flag}"
