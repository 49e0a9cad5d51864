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
3. **Segmentation.** The PELT search (Killick et al. 2012; exact for a penalised cost, here
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
   ruptures' Pelt(model="l1") computes it in pure Python, about 1.5 s for a series of 365 nightly
   runs on this project's shared 2-core VM: half an hour a night for a farm's 1,200 series. The
   search runs in benchlab.results.pelt instead, every setup segment of every series at once, with
   the same breakpoints as ruptures' (tests/test_pelt.py, tests/test_history_scale.py).
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

**Setup changes.** Latencies measured on another OS build or runner version are not comparable
(benchlab.results.history.SETUP_COLUMNS), so a series is first cut at every run where its setup
changed (`benchlab.results.history.setup_changes`, over the runs measured: a failed night in between
does not hide the change), and steps 1-4 run on each *setup segment* on its own, with its own noise
and its own log(n): a change point never spans a setup change, and a step an OS update made is not
the code's. The setup change is reported as such (`SetupChange`): its run, what changed and the
medians of the levels on either side (from the previous change point or setup change to the next),
so a user sees how much the update moved latency without it being judged as a regression. A setup
segment with fewer than MIN_RUNS runs is "too few runs" like a short series: no change point is
looked for in it, and its runs still give the level after (or before) the setup change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import pairwise
from typing import TYPE_CHECKING, TypeVar

from benchlab.results.history import SERIES, setup_changes

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: A segment (a level between two change points) spans at least this many runs.
MIN_SEGMENT_RUNS = 3
#: Fewer runs than this cannot hold a full segment on each side of a step: "too few runs".
MIN_RUNS = 2 * MIN_SEGMENT_RUNS
#: Penalty per change point, in units of the series' noise, per log(runs) (see the module docstring).
PENALTY_PER_LOG_RUN = 3.0
#: Smallest run-to-run noise (in log latency, ~0.5%) a series is assumed to have.
NOISE_FLOOR = 0.005
#: The columns of a history `find_changes` reads, besides the series and setup columns (load_history's `columns`).
SEARCHED_COLUMNS = ("run_order", "run_id", "status", "latency_ms_median")
#: Columns of `changes_frame`: per setup segment of a series (numbered from 0, with its runs and noise),
#: one row for the setup change that began it, then one row per change point, or one saying why
#: there is none.
CHANGE_COLUMNS = (*SERIES, "segment", "runs", "noise_pct", "status", "setup_change", "run_id", "run_order",
                  "before_ms", "after_ms", "change_pct", "runs_before", "runs_after")


@dataclass(frozen=True)
class Step:
    """A new level at a run: that run (the first on the new level) and the medians on either side."""

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
class ChangePoint(Step):
    """A step found within one setup: what was measured changed there, not what it ran on."""


@dataclass(frozen=True)
class SetupChange(Step):
    """A run where the series' setup changed; the step across it is the new setup's, never judged."""

    #: What changed, e.g. "os_version 14/UQ1A → 15/AP3A".
    what: str


@dataclass(frozen=True)
class Segment:
    """The runs of one series on one setup, searched for change points on their own."""

    runs: int
    #: Run-to-run noise (robust sigma of log latency) in percent; None with too few runs.
    noise_pct: float | None
    changes: tuple[ChangePoint, ...]
    #: The setup change this segment began with; None for the series' first segment.
    setup_change: SetupChange | None

    @property
    def enough_runs(self) -> bool:
        """Whether the segment was long enough to look for change points in at all."""
        return self.runs >= MIN_RUNS

    @property
    def status(self) -> str:
        """Return "too few runs (N < MIN_RUNS)", "no change" or "N change(s)"."""
        if not self.enough_runs:
            return f"too few runs ({self.runs} < {MIN_RUNS})"
        if not self.changes:
            return "no change"
        return f"{len(self.changes)} change" + ("s" if len(self.changes) > 1 else "")


@dataclass(frozen=True)
class SeriesChanges:
    """One series cut into setup segments, each with its change points or why there are none."""

    model: str
    variant: str
    device_id: str
    accelerator: str
    segments: tuple[Segment, ...]

    @property
    def changes(self) -> tuple[ChangePoint, ...]:
        """Return the change points of every segment, in run order (setup changes are not among them)."""
        return tuple(change for segment in self.segments for change in segment.changes)


AStep = TypeVar("AStep", bound=Step)


def _noise(log_latency: Sequence[float]) -> float:
    import numpy as np

    differences = np.abs(np.diff(np.asarray(log_latency, dtype=float)))
    # For normal noise, |x - y| of two independent draws has median 0.6745 * sqrt(2) * sigma.
    return max(float(np.median(differences)) / (0.6745 * math.sqrt(2.0)), NOISE_FLOOR)


def _signal(latency: Sequence[float]) -> tuple[float, np.ndarray]:
    """Return one setup segment's noise and the signal searched: log latency in units of that noise."""
    import numpy as np

    log_latency = np.log(latency)
    noise = _noise(log_latency)
    return noise, log_latency / noise


def _penalty(runs: int) -> float:
    return PENALTY_PER_LOG_RUN * math.log(runs)


def _breakpoints(signals: Sequence[np.ndarray]) -> list[list[int]]:
    """Return, per signal, the indices of the first run of each new level (PELT, l1 cost, noise-scaled
    penalty: benchlab.results.pelt, the same answer as ruptures' Pelt(model="l1", jump=1))."""
    from benchlab.results.pelt import breakpoints_of

    return [ends[:-1] for ends in breakpoints_of(signals, _penalty, MIN_SEGMENT_RUNS)]  # each ends with n


@dataclass(frozen=True)
class _SeriesRuns:
    """One series, one value per run, with what of its setup changed at each run."""

    key: tuple[str, str, str, str]
    run_ids: list[str]
    run_orders: list[int]
    latency: np.ndarray
    what: list[str]

    @property
    def cuts(self) -> list[int]:
        """The first run of each setup segment, then the number of runs."""
        # No cut before the first run: it has no previous run (only a duplicate record of it could differ).
        return [0, *(at for at, text in enumerate(self.what) if text and at), len(self.latency)]


def _series_changes(runs: _SeriesRuns, searched: dict[int, tuple[float, list[int]]]) -> SeriesChanges:
    """Report one series from its setup segments' noise and breakpoints (`searched`, by the segment's
    first run; a segment with too few runs to search is not in it)."""
    import numpy as np

    latency = runs.latency

    def step(kind: type[AStep], previous: int, at: int, following: int, **extra: str) -> AStep:
        return kind(run_id=runs.run_ids[at], run_order=runs.run_orders[at],
                    before_ms=float(np.median(latency[previous:at])), after_ms=float(np.median(latency[at:following])),
                    runs_before=at - previous, runs_after=following - at, **extra)

    segments = []
    level_start = 0  # first run of the level the previous segment ended on
    for start, end in pairwise(runs.cuts):
        noise, breaks = searched.get(start, (None, []))
        levels = [start, *(start + b for b in breaks), end]
        segments.append(Segment(
            runs=end - start, noise_pct=None if noise is None else noise * 100.0,
            changes=tuple(step(ChangePoint, *edges) for edges in zip(levels, levels[1:], levels[2:])),
            setup_change=step(SetupChange, level_start, start, levels[1], what=runs.what[start]) if start else None,
        ))
        level_start = levels[-2]
    return SeriesChanges(*runs.key, segments=tuple(segments))


def find_changes(history: pd.DataFrame) -> list[SeriesChanges]:
    """Return the change points of every series in a history (`benchlab.results.history.load_history`).

    Uses the ``ok`` rows' ``latency_ms_median``, ordered by ``run_order``; one result per
    (model, variant, device_id, accelerator), sorted by those, cut into one segment per setup
    (os_version, runner, runner_version), each searched on its own and holding its change points,
    or none with "no change" or "too few runs" (see `Segment.status`). An empty history gives an
    empty list.
    """
    if history.empty or "latency_ms_median" not in history.columns:
        return []
    latency = history["latency_ms_median"].astype(float)
    # A median of zero is a broken timer, not a latency, and has no logarithm.
    ok = history[(history["status"] == "ok") & (latency > 0)]
    # Setup against the previous run measured: a failed run between holds the change load_history marked.
    ok = ok.assign(setup_change=setup_changes(ok))
    # One value per series and run, in one grouping of the whole history (a run holds each job once;
    # the median guards against a duplicate record), sorted by series, then run.
    keys = [*SERIES, "run_order", "run_id"]
    per_run = ok.groupby(keys, sort=True)["latency_ms_median"].median()
    changed = ok[ok["setup_change"] != ""]
    what = [""] * len(per_run)
    if not changed.empty:
        texts = changed.groupby(keys, sort=True)["setup_change"].agg(lambda found: "; ".join(sorted(set(found))))
        what = texts.reindex(per_run.index, fill_value="").tolist()
    key_frame = per_run.index.to_frame(index=False)
    values = per_run.to_numpy(dtype=float)
    run_ids, run_orders = key_frame["run_id"].astype(str).tolist(), key_frame["run_order"].astype(int).tolist()
    series_keys = list(zip(*(key_frame[column].astype(str).tolist() for column in SERIES)))  # lists: not element by element
    starts = [at for at in range(len(series_keys)) if at == 0 or series_keys[at] != series_keys[at - 1]]
    series = [_SeriesRuns(series_keys[start], run_ids[start:end], run_orders[start:end], values[start:end],
                          what[start:end])  # type: ignore[arg-type]
              for start, end in zip(starts, [*starts[1:], len(series_keys)])]
    # Every setup segment long enough is searched; all series' segments at once (benchlab.results.pelt).
    segments = [(number, start, runs.latency[start:end]) for number, runs in enumerate(series)
                for start, end in pairwise(runs.cuts) if end - start >= MIN_RUNS]
    signals = [_signal(part) for _, _, part in segments]
    searched: list[dict[int, tuple[float, list[int]]]] = [{} for _ in series]
    for (number, start, _), (noise, _), found in zip(segments, signals, _breakpoints([s for _, s in signals])):
        searched[number][start] = (noise, found)
    return [_series_changes(runs, found) for runs, found in zip(series, searched)]


def _step_columns(step: Step) -> dict[str, object]:
    return {**{field.name: getattr(step, field.name) for field in fields(Step)}, "change_pct": step.change_pct}


def changes_frame(results: Sequence[SeriesChanges]) -> pd.DataFrame:
    """Return change points and setup changes as a tidy DataFrame (CHANGE_COLUMNS), series by series in
    run order: per setup segment, a "setup change" row for the change it began with, then one
    "change" row per change point, or one row with empty step columns and the segment's status
    ("no change", "too few runs (N < 6)"), so that status is not lost."""
    import pandas as pd

    rows = []
    for series in results:
        for index, segment in enumerate(series.segments):
            ident = {"model": series.model, "variant": series.variant, "device_id": series.device_id,
                     "accelerator": series.accelerator, "segment": index, "runs": segment.runs,
                     "noise_pct": segment.noise_pct, "status": segment.status}
            if segment.setup_change is not None:
                rows.append({**ident, **_step_columns(segment.setup_change), "status": "setup change",
                             "setup_change": segment.setup_change.what})
            if not segment.changes:
                rows.append(ident)
            rows.extend({**ident, **_step_columns(change), "status": "change"} for change in segment.changes)
    return pd.DataFrame(rows, columns=list(CHANGE_COLUMNS))
