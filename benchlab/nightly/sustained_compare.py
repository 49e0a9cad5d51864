"""Two runs' sustained curves side by side: the throughput each kept and the minute it first dropped.

`benchlab compare` matches the sustained sessions (benchlab.results.sustained) of a baseline and a
candidate run by model, variant, device and accelerator and reports, per pair, the kept throughput
(percent of the first minute) before and after, in points, and the first >10% drop before and after.
It is reported, never gated: each run holds one session per job, so there is no spread to test a
change against (a phone's curve moves a few points with the room, the charge and the screen; the
README says to run it twice before trusting a difference of a few points). Sessions of different
lengths are not compared (the end of a 2-minute session is not the end of a 10-minute one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchlab.results.layout import RunLayout
from benchlab.results.sustained import SustainedCurve, minutes_text, sustained_curves

Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class SustainedChange:
    """One job's sustained session in both runs (None on a side that has none or no figure)."""

    model: str
    variant: str
    device_id: str
    accelerator: str
    baseline_kept_pct: float | None
    candidate_kept_pct: float | None
    baseline_first_drop_minute: float | None
    candidate_first_drop_minute: float | None
    baseline_minutes: float | None
    candidate_minutes: float | None
    #: Why the two are not compared (one side missing, different lengths, no figure), else None.
    reason: str | None = None

    @property
    def kept_change_points(self) -> float | None:
        """Candidate minus baseline kept throughput, in percentage points (None when not compared)."""
        if self.reason is not None or self.baseline_kept_pct is None or self.candidate_kept_pct is None:
            return None
        return self.candidate_kept_pct - self.baseline_kept_pct

    def text(self) -> str:
        """One line: "m/v on d · a: kept 65% → 48% (-17.0 points); first drop >10% at 0.40 → 0.20 min"."""
        what = f"{self.model}/{self.variant} on {self.device_id} · {self.accelerator}"
        change = self.kept_change_points
        if change is None:
            return f"{what}: not compared ({self.reason or 'no figure'})"
        before, after = _drop(self.baseline_first_drop_minute), _drop(self.candidate_first_drop_minute)
        return (f"{what}: kept {self.baseline_kept_pct:.0f}% → {self.candidate_kept_pct:.0f}% "
                f"({change:+.1f} points); first drop >10% {before} → {after} (one session each: reported, not tested)")


def _drop(minute: float | None) -> str:
    return "none" if minute is None else f"at {minutes_text(minute)} min"


def _key(curve: SustainedCurve) -> Key:
    return curve.model, curve.variant, curve.device_id, curve.accelerator


def _change(key: Key, base: SustainedCurve | None, cand: SustainedCurve | None) -> SustainedChange:
    reason = None
    if base is None or cand is None:
        reason = f"no session in the {'baseline' if base is None else 'candidate'}"
    elif base.planned_windows != cand.planned_windows or base.window_seconds != cand.window_seconds:
        reason = (f"sessions of different lengths: {minutes_text(base.planned_windows * base.window_seconds / 60)} "
                  f"and {minutes_text(cand.planned_windows * cand.window_seconds / 60)} min")
    elif base.kept_pct is None or cand.kept_pct is None:
        reason = f"no figure in the {'baseline' if base.kept_pct is None else 'candidate'}"
    return SustainedChange(*key, baseline_kept_pct=base.kept_pct if base else None,
                           candidate_kept_pct=cand.kept_pct if cand else None,
                           baseline_first_drop_minute=base.first_drop_minute if base else None,
                           candidate_first_drop_minute=cand.first_drop_minute if cand else None,
                           baseline_minutes=base.minutes if base else None,
                           candidate_minutes=cand.minutes if cand else None, reason=reason)


def compare_sustained(baseline_dir: Path, candidate_dir: Path) -> tuple[SustainedChange, ...]:
    """Return every job with a sustained session in either run, candidate's order first; () when neither has one."""
    base = {_key(c): c for c in sustained_curves(RunLayout(baseline_dir))}
    cand = {_key(c): c for c in sustained_curves(RunLayout(candidate_dir))}
    keys = [*cand, *(k for k in base if k not in cand)]
    return tuple(_change(key, base.get(key), cand.get(key)) for key in keys)
