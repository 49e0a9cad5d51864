"""How one metric changed between a baseline and a candidate measurement, and whether it counts.

Every metric of the registry (benchlab.metrics) compares with one of the three rules below: a metric
a runner reports once per repeat (latency, init, first inference, peak memory, energy, tokens/s) with
the repeat-level test, a single number per measurement (size) against a relative threshold, accuracy
against a threshold in points.

Per-repeat metrics (latency): at the repeat level, against the noise floor
--------------------------------------------------------------------------
The unit is the repeat (one runner process; benchlab.metrics.stats explains why): each measurement
contributes one latency per repeat (the median of its iterations, or the runner's per-run median
where it prints no iterations). Latencies are compared on a log scale, so a change is a ratio
("12% slower") whatever the model's speed.

* Estimate: the Hodges-Lehmann estimator, the median of all n*m pairwise differences
  log(candidate_j) - log(baseline_i) of repeat latencies; exp() of it is the typical
  candidate/baseline ratio, reported as a change in percent.
* 95% confidence interval: distribution-free, from the null distribution of the Mann-Whitney U
  statistic (Lehmann, *Nonparametrics*, 1975, ch. 2; Bauer, JASA 1972): with
  C = floor(n*m/2 - z_0.975 * sqrt(n*m*(n+m+1)/12)), the C-th smallest and C-th largest pairwise
  differences bound the shift.
* Test: the two-sided Mann-Whitney test on the repeat latencies, scipy's p-value (exact for small
  samples), asked once per pattern of ranks (benchlab.metrics.stats.mann_whitney_p).
* Noise floor (benchlab.nightly.noise): two runs of an unchanged variant on one device differ by more than
  their repeats suggest (a slow episode of a shared machine, a different boot, another
  co-tenant). From the history of the results root, the spread of changes between consecutive
  runs whose variant file did not change gives the row's run-to-run noise floor (95% of unchanged
  pairs change less); `benchlab calibrate` measures it before the first night. Until a row has
  that history the floor is provisional, from the two runs' own repeats: z_0.975 * sqrt(2) * the
  pooled between-repeat sd, the spread of the difference between one repeat of each run. Whole
  runs shift by about that much here (12 real A/A runs of benchmarks/validity.py: every false
  alarm of the repeat-level test came from pairs that had no history floor yet, with runs 9-19%
  apart at a between-repeat sd of 5-9%), so a shift no larger than one process differs from
  another is not called before history says more.
* Minimum detectable change: the change called with 80% power, the larger of what the repeats
  can resolve (benchlab.metrics.stats.minimum_detectable_change from the pooled between-repeat
  spread and the repeat counts) and what lands beyond the noise floor (1.43 times the floor on the
  log scale, benchlab.metrics.stats.detectable_beyond_floor: a change at the floor itself is
  called half the time). Every compared row states it, so "not significant" says how large a
  change would have been seen.
* Decision: with fewer than `min_repeats` (5) repeats on a side the row is "not significant (too
  few repeats)", never a regression and never silence. A change is *significant* when p < alpha
  AND the interval excludes zero. A significant change beyond max(threshold, noise floor) is a
  "regression" (or "improved" below minus that); a significant change within the threshold is
  "within threshold"; one beyond the threshold but within the noise floor, or one that is not
  significant, is "not significant" with the row's minimum detectable change (or "within ±x%
  noise of this device" when it was significant but inside the floor), so noise is never
  reported as a regression or a win.
* Relative to the controls: the other rows of the same device · accelerator whose variant files
  did not change (benchlab.nightly.controls) moved only because the machine did, so their
  median shift is the machine's. A regression (or improvement) must also be one after that
  shift is taken out of the candidate (the same test on the shifted values, against the lower of
  the row's floor and its repeats' floor: the shift took out what a history floor covers beyond
  the repeats); a row
  that only moved with the others is "not significant (moved with its device: +33% alone, +2%
  relative to the 7 other rows ...)".
* Relative floor: once history holds at least three unchanged changes of the row relative to its
  controls (benchlab.nightly.noise.relative_noise_floors), a row with controls is judged by its
  relative change alone, against that floor: it moves far less than the row alone on a shared
  machine, and a change relative to rows that did not change is what a model can be blamed for.
  The change alone is reported beside it.
* Provisional: a floor from the runs' own repeats does not see what moves a whole run (a 2-core
  shared machine: runs 10-47% apart with repeats 5-9% apart), so until history or a calibration
  gives the row a floor, a regression or improvement within UNCALIBRATED_FLOOR_PCT is
  "regression (provisional)" / "improved (provisional)": reported with what would settle it
  (`benchlab calibrate`, or N more nights), never failing the check (Pinpoint's "need more
  attempts"). A change beyond it is larger than any run-to-run spread measured here and fails.

Size and accuracy
-----------------
Each is one number per measurement, so there is no test: size in bytes (deterministic for one
recipe and model) and accuracy in percent on the evaluation set (deterministic for one model and
one set) are compared with their thresholds: size +1%, accuracy -0.5 points by default. Accuracy is only compared when both runs
evaluated the same inputs (same stored evaluation inputs and labels, else the same dataset spec).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchlab.metrics.stats import (Z_95, detectable_beyond_floor, hodges_lehmann, log_sd, mann_whitney_p,
                                    minimum_detectable_change)

# Status of a metric and of a comparison row.
REGRESSION = "regression"
IMPROVED = "improved"
WITHIN_THRESHOLD = "within threshold"
UNCHANGED = "unchanged"
NOT_SIGNIFICANT = "not significant"
TOO_FEW_SAMPLES = "not significant (too few repeats)"
NOT_COMPARABLE = "not comparable"
NOT_MEASURED = "not measured"
FAILED = "failed"
MISSING = "missing in candidate"
NEW = "new in candidate"
#: A regression or improvement beyond the runs' own repeats but with no run-to-run floor yet: never fails.
PROVISIONAL_REGRESSION = "regression (provisional)"
PROVISIONAL_IMPROVED = "improved (provisional)"
#: Without a history or calibration floor, a change beyond this is beyond any plausible run-to-run
#: spread and is judged as usual: z_0.975 * 0.3, the largest between-run sd of log latency measured
#: on this project's machines (2 threads on the shared 2-core VM, benchlab.nightly.noise), is ±80%.
UNCALIBRATED_FLOOR_PCT = 80.0
#: Row statuses for which no test ran: reported, but neither a pass nor a failure.
SKIPPED_STATUSES = frozenset({NOT_COMPARABLE, NOT_MEASURED, MISSING})

#: How a per-repeat metric is compared, filled with the metric's name.
REPEAT_METHOD = "Hodges-Lehmann shift of per-repeat log {metric}; 95% CI from the Mann-Whitney U distribution"


@dataclass(frozen=True)
class MetricChange:
    """How one metric changed from baseline to candidate.

    `change` is in percent of the baseline for latency, size and memory, and in percentage
    points for accuracy (`change_unit` says which). The confidence interval, p-value and sample
    counts are only set for a metric compared at the repeat level.
    """

    metric: str
    unit: str
    baseline: float | None
    candidate: float | None
    change: float | None
    change_unit: str
    threshold: float
    status: str
    reason: str = ""
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    n_baseline: int | None = None
    n_candidate: int | None = None
    method: str | None = None
    #: What one compared value is ("repeat medians": one per runner process).
    sample_kind: str | None = None
    #: Run-to-run noise of this row from history (percent), and the minimum detectable change.
    noise_floor_pct: float | None = None
    mdc_pct: float | None = None
    #: Where the noise floor comes from: "history" (earlier runs, calibration) or "repeats" (provisional).
    noise_floor_source: str | None = None
    #: The change with the machine's shift (the controls' median shift) taken out, and how many controls.
    relative_change_pct: float | None = None
    controls: int | None = None
    #: Whether this metric's status may fail the check (the registry's `Metric.gates`).
    gates: bool = True


def _pct(log_ratio: float | None) -> float | None:
    return None if log_ratio is None else 100.0 * math.expm1(log_ratio)


@dataclass(frozen=True)
class ChangeContext:
    """What comparing one metric of one row needs besides the two measurements.

    Built by benchlab.nightly.compare from the suite's thresholds (benchlab.plan.suite.RegressionSpec)
    and what it knows about the row, so a metric never reads the suite itself.
    """

    #: The metric's threshold: percent of the baseline, or percentage points for accuracy.
    threshold: float
    #: Significance level of the repeat-level test, and the fewest repeats it needs on a side.
    alpha: float = 0.05
    min_repeats: int = 5
    #: The row's run-to-run noise floor in percent from history; None: provisional, from the repeats.
    noise_floor_pct: float | None = None
    #: Why the two runs' evaluation sets differ (accuracy is then not comparable), None when they do not.
    eval_set_difference: str | None = None
    #: The median log shift of the other rows of this device · accelerator whose files did not change
    #: (benchlab.nightly.controls), and how many there are; None: no controls.
    control_shift_log: float | None = None
    controls: int = 0
    #: The row's run-to-run noise floor in percent relative to those controls, from history
    #: (benchlab.nightly.noise.relative_noise_floors); with controls, the row is judged against it.
    relative_floor_pct: float | None = None
    #: How many more unchanged nights would give the row a floor of its own (for a provisional verdict).
    nights_to_floor: int | None = None


def repeat_change(metric: str, unit: str, baseline: Sequence[float], candidate: Sequence[float], context: ChangeContext,
                  scale: float = 1.0, sample_kind: str = "repeat values", gates: bool = True) -> MetricChange:
    """Compare two sets of per-repeat values (one per runner process) of a metric where lower is better.

    `scale` turns a value into `unit` for the medians shown (1e-3: µs to ms). Returns a MetricChange
    with the medians, the change and its 95% CI in percent, the Mann-Whitney U p-value, the noise
    floor and minimum detectable change, and one of: regression, improved, within threshold, not
    significant, not significant (too few repeats), regression / improved (provisional), not
    measured (no or non-positive values). See the module docstring for the controls and the
    provisional rule.
    """
    base = np.asarray(baseline, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    n, m = len(base), len(cand)
    common = {"metric": metric, "unit": unit, "change_unit": "%", "threshold": context.threshold, "gates": gates,
              "n_baseline": n, "n_candidate": m, "method": REPEAT_METHOD.format(metric=metric), "sample_kind": sample_kind,
              "baseline": float(np.median(base)) * scale if n else None,
              "candidate": float(np.median(cand)) * scale if m else None}
    if n == 0 or m == 0 or (base <= 0).any() or (cand <= 0).any():
        return MetricChange(**common, change=None, status=NOT_MEASURED,
                            reason="no samples" if not (n and m) else f"non-positive {metric} values")
    change, low, high, p_value = _shift(np.log(base), np.log(cand))
    pooled_sd = _pooled_log_sd(base, cand)
    sampling = minimum_detectable_change(pooled_sd, n, m, alpha=context.alpha)
    repeats_floor = 100.0 * math.expm1(Z_95 * math.sqrt(2.0) * pooled_sd) if pooled_sd is not None else None
    noise_floor_pct, source = context.noise_floor_pct, "history"
    if noise_floor_pct is None and repeats_floor is not None:
        noise_floor_pct, source = repeats_floor, "repeats"
    # What the repeats resolve, and what lands beyond the floor, each with the same 80% power: a
    # change just beyond the floor alone is called only half the time (benchlab.metrics.stats).
    mdc = max((x for x in (sampling, detectable_beyond_floor(noise_floor_pct)) if x is not None), default=None)
    numbers = {**common, "change": change, "ci_low": low, "ci_high": high, "p_value": p_value, "mdc_pct": mdc,
               "noise_floor_pct": noise_floor_pct, "noise_floor_source": source if noise_floor_pct is not None else None}
    noise = f"minimum detectable change ±{mdc:.1f}%" if mdc is not None else "noise of this device unknown"
    if min(n, m) < context.min_repeats:
        return MetricChange(**numbers, status=TOO_FEW_SAMPLES,
                            reason=f"{min(n, m)} repeat(s) on a side, at least {context.min_repeats} needed: "
                                   "raise scenario.repeats")
    if context.control_shift_log is not None and context.relative_floor_pct is not None:
        return _relative_verdict(numbers, np.log(base), np.log(cand), context, sampling)
    verdict = _decide(change, low, high, p_value, context, noise_floor_pct)
    if verdict == NOT_SIGNIFICANT:
        return MetricChange(**numbers, status=NOT_SIGNIFICANT, reason=noise)
    if verdict == WITHIN_NOISE:
        how = ("run-to-run noise of this device" if source == "history" else
               "noise of this device's repeats (no run history yet: `benchlab calibrate` measures it)")
        return MetricChange(**numbers, status=NOT_SIGNIFICANT, reason=f"within ±{noise_floor_pct:.1f}% {how}")
    if verdict in (REGRESSION, IMPROVED) and context.control_shift_log is not None:
        relative = _shift(np.log(base), np.log(cand) - context.control_shift_log)
        numbers.update(relative_change_pct=relative[0], controls=context.controls)
        # The controls took out what moved the whole run, which is most of what a history floor
        # covers, so the relative change is held to the floor of the repeats where that is lower
        # (the alone test above has held the row to the full floor already).
        if _decide(*relative, context, min((f for f in (noise_floor_pct, repeats_floor) if f is not None),
                                            default=None)) != verdict:
            return MetricChange(**numbers, status=NOT_SIGNIFICANT, reason=(
                f"moved with its device: {change:+.1f}% alone, {relative[0]:+.1f}% relative to the "
                f"{context.controls} other row(s) of this device · accelerator whose files did not change"))
    if verdict in (REGRESSION, IMPROVED) and source == "repeats" and abs(change) <= UNCALIBRATED_FLOOR_PCT:
        nights = f"{context.nights_to_floor} more night(s)" if context.nights_to_floor else "more nights"
        return MetricChange(**numbers, status=PROVISIONAL_REGRESSION if verdict == REGRESSION else PROVISIONAL_IMPROVED,
                            reason=f"beyond ±{noise_floor_pct:.1f}% of the runs' own repeats, which do not see what "
                                   f"moves a whole run; `benchlab calibrate SUITE` or {nights} of history settles it")
    return MetricChange(**numbers, status=verdict)


def _relative_verdict(numbers: dict, base_log: np.ndarray, cand_log: np.ndarray, context: ChangeContext,
                      sampling: float | None) -> MetricChange:
    """Judge a row by its change relative to its controls against its relative floor from history.

    The machine's shift is the controls' (context.control_shift_log); the floor is how much the
    row moved against the other rows between earlier unchanged runs, so what moved a whole run
    counts in neither, and the row's change alone is reported beside it but decides nothing.
    """
    floor = context.relative_floor_pct
    relative = _shift(base_log, cand_log - context.control_shift_log)
    mdc = max((x for x in (sampling, detectable_beyond_floor(floor)) if x is not None), default=None)
    numbers = {**numbers, "relative_change_pct": relative[0], "controls": context.controls, "mdc_pct": mdc,
               "noise_floor_pct": floor, "noise_floor_source": "history, relative to the other rows"}
    against = (f"relative to the {context.controls} other row(s) of this device · accelerator whose files did not "
               f"change ({numbers['change']:+.1f}% alone, {relative[0]:+.1f}% relative)")
    verdict = _decide(*relative, context, floor)
    if verdict == NOT_SIGNIFICANT:
        return MetricChange(**numbers, status=NOT_SIGNIFICANT, reason=f"minimum detectable change ±{mdc:.1f}% {against}")
    if verdict == WITHIN_NOISE:
        return MetricChange(**numbers, status=NOT_SIGNIFICANT,
                            reason=f"within ±{floor:.1f}% run-to-run noise of this row {against}")
    return MetricChange(**numbers, status=verdict, reason=against)


#: _decide's verdict for a significant change beyond the threshold but within the noise floor.
WITHIN_NOISE = "within noise"


def _shift(base_log: np.ndarray, cand_log: np.ndarray) -> tuple[float, float | None, float | None, float]:
    """Return the Hodges-Lehmann shift of log values in percent, its 95% CI bounds and the Mann-Whitney p-value."""
    estimate, ci_low, ci_high = hodges_lehmann(base_log, cand_log)
    p_value = mann_whitney_p(cand_log, base_log)
    return _pct(estimate), _pct(ci_low), _pct(ci_high), p_value  # type: ignore[return-value]


def _decide(change: float, low: float | None, high: float | None, p_value: float, context: ChangeContext,
            noise_floor_pct: float | None) -> str:
    """Return a shift's verdict: not significant, within noise, or against_threshold's."""
    excludes_zero = low is not None and high is not None and (low > 0 or high < 0)
    if not (p_value < context.alpha and excludes_zero):
        return NOT_SIGNIFICANT
    verdict = against_threshold(change, context.threshold)
    if verdict in (REGRESSION, IMPROVED) and noise_floor_pct is not None and abs(change) <= noise_floor_pct:
        return WITHIN_NOISE
    return verdict


def _pooled_log_sd(base: np.ndarray, cand: np.ndarray) -> float | None:
    """Return the pooled between-repeat standard deviation of the log values of two runs."""
    parts = [(len(x) - 1, log_sd(x.tolist())) for x in (base, cand) if len(x) > 1]
    dof = sum(d for d, _ in parts)
    if not dof:
        return None
    return math.sqrt(sum(d * sd * sd for d, sd in parts if sd is not None) / dof)


def against_threshold(change: float, threshold: float, higher_is_worse: bool = True) -> str:
    """Return the status of a change against its threshold: regression, improved, within threshold, unchanged."""
    worse = change if higher_is_worse else -change
    if change == 0:
        return UNCHANGED
    if worse > threshold:
        return REGRESSION
    if worse < -threshold:
        return IMPROVED
    return WITHIN_THRESHOLD


def relative_change(metric: str, unit: str, baseline: float | None, candidate: float | None,
                    threshold: float) -> MetricChange | None:
    """Return the change in percent of one number per measurement (lower is better) against `threshold`.

    None when either side has no value; "not measured" when the baseline is not positive.
    """
    if baseline is None or candidate is None:
        return None
    if baseline <= 0:
        return MetricChange(metric=metric, unit=unit, baseline=baseline, candidate=candidate, change=None,
                            change_unit="%", threshold=threshold, status=NOT_MEASURED,
                            reason="baseline value is not positive")
    change = 100.0 * (candidate / baseline - 1.0)
    return MetricChange(metric=metric, unit=unit, baseline=float(baseline), candidate=float(candidate),
                        change=change, change_unit="%", threshold=threshold,
                        status=against_threshold(change, threshold))
