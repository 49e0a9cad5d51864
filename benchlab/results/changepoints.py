"""Change points over history: the nights where a series' median latency stepped to a new level.

A *series* is one (model, variant, device_id, accelerator) across the runs of a results root,
ordered by run start (``run_order`` of `benchlab.results.history.load_history`); its value at a run is that
run's median latency, ``latency_ms_median``. Only ``ok`` measurements count, so a night a job
failed is a gap in its series, not a zero.

The algorithm (`find_changes`):

1. **Log latency.** The series is y = log(median latency), so a step is a ratio: a 20% slowdown
   is the same step on a 2 ms model as on a 200 ms one, and run-to-run noise, which grows with
   latency, is about the same size everywhere.
2. **Noise from the series itself.** sigma = median(|y[t+1] - y[t]|) / (0.6745 * sqrt(2)): the
   median absolute successive difference, scaled so it estimates the standard deviation of normal
   run-to-run noise. Successive differences make it robust: a step touches one difference and an
   outlier night two, and the median ignores both, so neither inflates the noise they are judged
   against. It is floored at NOISE_FLOOR (0.5%), so a series of near-identical medians (a coarse
   timer) does not make every rounding wobble a change.
3. **Segmentation.** ruptures' PELT search (Killick et al. 2012; exact for a penalised cost, here
   over every run, ``jump=1``) with the ``l1`` cost — each segment costs the sum of absolute
   deviations from its own *median* — on y / sigma. The penalty per change point is
   PENALTY_PER_LOG_RUN * log(n) in those noise units (a BIC-like penalty), so a step must stand
   out of the series' own noise, and a long history does not turn up more false steps.
   On seeded series with 5% noise and one outlier night in twenty, 3 * log(n) kept false changes
   to about 1-4% of flat series from 6 to 100 runs, and found a 20% step (3.6 sigma) within one
   run in about nine series of ten with 15 runs on each side; the rest were moved by an outlier
   night just before the step, which is nearer the new level than the old, so its side is
   ambiguous. With the squared ``l2`` cost the same flat series were flagged 16-89% of the time
   (penalties from 10 * log(n) down to 3 * log(n)).
   PELT with a median cost is pure Python in ruptures: a series of 365 nightly runs took about
   1.5 s on this project's shared 2-core VM, 1000 runs about 10 s.
4. **Report.** Each breakpoint is the first run on the new level (its run id). The step is
   after/before - 1, where before and after are the medians of the segments on either side
   (from the previous to the next change point), again medians so an outlier inside a segment
   does not move them.

**Why one outlier night is not a change point.** A segment holds at least MIN_SEGMENT_RUNS (3)
runs, so isolating one slow night takes two change points (two penalties) around a three-run
segment, and that segment's median is set by its two ordinary nights: under the l1 cost the
outlier costs about the same inside the short segment as in the long one, so nothing is gained
and no change is reported. The squared (``l2``) cost would not do this: a 2x night is 14 sigma
at 5% noise and its square alone pays for two penalties. For the same reason a step in the last
one or two runs is not reported yet: it needs three runs on the new level to be told apart from
an outlier (`benchlab compare` judges tonight against its baseline meanwhile). The converse
limit: two slow nights among the last three do make a three-run segment whose median is slow,
and read as a step until the next nights show the old level again.

A series with fewer than MIN_RUNS runs cannot hold a segment of MIN_SEGMENT_RUNS on both sides of a
step; it is reported as "too few runs", never as "no change".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: A segment (a level between two change points) spans at least this many runs.
MIN_SEGMENT_RUNS = 3
#: Fewer runs than this cannot hold a full segment on each side of a step: "too few runs".
MIN_RUNS = 2 * MIN_SEGMENT_RUNS
#: Penalty per change point, in units of the series' noise, per log(runs) (see the module docstring).
PENALTY_PER_LOG_RUN = 3.0
#: Smallest run-to-run noise (in log latency, ~0.5%) a series is assumed to have.
NOISE_FLOOR = 0.005
#: What makes one series: its latencies across runs are comparable with each other.
SERIES = ("model", "variant", "device_id", "accelerator")
#: Columns of `changes_frame`, one row per change point (or per series without one).
CHANGE_COLUMNS = (*SERIES, "runs", "noise_pct", "status", "run_id", "run_order", "before_ms", "after_ms",
                  "change_pct", "runs_before", "runs_after")


@dataclass(frozen=True)
class ChangePoint:
    """A step in a series: the first run on the new level and the medians on either side."""

    run_id: str
    run_order: int
    before_ms: float
    after_ms: float
    runs_before: int
    runs_after: int

    @property
    def change_pct(self) -> float:
        """The step as a percentage of the level before it (+20.0 is 20% slower)."""
        return (self.after_ms / self.before_ms - 1.0) * 100.0


@dataclass(frozen=True)
class SeriesChanges:
    """The change points of one series, or why there are none."""

    model: str
    variant: str
    device_id: str
    accelerator: str
    runs: int
    #: Run-to-run noise (robust sigma of log latency) in percent; None with too few runs.
    noise_pct: float | None
    changes: tuple[ChangePoint, ...]

    @property
    def enough_runs(self) -> bool:
        """Whether the series was long enough to look for change points at all."""
        return self.runs >= MIN_RUNS

    @property
    def status(self) -> str:
        """Return "too few runs (N < MIN_RUNS)", "no change" or "N change(s)"."""
        if not self.enough_runs:
            return f"too few runs ({self.runs} < {MIN_RUNS})"
        if not self.changes:
            return "no change"
        return f"{len(self.changes)} change" + ("s" if len(self.changes) > 1 else "")


def _noise(log_latency: Sequence[float]) -> float:
    import numpy as np

    differences = np.abs(np.diff(np.asarray(log_latency, dtype=float)))
    # For normal noise, |x - y| of two independent draws has median 0.6745 * sqrt(2) * sigma.
    return max(float(np.median(differences)) / (0.6745 * math.sqrt(2.0)), NOISE_FLOOR)


def _breakpoints(log_latency: Sequence[float], noise: float) -> list[int]:
    """Return the indices of the first run of each new level (PELT, l1 cost, noise-scaled penalty)."""
    import numpy as np
    import ruptures

    signal = (np.asarray(log_latency, dtype=float) / noise).reshape(-1, 1)
    penalty = PENALTY_PER_LOG_RUN * math.log(len(signal))
    search = ruptures.Pelt(model="l1", min_size=MIN_SEGMENT_RUNS, jump=1).fit(signal)
    return list(search.predict(pen=penalty))[:-1]  # ruptures ends the list with len(signal)


def _series_changes(key: tuple[str, str, str, str], runs: pd.DataFrame) -> SeriesChanges:
    latency = [float(v) for v in runs["latency_ms_median"]]
    if len(latency) < MIN_RUNS:
        return SeriesChanges(*key, runs=len(latency), noise_pct=None, changes=())
    import numpy as np

    log_latency = np.log(latency)
    noise = _noise(log_latency)
    breaks = _breakpoints(log_latency, noise)
    edges = [0, *breaks, len(latency)]
    changes = []
    for previous, at, following in zip(edges, edges[1:], edges[2:]):
        changes.append(ChangePoint(
            run_id=str(runs["run_id"].iloc[at]), run_order=int(runs["run_order"].iloc[at]),
            before_ms=float(np.median(latency[previous:at])), after_ms=float(np.median(latency[at:following])),
            runs_before=at - previous, runs_after=following - at,
        ))
    return SeriesChanges(*key, runs=len(latency), noise_pct=noise * 100.0, changes=tuple(changes))


def find_changes(history: pd.DataFrame) -> list[SeriesChanges]:
    """Return the change points of every series in a history (`benchlab.results.history.load_history`).

    Uses the ``ok`` rows' ``latency_ms_median``, ordered by ``run_order``; one result per
    (model, variant, device_id, accelerator), sorted by those, including series with no change or
    too few runs (see `SeriesChanges.status`). An empty history gives an empty list.
    """
    if history.empty or "latency_ms_median" not in history.columns:
        return []
    latency = history["latency_ms_median"].astype(float)
    # A median of zero is a broken timer, not a latency, and has no logarithm.
    ok = history[(history["status"] == "ok") & (latency > 0)]
    results = []
    for key, rows in ok.groupby(list(SERIES), sort=True):
        # One value per run: a run holds each job once, the median guards against a duplicate record.
        per_run = (rows.groupby(["run_order", "run_id"], sort=True)["latency_ms_median"].median()
                   .reset_index())
        results.append(_series_changes(tuple(str(k) for k in key), per_run))  # type: ignore[arg-type]
    return results


def changes_frame(results: Sequence[SeriesChanges]) -> pd.DataFrame:
    """Return change points as a tidy DataFrame (CHANGE_COLUMNS): one row per change point, and one
    row with empty change columns for each series without one, so its status is not lost."""
    import pandas as pd

    rows = []
    for series in results:
        ident = {"model": series.model, "variant": series.variant, "device_id": series.device_id,
                 "accelerator": series.accelerator, "runs": series.runs, "noise_pct": series.noise_pct,
                 "status": series.status}
        if not series.changes:
            rows.append(ident)
        for change in series.changes:
            rows.append({**ident, "status": "change", "run_id": change.run_id, "run_order": change.run_order,
                         "before_ms": change.before_ms, "after_ms": change.after_ms,
                         "change_pct": change.change_pct, "runs_before": change.runs_before,
                         "runs_after": change.runs_after})
    return pd.DataFrame(rows, columns=list(CHANGE_COLUMNS))
