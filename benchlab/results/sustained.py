"""Sustained sessions in the run folder, and the curve and figures computed from them.

Each session's windows (benchlab.execute.sustained) are appended, one JSON line each, to
`sustained/JOB.jsonl` (RunLayout.sustained_file) the moment a window finishes. A session is redone
whole, never continued: a thermal curve that restarts cool halfway is not the curve of one session.

The figures, recomputed from the stored windows every time a report is built:

- **throughput** of a window: its timed inferences over its measured inference time (inferences/s);
- **reference**: the throughput over the first minute under load (in a run shorter than ten
  minutes, its first tenth, so a 0.5-minute try compares its first 3 s window);
- **kept**: the throughput over the same span at the end, as a percentage of the reference;
- **first drop**: the start (minutes under load) of the first window after the reference span whose
  throughput is more than 10% below the reference, or none ("did not drop").
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchlab.execute.sustained import SustainedWindow
from benchlab.records import Conditions
from benchlab.results.layout import RunLayout
from benchlab.results.store import conditions_from_json

#: The reference span: the first minute under load (a tenth of a shorter run).
REFERENCE_SECONDS = 60.0
#: A window this much below the reference throughput is a drop.
DROP_FRACTION = 0.10


def start_session(layout: RunLayout, job_id: str) -> None:
    """Empty a job's session file before its first window: a session is redone whole."""
    path = layout.sustained_file(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")


def append_window(layout: RunLayout, window: SustainedWindow) -> None:
    """Append one window to its session's file, flushed and fsync'ed (a crash loses at most the window in flight)."""
    path = layout.sustained_file(window.job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(asdict(window)) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _window_from_json(raw: dict[str, Any]) -> SustainedWindow:
    return SustainedWindow(**{**raw, "samples_us": tuple(raw.get("samples_us") or ()),
                              "flags": tuple(raw.get("flags") or ()),
                              "conditions": conditions_from_json(raw.get("conditions"))})


def _temperatures(conditions: Conditions | None) -> list[float]:
    """Every temperature the device reported: its sensors and its battery (an iPhone reports only the latter)."""
    if conditions is None:
        return []
    battery = [conditions.battery_temperature_c] if conditions.battery_temperature_c is not None else []
    return [*conditions.temperatures_c.values(), *battery]


def conditions_text(conditions: Conditions | None) -> str:
    """Return ", thermal status 2, hottest 41.3 °C, CPU 2,100 MHz" for what the device reported ("" for nothing)."""
    if conditions is None:
        return ""
    parts = []
    if conditions.thermal_status is not None:
        parts.append(f"thermal status {conditions.thermal_status}")
    if temps := _temperatures(conditions):
        parts.append(f"hottest {max(temps):.1f} °C")
    if conditions.cpu_freq_mhz:
        parts.append(f"CPU {max(conditions.cpu_freq_mhz.values()):,.0f} MHz")
    return "".join(f", {part}" for part in parts)


def read_session(path: Path) -> list[SustainedWindow]:
    """Return a session file's windows in order; a torn last line (a crash mid-write) is skipped."""
    windows = []
    for line in path.read_text().splitlines():
        try:
            windows.append(_window_from_json(json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            continue
    return windows


def load_sessions(layout: RunLayout) -> dict[str, list[SustainedWindow]]:
    """Return every stored session by job id (empty when the run has none)."""
    return {path.stem: windows for path in sorted(layout.sustained_dir.glob("*.jsonl"))
            if (windows := read_session(path))}


def complete_sessions(layout: RunLayout) -> set[str]:
    """Return the job ids whose session ran every window, each ok: `--resume` does not run them again."""
    return {job_id for job_id, windows in load_sessions(layout).items()
            if len(windows) == windows[0].windows and all(w.status == "ok" for w in windows)}


@dataclass(frozen=True)
class CurvePoint:
    """One window on the curve."""

    #: Minutes under load when the window started, and its length under load in minutes.
    minute: float
    minutes: float
    throughput: float
    median_ms: float | None
    thermal_status: int | None
    thermal_level: int | None
    thermal_scale: str | None
    max_temperature_c: float | None
    cpu_freq_mhz: float | None
    #: With energy on: the window's energy per inference (mJ, idle subtracted) or Apple's energy impact.
    energy_mj: float | None = None
    energy_impact: float | None = None


@dataclass(frozen=True)
class SustainedCurve:
    """A session's curve and its figures (None where the session did not measure enough for one)."""

    job_id: str
    model: str
    variant: str
    device_id: str
    accelerator: str
    planned_windows: int
    window_seconds: float
    points: tuple[CurvePoint, ...]
    reference_throughput: float | None
    end_throughput: float | None
    kept_pct: float | None
    #: Minutes under load at the start of the first window >10% below the reference; None: did not drop.
    first_drop_minute: float | None
    #: Why the session stopped early (the failed window's error), else None.
    error: str | None

    @property
    def complete(self) -> bool:
        """Whether every planned window measured."""
        return len(self.points) == self.planned_windows and self.error is None

    @property
    def minutes(self) -> float:
        """Minutes under load the session measured."""
        return self.points[-1].minute + self.points[-1].minutes if self.points else 0.0

    def drop_text(self) -> str:
        """Return "dropped >10% at 3.5 min" or "did not drop >10%"."""
        if self.first_drop_minute is None:
            return f"did not drop >{DROP_FRACTION:.0%}"
        return f"dropped >{DROP_FRACTION:.0%} at {minutes_text(self.first_drop_minute)} min"

    def summary(self) -> str:
        """One line: what ran, the kept throughput and the first drop."""
        what = f"{self.model}/{self.variant} on {self.device_id} · {self.accelerator}"
        if self.kept_pct is None:
            return f"{what}: no figure ({self.error or 'no window measured'})"
        partial = "" if self.complete else f" (stopped after {len(self.points)} of {self.planned_windows} windows: " \
                                           f"{self.error or 'interrupted'})"
        return (f"{what}: kept {self.kept_pct:.0f}% of its {self.reference_text()} throughput after "
                f"{minutes_text(self.minutes)} min under load ({self.reference_throughput:.1f} → "
                f"{self.end_throughput:.1f} inferences/s); {self.drop_text()}{partial}")

    def reference_text(self) -> str:
        """Return what the reference span is: "first-minute", or "first 0.05 min" in a short run."""
        span = reference_windows(self.planned_windows, self.window_seconds) * self.window_seconds
        return "first-minute" if span >= REFERENCE_SECONDS else f"first {minutes_text(span / 60)} min"


def minutes_text(minutes: float) -> str:
    """Return minutes with one decimal, two under a minute (a short try's windows are seconds long)."""
    return f"{minutes:.1f}" if minutes >= 1 else f"{minutes:.2f}"


def reference_windows(windows: int, window_seconds: float) -> int:
    """Return how many windows the reference (and the end) spans: the first minute's, or a tenth of a shorter run."""
    span = min(REFERENCE_SECONDS, windows * window_seconds / 10)
    return max(1, round(span / window_seconds))


def _point(window: SustainedWindow, minute: float, busy: float) -> CurvePoint:
    median_ms = None
    if window.samples_us:
        ordered = sorted(window.samples_us)
        middle = len(ordered) // 2
        median_us = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        median_ms = median_us / 1000
    elif window.stats.get("median_us") is not None:
        median_ms = float(window.stats["median_us"]) / 1000  # type: ignore[arg-type]
    c = window.conditions
    temps = _temperatures(c)
    freqs = list(c.cpu_freq_mhz.values()) if c is not None else []
    return CurvePoint(minute=minute, minutes=busy / 60, throughput=window.count / busy, median_ms=median_ms,
                      thermal_status=c.thermal_status if c else None, thermal_level=c.thermal_level if c else None,
                      thermal_scale=c.thermal_scale if c else None,
                      max_temperature_c=max(temps) if temps else None, cpu_freq_mhz=max(freqs) if freqs else None,
                      energy_mj=window.metric_values.get("energy"),
                      energy_impact=window.metric_values.get("energy_impact"))


def _throughput(points: list[CurvePoint]) -> float:
    """Throughput over several windows: their inferences over their inference time."""
    return sum(p.throughput * p.minutes for p in points) / sum(p.minutes for p in points)


def sustained_curve(windows: list[SustainedWindow]) -> SustainedCurve:
    """Return a session's curve, kept throughput and first drop, from its stored windows."""
    first = windows[0]
    points: list[CurvePoint] = []
    minute = 0.0
    error = None
    for window in windows:
        busy = window.busy_seconds
        if window.status != "ok" or not busy:
            error = window.error or "the window measured nothing"
            break
        points.append(_point(window, minute, busy))
        minute += busy / 60
    reference = end = kept = drop = None
    if points:
        k = reference_windows(first.windows, first.window_seconds)  # the same number of windows at both ends
        reference, end = _throughput(points[:k]), _throughput(points[-k:])
        kept = 100.0 * end / reference
        drop = next((p.minute for p in points[k:] if p.throughput < (1 - DROP_FRACTION) * reference), None)
    return SustainedCurve(job_id=first.job_id, model=first.model, variant=first.variant, device_id=first.device_id,
                          accelerator=first.accelerator, planned_windows=first.windows,
                          window_seconds=first.window_seconds, points=tuple(points),
                          reference_throughput=reference, end_throughput=end, kept_pct=kept,
                          first_drop_minute=drop, error=error)


def sustained_curves(layout: RunLayout) -> list[SustainedCurve]:
    """Return the curve of every stored session of a run, in job order."""
    return [sustained_curve(windows) for windows in load_sessions(layout).values()]
