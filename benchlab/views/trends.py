"""Trend plots over nights, for the HTML report: latency, size and accuracy run after run.

* ``trend_latency.png``: one panel per (model, device, accelerator), up to MAX_PANELS. Per variant,
  the median latency of every run with its 95% CI (error bars), and the baseline run's median and
  CI as a dashed line on a shaded band, so a night outside the band stands out. A dotted
  vertical line in the variant's colour marks each change point of its series (the run its
  median latency stepped to a new level, benchlab.results.changepoints), labelled with the step's size.
* ``trend_size_accuracy.png``: per model, file size of each variant run after run, and its
  accuracy (the median over the run's devices and accelerators: delegates can change outputs).
* A new OS build or runner version (benchlab.results.history.setup_changes) is never drawn as part
  of one series: a grey dash-dot line marks the run, labelled with what changed and named in the
  legend; a variant's latency line is broken there, and change points are looked for within one
  setup only, so a step that an OS update made is not reported as the model's.

The x axis is the run's position in the history (one tick per night), labelled with its start
time; runs are those of one suite under one results root (benchlab.results.history).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.results.changepoints import ChangePoint, find_changes
from benchlab.errors import StoreError
from benchlab.results.history import latest_before, list_runs, load_history, setup_changes
from benchlab.views.plotting import plain_log_ticks, pyplot, save
from benchlab.results.layout import RunLayout
from benchlab.results.store import read_run_meta

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pandas as pd

MAX_PANELS = 6
#: A panel whose slowest median is this many times its fastest gets a log scale.
LOG_SCALE_SPREAD = 20.0
PANEL = ["model", "device_id", "accelerator"]
SETUP_LEGEND = "new OS build / runner (series split)"


def _run_labels(history: pd.DataFrame) -> dict[int, str]:
    labels = {}
    for order, group in history.groupby("run_order"):
        started = group["run_started_at"].iloc[0]
        labels[int(order)] = started.strftime("%m-%d %H:%M") if started == started else str(group["run_id"].iloc[0])
    return labels


def _axis(ax, labels: dict[int, str]) -> None:  # type: ignore[no-untyped-def]
    ticks = sorted(labels)
    step = max(1, len(ticks) // 12)  # at most a dozen labels, however long the history
    ax.set_xticks(ticks[::step], [labels[t] for t in ticks[::step]], rotation=30, ha="right", fontsize=7)
    ax.set_xlabel("run (start time, UTC)")
    ax.grid(alpha=0.3)


def mark_changes(ax, changes: Sequence[ChangePoint], colour: str) -> None:  # type: ignore[no-untyped-def]
    """Draw each change point as a dotted vertical line at its run, labelled with the step (+20%)."""
    for change in changes:
        ax.axvline(change.run_order, color=colour, linestyle=":", linewidth=1.2)
        # Label at the top of the panel, whatever the y scale: x in data units, y in axes fraction.
        ax.annotate(f"{change.change_pct:+.0f}%", xy=(change.run_order, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(2, -10), textcoords="offset points", color=colour, fontsize=7)


def mark_setup_changes(ax, rows: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    """Draw a grey dash-dot line at each run where a series of `rows` changed setup, labelled with what changed."""
    changed = rows[rows["setup_change"] != ""]
    for index, (order, texts) in enumerate(changed.groupby("run_order")["setup_change"]):
        ax.axvline(order, color="dimgrey", linestyle="-.", linewidth=1.0, label=SETUP_LEGEND if index == 0 else None)
        ax.annotate("\n".join(sorted(set(texts))), xy=(order, 0.0), xycoords=("data", "axes fraction"),
                    xytext=(2, 3), textcoords="offset points", color="dimgrey", fontsize=6)


def _setup_segments(rows: pd.DataFrame) -> list[pd.DataFrame]:
    """Split one series (sorted by run) where its setup changed: each part ran on one setup."""
    segment = (rows["setup_change"] != "").cumsum()
    return [part for _, part in rows.groupby(segment, sort=True)]


def plot_latency_trend(history: pd.DataFrame, path: Path, baseline_run: str | None = None) -> Path | None:
    """Plot median latency per run with CIs, the baseline's CI band and change points; None if fewer than 2 runs."""
    plt = pyplot()
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ok = history[(history["status"] == "ok") & history["latency_ms_median"].notna()]
    if ok["run_order"].nunique() < 2:
        return None
    ok = ok.assign(setup_change=setup_changes(ok))  # against the previous run plotted, not a failed one
    labels = _run_labels(ok)
    panels = list(ok.groupby(PANEL))[:MAX_PANELS]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 3.4 * len(panels)), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, ((model, device, accelerator), group) in zip(axes[:, 0], panels):
        for index, (variant, rows) in enumerate(sorted(group.groupby("variant"))):
            colour = colours[index % len(colours)]
            rows = rows.sort_values("run_order")
            for part_index, part in enumerate(_setup_segments(rows)):
                median = part["latency_ms_median"].astype(float)
                low = (median - part["latency_ms_ci_low"].astype(float)).clip(lower=0).fillna(0)
                high = (part["latency_ms_ci_high"].astype(float) - median).clip(lower=0).fillna(0)
                ax.errorbar(part["run_order"], median, yerr=[low, high], marker="o", markersize=3, capsize=2,
                            color=colour, label=variant if part_index == 0 else None)
                for series in find_changes(part):  # only plotted panels, within one setup
                    mark_changes(ax, series.changes, colour)
            base = rows[rows["run_id"] == baseline_run] if baseline_run else rows.iloc[0:0]
            if not base.empty:
                b = base.iloc[0]
                if b["latency_ms_ci_low"] == b["latency_ms_ci_low"] and b["latency_ms_ci_low"] is not None:
                    ax.axhspan(b["latency_ms_ci_low"], b["latency_ms_ci_high"], color=colour, alpha=0.15)
                ax.axhline(b["latency_ms_median"], color=colour, linestyle="--", linewidth=0.8)
        mark_setup_changes(ax, group)
        _axis(ax, labels)
        spread = group["latency_ms_median"].max() / max(group["latency_ms_median"].min(), 1e-9)
        if spread > LOG_SCALE_SPREAD:  # variants orders of magnitude apart (int16x8 reference kernels)
            ax.set_yscale("log")
            plain_log_ticks(ax.yaxis)
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("median latency (ms" + (", log)" if spread > LOG_SCALE_SPREAD else ")"))
        title = f"{model} on {device} · {accelerator}"
        ax.set_title(title + (f" (band: baseline {baseline_run} 95% CI)" if baseline_run else ""), fontsize=9)
        ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    return save(fig, path, dpi=100)


def plot_size_accuracy_trend(history: pd.DataFrame, path: Path) -> Path | None:
    """Plot each variant's size and accuracy per run, one row per model; None if fewer than 2 runs."""
    plt = pyplot()

    if history.empty or history["run_order"].nunique() < 2:
        return None
    labels = _run_labels(history)
    models = sorted(history["model"].unique())[:MAX_PANELS]
    fig, axes = plt.subplots(len(models), 2, figsize=(12, 3.4 * len(models)), squeeze=False)
    for (size_ax, accuracy_ax), model in zip(axes, models):
        rows = history[history["model"] == model]
        per_run = rows.groupby(["variant", "run_order"]).agg(size_bytes=("size_bytes", "max"),
                                                             accuracy=("accuracy", "median")).reset_index()
        for variant, series in sorted(per_run.groupby("variant")):
            series = series.sort_values("run_order")
            size_ax.plot(series["run_order"], series["size_bytes"].astype(float) / 1024, marker="o", markersize=3,
                         label=variant)
            if series["accuracy"].notna().any():
                accuracy_ax.plot(series["run_order"], series["accuracy"].astype(float), marker="o", markersize=3,
                                 label=variant)
        mark_setup_changes(accuracy_ax, rows)  # a runner or OS update can change a delegate's outputs
        for ax, what in ((size_ax, "size (KB)"), (accuracy_ax, "accuracy (%)")):
            _axis(ax, labels)
            ax.set_ylabel(what)
            ax.set_title(f"{model}: {what.split(' ')[0]} per run", fontsize=9)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return save(fig, path, dpi=100)


def plot_trends(history: pd.DataFrame, out_dir: Path | str, baseline_run: str | None = None) -> list[Path]:
    """Write the trend plots of a history (benchlab.results.history.load_history) to `out_dir`.

    Returns the PNG paths written, none when the history holds fewer than two runs.
    """
    layout = RunLayout(Path(out_dir))
    if history.empty or "status" not in history.columns:
        return []  # runs that stored no measurement yet
    written = [plot_latency_trend(history, layout.trend_latency_png, baseline_run),
               plot_size_accuracy_trend(history, layout.trend_size_accuracy_png)]
    return [path for path in written if path is not None]


def trend_plots_for_run(run_dir: Path | str, results_root: Path | str | None = None,
                        baseline: Path | str | None = None) -> Sequence[Path]:
    """Write trend plots for one run's report: its suite's runs up to it, under `results_root`.

    `results_root` defaults to the one the run is under (RunLayout.results_root) and `baseline` to the newest earlier
    finished run of the suite (``--baseline latest``). Returns the PNG paths written into the run
    directory: none for the first run of a suite. Raises StoreError for a bad run directory; a
    sibling run that cannot be read (another benchlab version's) costs the trends, logged as a
    warning, never this run's report.
    """
    run_dir = Path(run_dir)
    root = Path(results_root) if results_root is not None else RunLayout(run_dir).results_root
    suite_name = read_run_meta(run_dir).suite_name
    try:
        return _trend_plots(run_dir, root, suite_name, baseline)
    except StoreError as exc:
        log.warning("no trend plots for %s: %s", run_dir.name, exc)
        return []


def _trend_plots(run_dir: Path, root: Path, suite_name: str | None, baseline: Path | str | None) -> list[Path]:
    runs = list_runs(root, suite_name)
    this = next((r for r in runs if r.path.resolve() == run_dir.resolve()), None)
    if this is None or this.order == 0:
        return []
    if baseline is None:
        try:
            baseline = latest_before(run_dir, root)
        except StoreError:
            baseline = None  # earlier runs exist but none finished: plot them without a band
    history = load_history(root, suite_name)
    history = history[history["run_order"] <= this.order]
    baseline_id = (read_run_meta(Path(baseline)).run_id or Path(baseline).name) if baseline else None
    return plot_trends(history, run_dir, baseline_id)
