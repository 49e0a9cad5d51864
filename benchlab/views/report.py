"""Tables, plots and the self-contained HTML report, all built from a run's record alone.

The table marks the pick and the Pareto front that benchlab.decide.pick computes.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.metrics import registered as registered_metrics
from benchlab.metrics.accuracy import SYNTHETIC_NOTE
from benchlab.metrics.base import kb_text, number_text, present
from benchlab.views.plotting import label_points, plain_log_ticks, pyplot, save
from benchlab.results.layout import RunLayout
from benchlab.results.run_record import RunRecord
from benchlab.views.fidelity import output_fidelity_rows
from benchlab.decide.pick import GROUP
from benchlab.decide.run_decision import RunDecision
from benchlab.views.run_modes import run_modes_section
from benchlab.views.llm_matrix import llm_section, plot_decode_vs_size
from benchlab.decide.ship import ShipPlan
from benchlab.views.ship import ship_section

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from benchlab.records import Variant
    from benchlab.results.sustained import SustainedCurve
    from benchlab.results.run_meta import RunMeta


@dataclass(frozen=True)
class ReportFiles:
    """Where the report's pieces were written."""

    html: Path
    latency_plot: Path | None
    tradeoff_plot: Path | None
    trend_plots: tuple[Path, ...] = ()
    #: The sustained-mode curve, and one line per session with its figures (empty without sustained mode).
    sustained_plot: Path | None = None
    sustained_lines: tuple[str, ...] = ()


def coverage_text(r: pd.Series) -> str:
    """Return how much of the model a delegated accelerator ran, e.g. "nodes 60/61, time 94%".

    Nodes are the graph's ops the delegate replaced (its own statement), time is the delegate's
    share of the op-profiling pass; "" on the CPU and where neither was measured.
    """
    if r.get("accelerator_kind") == "cpu":
        return ""
    parts = []
    if present(r.get("delegated_nodes")) and present(r.get("total_nodes")):
        parts.append(f"nodes {int(r['delegated_nodes'])}/{int(r['total_nodes'])}")
    if present(r.get("delegated_time_pct")):
        parts.append(f"time {r['delegated_time_pct']:.0f}%")
    return ", ".join(parts)


def table_rows(df: pd.DataFrame) -> list[dict[str, str]]:
    """Return the report table as display strings, one dict per measurement, in a stable order.

    Each registered metric (benchlab.metrics) adds its own cells between the identity and the pick.
    """
    rows = []
    for _, r in _ordered(df).iterrows():
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r['error']}"
        row = {"model": r["model"], "variant": r["variant"], "format": r["format"], "device": r["device_id"],
               "accelerator": r["accelerator"], "where": f"{r['device_id']} · {r['accelerator']}",
               "coverage": coverage_text(r)}
        for metric in registered_metrics():
            row.update(metric.cells(r))
        row.update({"pick": "★" if r.get("pick") else ("pareto" if r.get("pareto") else ""),
                    "flags": r["flags"] or "", "status": status})
        rows.append(row)
    return rows


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    """The report table's row order: model, device, accelerator, format, size."""
    return df.sort_values(["model", "device_id", "accelerator", "format", "size_bytes"], na_position="last")


def _number(value: object) -> float | int | None:
    """A tidy-table value as a JSON number (None for a missing one or NaN)."""
    if not present(value):
        return None
    number = float(value)  # type: ignore[arg-type]
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def summary_rows(df: pd.DataFrame, curves: Sequence[SustainedCurve] = ()) -> list[dict[str, object]]:
    """Return summary.json: the report table's rows (display text, as table_rows) with, as numbers,
    each metric's `summary_columns` (energy per inference in mJ and its noise floor, Apple's energy
    impact ...) and, for a job that ran a sustained session, its figures under "sustained": the
    throughput kept at the end in percent of the first minute, the minute it first dropped >10%
    (None: it did not), the minutes measured, both throughputs (inferences/s) and, with energy on,
    each window's energy per inference (mJ) or energy impact (None where not measured)."""
    by_job = {(c.model, c.variant, c.device_id, c.accelerator): c for c in curves}
    rows: list[dict[str, object]] = []
    for display, (_, r) in zip(table_rows(df), _ordered(df).iterrows()):
        row: dict[str, object] = dict(display)
        row.update({column: _number(r.get(column)) for m in registered_metrics() for column in m.summary_columns})
        curve = by_job.get((r["model"], r["variant"], r["device_id"], r["accelerator"]))
        if curve is not None:
            row["sustained"] = {"kept_pct": curve.kept_pct, "first_drop_minute": curve.first_drop_minute,
                                "minutes": curve.minutes, "complete": curve.complete,
                                "reference_throughput": curve.reference_throughput,
                                "end_throughput": curve.end_throughput,
                                "energy_mj_per_window": [p.energy_mj for p in curve.points],
                                "energy_impact_per_window": [p.energy_impact for p in curve.points]}
        rows.append(row)
    return rows


def terminal_columns() -> tuple[str, ...]:
    """Return the columns the terminal table shows: identity, each metric's terminal cells, the pick."""
    return ("model", "variant", "where", "coverage", *(c for m in registered_metrics() for c in m.terminal_cells),
            "pick")


def not_ok_notes(df: pd.DataFrame) -> list[str]:
    """Return one line per distinct reason a measurement was not ok or is flagged, naming the variants."""
    notes: dict[tuple[str, str], list[str]] = {}
    for _, r in df.iterrows():
        where = f"{r['variant']}@{r['device_id']}·{r['accelerator']}"
        if r["status"] != "ok":
            notes.setdefault((r["status"], r["error"]), []).append(where)
        for flag in filter(None, (r["flags"] or "").split(",")):
            notes.setdefault(("flagged", flag), []).append(where)
        if r["status"] == "ok" and r.get("accelerator_kind") != "cpu" and r.get("cpu_fallback_ops"):
            notes.setdefault(("fell back to the CPU", r["cpu_fallback_ops"]), []).append(where)
        if r["status"] == "ok" and r.get("op_profile_note"):
            notes.setdefault(("note", r["op_profile_note"]), []).append(where)
    return [f"{status}: {error} — {', '.join(dict.fromkeys(where))}" for (status, error), where in notes.items()]


#: Columns the terminal table leaves out first, in this order, when it would not fit the terminal
#: whole (rich would cut every header to "covera…"); `--wide`, the HTML report and the Parquet
#: tables keep them all. The identity, median latency, accuracy and the pick always stay.
NARROW_LEAVE_OUT = ("coverage", "repeats", "zipped KB", "peak MB", "min cos", "top-1 agree %", "95% CI ms",
                    "size KB", "Δ pts")


def _table_width(columns: Sequence[str], rows: Sequence[dict[str, str]]) -> int:
    """Return the characters a rich table of these columns takes: per column its widest cell or header
    plus padding and a rule (3), plus the outer rule."""
    from rich.cells import cell_len

    return 1 + sum(3 + max([cell_len(c), *(cell_len(r[c]) for r in rows)]) for c in columns)


def fitted_columns(columns: Sequence[str], rows: Sequence[dict[str, str]], width: int) -> tuple[list[str], list[str]]:
    """Return the columns that fit `width` characters with every header and cell whole, leaving out
    NARROW_LEAVE_OUT in order until they do, and the columns left out."""
    shown, left_out = list(columns), []
    for name in NARROW_LEAVE_OUT:
        if _table_width(shown, rows) <= width:
            break
        if name in shown:
            shown.remove(name)
            left_out.append(name)
    return shown, left_out


def print_table(df: pd.DataFrame, wide: bool = False, console: Console | None = None) -> None:
    """Print the results table fitted to the terminal (`wide`: every column), then why any
    measurement was not ok."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    rows = [r for r in table_rows(df) if r["status"] == "ok"]
    columns = [c for c in terminal_columns() if c != "model" or df["model"].nunique() > 1]
    # A metric measured only where a device can (energy) says nothing in a run where none could.
    unmeasured = {c for m in registered_metrics() if m.terminal_when_measured for c in m.terminal_cells
                  if not any(r[c] for r in rows)}
    columns = [c for c in columns if c not in unmeasured]
    title = "benchlab results (★ = pick within the accuracy budget)"
    if df["device_id"].nunique() == 1:  # one device: it goes in the title, "where" is the accelerator
        title = f"benchlab results on {df['device_id'].iloc[0]} (★ = pick within the accuracy budget)"
        columns = ["accelerator" if c == "where" else c for c in columns]
    if wide:  # wider than the terminal if need be: lines wrap, headers stay whole
        console.width = max(console.width, _table_width(columns, rows))
        left_out: list[str] = []
    else:
        columns, left_out = fitted_columns(columns, rows, console.width)
    table = Table(title=title)
    for column in columns:
        numeric = column.endswith(("KB", "ms", "%", "MB", "pts", "cos", "/inf")) or column == "repeats"
        # Names fold onto a second line on a very narrow terminal; numbers are never cut.
        table.add_column(column, justify="right" if numeric else "left", no_wrap=numeric, overflow="fold")
    for row in rows:
        table.add_row(*(row[c] for c in columns), style="bold green" if row["pick"] == "★" else None)
    console.print(table)
    if left_out:
        console.print(f"left out to fit {console.width} columns: {', '.join(left_out)} (--wide shows them; "
                      "report.html has all)", highlight=False)
    for note in not_ok_notes(df):
        console.print(f"[yellow]{escape(note)}[/yellow]", highlight=False)


def plot_latency(df: pd.DataFrame, samples: pd.DataFrame, path: Path) -> Path | None:
    """Latency per variant and accelerator, one panel per device; None if nothing was measured.

    A box shows every measured iteration; a runner that reports only per-run statistics
    (benchmark_model) is drawn as its median with the 95% CI where there is one.
    """
    plt = pyplot()

    measured = samples[samples["phase"] == "measured"]
    ok = df[(df["status"] == "ok") & df["latency_ms_median"].notna()]
    if ok.empty:
        return None
    devices = sorted(ok["device_id"].unique())
    rows_per_device = max(len(ok[ok["device_id"] == d]) for d in devices)
    fig, axes = plt.subplots(len(devices), 1, figsize=(10, len(devices) * (1.2 + 0.45 * rows_per_device)),
                             squeeze=False)
    for ax, device in zip(axes[:, 0], devices):
        here = ok[ok["device_id"] == device].sort_values(["model", "accelerator", "variant"])
        for position, (_, row) in enumerate(here.iterrows(), start=1):
            values = measured[measured["job_id"] == row["job_id"]]["latency_us"].to_numpy() / 1000.0
            if len(values):
                ax.boxplot([values], positions=[position], orientation="horizontal", widths=0.6, showfliers=True,
                           flierprops={"markersize": 2})
            else:
                low, high = row["latency_ms_ci_low"], row["latency_ms_ci_high"]
                err = None if low != low or low is None else [[row["latency_ms_median"] - low], [high - row["latency_ms_median"]]]
                ax.errorbar([row["latency_ms_median"]], [position], xerr=err, fmt="D", color="tab:blue", capsize=4)
        several_models = ok["model"].nunique() > 1  # then "original · cpu" alone would not say whose
        ax.set_yticks(range(1, len(here) + 1),
                      [f"{r['model'] + ' / ' if several_models else ''}{r['variant']} · {r['accelerator']}"
                       for _, r in here.iterrows()])
        ax.set_xscale("log")  # variants differ by orders of magnitude (int16x8 reference kernels vs XNNPACK)
        plain_log_ticks(ax.xaxis)
        ax.set_xlabel("latency per inference (ms, log scale): boxes = every iteration, ◆ = runner's per-run median")
        model = here["device_model"].iloc[0] or device
        ax.set_title(f"Latency on {device} ({model}, tier {here['tier'].iloc[0]})")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save(fig, path, dpi=110)


def plot_tradeoff(df: pd.DataFrame, path: Path) -> Path | None:
    """Size vs median latency per (device, accelerator), accuracy as colour, Pareto front and pick marked."""
    plt = pyplot()

    ok = df[(df["status"] == "ok") & df["latency_ms_median"].notna()]
    if ok.empty:
        return None
    panels = list(ok.groupby(GROUP))[:6]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    accuracy = ok["accuracy"].astype(float)
    vmin, vmax = (accuracy.min(), accuracy.max()) if accuracy.notna().any() else (0, 1)
    colours = plt.cm.ScalarMappable(plt.Normalize(vmin, vmax if vmax > vmin else vmin + 1), "viridis")
    if accuracy.notna().any():  # before the labels are placed: the colour bar takes room from the panels
        fig.colorbar(colours, ax=axes[0].tolist(), label="accuracy (%)")
    for ax, ((model, device, accelerator), group) in zip(axes[0], panels):
        size_kb = group["size_bytes"].astype(float) / 1024
        ax.scatter(size_kb, group["latency_ms_median"], c=group["accuracy"].astype(float), cmap=colours.cmap,
                   norm=colours.norm, s=60, edgecolors="black", zorder=3)
        front = group[group["pareto"]].sort_values("size_bytes")
        ax.plot(front["size_bytes"] / 1024, front["latency_ms_median"], "--", color="grey", label="Pareto front", zorder=2)
        pick = group[group["pick"]]
        if not pick.empty:
            ax.scatter(pick["size_bytes"] / 1024, pick["latency_ms_median"], marker="*", s=380, facecolors="none",
                       edgecolors="red", linewidths=1.6, label="pick (within budget)", zorder=4)
        ax.set_xlabel("model size (KB)")
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
        ax.set_ylabel("median latency (ms, log scale)")
        ax.set_title(f"{model} on {device} · {accelerator}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
        label_points(ax, list(zip(size_kb, group["latency_ms_median"].astype(float))),
                     [f"{r['variant']}{_accuracy_label(r['accuracy'])}" for _, r in group.iterrows()],
                     keep_clear=list(zip(pick["size_bytes"] / 1024, pick["latency_ms_median"].astype(float))))
    return save(fig, path, dpi=110, bbox_inches="tight")


def _accuracy_label(accuracy: float | None) -> str:
    """Return " 97.5%" for a measured accuracy, "" for none."""
    return f" {accuracy:.1f}%" if accuracy is not None and not math.isnan(accuracy) else ""


def _img(path: Path | None, alt: str) -> str:
    if path is None:
        return f"<p>No {html.escape(alt)}: nothing was measured.</p>"
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _html_table(rows: list[dict[str, str]], row_class: Callable[[dict[str, str]], str] = lambda _r: "") -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        f'<tr class="{row_class(r)}">' + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#222;max-width:1400px}
table{border-collapse:collapse;font-size:13px;margin:1rem 0}th,td{border:1px solid #ccc;padding:4px 8px}
th{background:#f0f0f0;text-align:left}td{font-variant-numeric:tabular-nums}tr.pick td{background:#e3f6e3;font-weight:600}
tr.failed td{color:#a00}tr.unsupported td{color:#777}img{max-width:100%;border:1px solid #ddd;margin:0.5rem 0}
.note{color:#555;font-size:13px}
"""


def variant_size_rows(variants: Sequence[Variant]) -> list[dict[str, str]]:
    """Return one row per built variant (Core ML included) with its size against its model's reference."""
    reference = {v.model: v.size_bytes for v in variants if v.is_reference and v.size_bytes}
    rows = []
    for v in variants:
        base = reference.get(v.model)
        ratio = f"{v.size_bytes / base:.2f}×" if base and v.size_bytes else ""
        rows.append({"model": v.model, "variant": v.name, "recipe": v.recipe, "format": v.format,
                     "size KB": kb_text(v.size_bytes), "zipped KB": kb_text(v.size_compressed_bytes),
                     "vs reference": ratio, "sha256": (v.sha256 or "")[:12],
                     "status": v.status if not v.error else f"failed: {v.error}",
                     "notes": v.notes or ""})
    return rows


def render_html(meta: RunMeta, df: pd.DataFrame, latency_png: Path | None, tradeoff_png: Path | None, budget: float,
                trend_pngs: Sequence[Path] = (), output_rows: Sequence[dict[str, str]] = (),
                plan: ShipPlan | None = None, llm_png: Path | None = None, sustained: str = "") -> str:
    """Return the self-contained report page (plots embedded as data URIs); `sustained` is the
    sustained-mode section (benchlab.views.sustained), empty without one."""
    picks = df[df["pick"]]
    pick_rows = [{"model": r["model"], "device": r["device_id"], "accelerator": r["accelerator"],
                  "ship": r["variant"], "median ms": number_text(r["latency_ms_median"], 3),
                  "size KB": kb_text(r["size_bytes"]), "accuracy %": number_text(r["accuracy"], 1),
                  "Δ pts": number_text(r["accuracy_delta"], 2), "budget": r["budget_reason"],
                  "reason": r["pick_reason"]} for _, r in picks.iterrows()]
    rows = [{k: v for k, v in row.items() if k != "where"} for row in table_rows(df)]

    def row_class(row: dict[str, str]) -> str:
        if row["pick"] == "★":
            return "pick"
        return row["status"].split(":")[0] if row["status"] != "ok" else ""

    devices = ", ".join(f"{d.id} ({d.model or d.platform}, {d.soc or '?'})" for d in meta.devices)
    title = f"benchlab · {meta.suite_name} · {meta.run_id}"
    trends = ""
    if trend_pngs:  # none for a suite's first run
        trends = ("<h2>Over time</h2>\n<p class=\"note\">Every run of this suite up to this one: median latency "
                  "with its 95% CI per run; the shaded band is the baseline's (the previous run's) CI.</p>\n"
                  + "\n".join(_img(path, "trend plot") for path in trend_pngs))
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in not_ok_notes(df))
    notes = f'<ul class="note">{notes}</ul>' if notes else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="note">Devices: {html.escape(devices)}. Started {html.escape(str(meta.started_at))}, finished
{html.escape(str(meta.finished_at))}. benchlab {html.escape(str(meta.harness_version))}.
Each repeat is one fresh runner process; a measurement's median is the median of its repeat medians, and
its 95% CI (from order statistics over repeats) needs at least 6 repeats. Repeats of all jobs ran
interleaved, round by round in a shuffled order.</p>
{ship_section(plan, _html_table) if plan is not None else ""}
<h2>What to ship, per device and accelerator</h2>
<p class="note">Per device and accelerator: within the budget ({budget:g} accuracy points; without labels,
top-1 agreement with the reference; without class scores, the worst output's cosine similarity to it),
the fastest variant; a variant not significantly slower than it, nor than any faster one (paired by
round), is a tie, and ties go to the smallest file. "budget" names the figure that judged the pick.</p>
{_html_table(pick_rows)}
<h2>Size, speed and accuracy</h2>
{_img(tradeoff_png, "size vs latency plot")}
<h2>Latency per variant</h2>
{_img(latency_png, "latency plot")}
{sustained}
{run_modes_section(df, _html_table)}
{llm_section(df, _html_table, _img(llm_png, "decode tok/s vs size plot"))}
{trends}
<h2>Variant sizes</h2>
<p class="note">Every variant built, including those this run could not execute (Core ML needs an
iPhone); zipped is the deflated size inside an APK or IPA, what a user downloads.</p>
{_html_table(variant_size_rows(meta.variants))}
<h2>All measurements</h2>
<p class="note">Coverage: on a GPU / NPU setting, the graph nodes its delegate took and its share of the
time in the op-profiling pass; the ops that fell back to the CPU are named below.</p>
{_html_table(rows, row_class)}
{notes}
<h2>Every output against the reference</h2>
<p class="note">Each output of each variant compared with the reference variant's same output on the same
inputs, device and accelerator: absolute error, cosine similarity (per sample, averaged), signal-to-noise
ratio, and top-1 agreement where the output is class scores. "min cos" in the table above is the lowest
cosine of any output. {html.escape(SYNTHETIC_NOTE)}: the model was given no data, so it ran on seeded
random inputs and only this comparison means something.</p>
{_html_table(list(output_rows))}
</body></html>
"""


def build_report(record: RunRecord, decision: RunDecision) -> ReportFiles:
    """Write a run's plots, report.html and summary.json from its record and what was decided of it
    (benchlab.decide.run_decision); return the files."""
    run_dir, meta, df = record.directory, record.meta, decision.table
    layout = RunLayout(run_dir)
    latency_png = plot_latency(df, record.samples, layout.latency_png)
    tradeoff_png = plot_tradeoff(df, layout.tradeoff_png)
    page = layout.report_html
    from benchlab.results.sustained import sustained_curves
    from benchlab.views.sustained import plot_sustained, sustained_section
    from benchlab.views.trends import trend_plots_for_run

    trend_pngs = tuple(trend_plots_for_run(run_dir))
    llm_png = plot_decode_vs_size(df, layout.llm_decode_png)
    curves = sustained_curves(layout)
    sustained_png = plot_sustained(curves, layout.sustained_png)
    page.write_text(render_html(meta, df, latency_png, tradeoff_png, decision.budget_points, trend_pngs,
                                output_fidelity_rows(record.output_fidelity), decision.ship, llm_png,
                                sustained_section(curves, sustained_png, _html_table, _img)))
    layout.summary_json.write_text(json.dumps(summary_rows(df, curves), indent=1))
    return ReportFiles(page, latency_png, tradeoff_png, trend_pngs, sustained_png,
                       tuple(c.summary() for c in curves))
