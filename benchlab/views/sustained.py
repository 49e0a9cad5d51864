"""The sustained-mode curve: throughput per window over minutes under load, thermal state beneath it.

One line per session (variant x device x accelerator); each window is a point coloured by the
device's thermal level after it (nominal, fair, serious, critical: benchlab.records.THERMAL_LEVELS),
the dotted line at 90% of a session's first-minute throughput marks what a drop is. The lower panel
steps through the raw thermal status the platform reported after each window (Android's 0-6, iOS's 0-3). The figures
under the plot come from benchlab.results.sustained.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

from benchlab.records import THERMAL_LEVELS
from benchlab.results.sustained import DROP_FRACTION, SustainedCurve
from benchlab.views.plotting import pyplot, save

#: Marker colours of the thermal levels (nominal → critical), and of a window whose level is unknown.
LEVEL_COLOURS = ("#2ca02c", "#e6b800", "#ff7f0e", "#d62728")
UNKNOWN_COLOUR = "#7f7f7f"


def _label(curve: SustainedCurve) -> str:
    return f"{curve.model}/{curve.variant} · {curve.device_id} · {curve.accelerator}"


def plot_sustained(curves: Sequence[SustainedCurve], path: Path) -> Path | None:
    """Draw every session's throughput and thermal status per window; return the file, or None with no window."""
    drawn = [c for c in curves if c.points]
    if not drawn:
        return None
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for curve in drawn:
        middles = [p.minute + p.minutes / 2 for p in curve.points]
        line, = top.plot(middles, [p.throughput for p in curve.points], linewidth=1.2, label=_label(curve))
        colours = [LEVEL_COLOURS[p.thermal_level] if p.thermal_level in range(len(LEVEL_COLOURS)) else UNKNOWN_COLOUR
                   for p in curve.points]
        top.scatter(middles, [p.throughput for p in curve.points], c=colours, s=22, zorder=3, edgecolors="none")
        if curve.reference_throughput is not None:
            top.axhline((1 - DROP_FRACTION) * curve.reference_throughput, color=line.get_color(), linestyle=":",
                        linewidth=0.8)
        if curve.first_drop_minute is not None:
            top.axvline(curve.first_drop_minute, color=line.get_color(), linestyle="--", linewidth=0.8)
        # A status is read after its window: it holds over that window, up to the window's end.
        statuses = [(p.minute + p.minutes, p.thermal_status) for p in curve.points if p.thermal_status is not None]
        if statuses:
            bottom.step([0.0] + [m for m, _ in statuses], [statuses[0][1]] + [s for _, s in statuses], where="pre",
                        color=line.get_color())
    levels = {p.thermal_level for c in drawn for p in c.points}
    for level, colour in enumerate(LEVEL_COLOURS):
        if level in levels:
            top.scatter([], [], c=colour, s=22, label=f"thermal: {THERMAL_LEVELS[level]}")
    if None in levels:
        top.scatter([], [], c=UNKNOWN_COLOUR, s=22, label="thermal: not reported")
    top.set_ylabel("throughput (inferences/s)")
    top.set_ylim(bottom=0)
    top.set_title(f"Sustained load: throughput per window (dotted: {1 - DROP_FRACTION:.0%} of the first minute, "
                  "or first tenth of a shorter run; dashed: first drop)", fontsize=9)
    top.legend(fontsize=7, loc="lower left")
    if not any(p.thermal_status is not None for c in drawn for p in c.points):
        bottom.text(0.5, 0.5, "the device reported no thermal status", ha="center", va="center",
                    transform=bottom.transAxes, fontsize=8, color=UNKNOWN_COLOUR)
    bottom.set_ylabel("thermal status")
    bottom.set_xlabel("minutes under load")
    bottom.set_ylim(bottom=-0.2)
    bottom.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return save(fig, path)


def sustained_rows(curves: Sequence[SustainedCurve]) -> list[dict[str, str]]:
    """Return one table row per session: its figures, thermal range and temperature range."""
    rows = []
    for curve in curves:
        statuses = [p.thermal_status for p in curve.points if p.thermal_status is not None]
        temps = [p.max_temperature_c for p in curve.points if p.max_temperature_c is not None]
        rows.append({
            "model": curve.model, "variant": curve.variant, "device": curve.device_id,
            "accelerator": curve.accelerator,
            "windows": f"{len(curve.points)}/{curve.planned_windows}",
            "start /s": f"{curve.reference_throughput:.1f}" if curve.reference_throughput else "",
            "end /s": f"{curve.end_throughput:.1f}" if curve.end_throughput else "",
            "kept %": f"{curve.kept_pct:.0f}" if curve.kept_pct is not None else "",
            "first drop >10%": (curve.drop_text().removeprefix(f"dropped >{DROP_FRACTION:.0%} ")
                                if curve.kept_pct is not None else curve.error or ""),
            "thermal status": f"{min(statuses)} → {max(statuses)}" if statuses else "not read",
            "hottest °C": f"{max(temps):.1f}" if temps else "not read",
            "mJ/inf first → last window": _ends([p.energy_mj for p in curve.points], 3),
            "energy impact first → last window": _ends([p.energy_impact for p in curve.points], 1),
        })
    # A column only when some session measured it (energy is off in most runs).
    empty = {key for key in ("mJ/inf first → last window", "energy impact first → last window")
             if not any(row[key] for row in rows)}
    return [{key: value for key, value in row.items() if key not in empty} for row in rows]


def _ends(values: Sequence[float | None], digits: int) -> str:
    """Return "12.3 → 15.1" for the first and last window that measured a value ("" for none)."""
    measured = [v for v in values if v is not None]
    return f"{measured[0]:.{digits}f} → {measured[-1]:.{digits}f}" if measured else ""


def sustained_section(curves: Sequence[SustainedCurve], png: Path | None,
                      table: Callable[[list[dict[str, str]]], str], image: Callable[[Path | None, str], str]) -> str:
    """Return the report's sustained-mode section (empty when the run has no session)."""
    if not curves:
        return ""
    return f"""<h2>Sustained load</h2>
<p class="note">Each job ran without a pause, window after window (scenario.sustained_minutes), after its
repeats. Throughput is a window's inferences over its measured inference time ("start /s" over the first
minute, or the first tenth of a shorter run; "end /s" over as long at the end); the x axis is minutes under
load (inference time, not counting the runner's restart between windows). "kept %" is the throughput of the
last minute (a tenth of a shorter run) as a percentage of the first; "first drop" is when a window first
fell more than {DROP_FRACTION:.0%} below the first minute. Thermal status is the platform's own (Android
PowerManager 0-6, iPhone thermal state 0-3); the hottest temperature is the highest sensor (battery included) the device
reported in any window. With energy on, each window's energy per inference (mJ, the phone's rails, idle
subtracted) or Apple's unitless energy impact is measured like a repeat's; the table gives the first and
last window's.</p>
{table(sustained_rows(curves))}
{image(png, "sustained-load plot")}
<ul class="note">{''.join(f"<li>{html.escape(c.summary())}</li>" for c in curves)}</ul>"""
