"""Compare a baseline run with a candidate run: what changed, and is the change real?

One `Comparison` per (model, variant, device_id, accelerator) found in either run. A night is
judged against a baseline night measurement by measurement, and the verdict is 1 (a regression
check failed) when any measurement regressed beyond its threshold, a candidate measurement failed
where the baseline's succeeded, or a candidate variant broke the accuracy budget; otherwise 0.

Latency: Hodges-Lehmann shift of log latencies
----------------------------------------------
Every measured iteration of both runs is used, not a summary (when the runner reports them; see
below). Latencies are compared on a log
scale, so a change is a ratio ("12% slower") whatever the model's speed, and the right-skewed tail
of phone latencies (a scheduler hiccup, a thermal step) weighs less.

* Estimate: the Hodges-Lehmann estimator, the median of all n*m pairwise differences
  log(candidate_j) - log(baseline_i). exp() of it is the typical candidate/baseline ratio; we report
  it as a change in percent. It is the shift estimator that goes with the rank test below, and
  unlike the difference of the two medians it uses every pair of samples.
* 95% confidence interval: distribution-free, from the null distribution of the Mann-Whitney U
  statistic (Lehmann, *Nonparametrics*, 1975, ch. 2; Bauer, JASA 1972): with
  C = floor(n*m/2 - z_0.975 * sqrt(n*m*(n+m+1)/12)), the C-th smallest and C-th largest pairwise
  differences bound the shift. It assumes only that both runs' samples have the same shape up to
  a shift of log latency, not normality. Ties (runners that print whole microseconds) make it
  slightly conservative. The order statistics are found without building the n*m differences
  (a counting bisection over sorted samples), so 20,000 samples per side take a fraction of a second.
* Test: scipy.stats.mannwhitneyu, two-sided, on the raw samples.
* Runners that print only per-run statistics (LiteRT's benchmark_model on a phone) give no
  per-iteration times; then each repeat's median (or mean) is one sample, as in
  benchlab.store.latency_summary, and the row says "repeat medians". Per-iteration samples are
  never compared with repeat medians.
* Decision: with fewer than `min_samples` (10) samples on a side the row is "not significant (too
  few samples)", never a regression and never silence. Otherwise a change is *significant* when
  p < alpha (0.05) AND the confidence interval excludes zero. A significant change beyond the
  threshold (+5% by default) is a "regression", below minus the threshold "improved", in between
  "within threshold"; a change that is not significant is "not significant", whatever its size,
  so noise is never reported as a regression or a win.

Why a threshold on top of the test: the test treats iterations as independent, but iterations of
one run share a process, a CPU frequency and a thermal state, and two runs of the same model a
night apart differ by a few percent for reasons that are not the model's. With thousands of
samples such a difference is "significant"; the threshold says how big a change has to be before
anyone is woken up. On synthetic samples drawn from one distribution fewer than 5% of comparisons
flag a regression, and a 10% slowdown is flagged in at least 95% of them (tests/test_compare.py).

Size, peak memory and accuracy
------------------------------
Each is one number per measurement, so there is no test: size in bytes (deterministic for one
recipe and model), peak memory in MB (the runner's high-water mark) and accuracy in percent on the
evaluation set (deterministic for one model and one set) are compared with their thresholds:
size +1%, memory +10%, accuracy -0.5 points by default. Accuracy is only compared when both runs
evaluated the same inputs (same stored evaluation inputs and labels, else the same dataset spec).

Comparability (pyperf refuses to compare what differs in checked metadata; so do we)
-------------------------------------------------------------------------------------
Two measurements are compared only when the device's OS build (os_version), the runner and its
version, the variant's recipe and recipe options, the variant format and the accelerator setting
are the same (the device id, model, variant and accelerator name are the key). Otherwise the row
is "not comparable: <field> differs (a vs b)". A different sha256 of the variant file is *not* a
reason to refuse: a nightly exists to catch what a new model does, so the row is compared and
notes "model changed".

Accuracy gate
-------------
Independent of the baseline: a candidate variant whose accuracy_delta against its fp32 reference
is below -budget_points (the suite's `accuracy.budget_points`) fails the gate; for unlabelled data
its top-1 agreement with the reference must be at least 100 - budget_points percent.

Thresholds come from the candidate run's suite (`regression:` section of the suite file) when it
has one, else the `Thresholds` defaults; `compare_runs(overrides=...)` (``--threshold``) wins.

Row statuses
------------
regression, improved, within threshold, unchanged, not significant, not significant (too few
samples): compared. failed: the candidate failed where the baseline succeeded (fails the check).
not comparable: <why>; not measured (the candidate is not ok without newly failing, e.g. both
unsupported, or there are no latencies); missing in candidate; new in candidate (also when the
baseline was not ok): reported, never a pass or a failure of their own. Any row may also carry an
accuracy-gate failure.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchlab.errors import EXIT_GATE_FAILED, EXIT_OK, StoreError
from benchlab.names import file_name
from benchlab.records import Measurement
from benchlab.store import RunStore, read_run_meta

CONFIDENCE = 0.95
LATENCY_METHOD = "Hodges-Lehmann shift of log latency; 95% CI from the Mann-Whitney U distribution"

# Status of a metric and of a comparison row.
REGRESSION = "regression"
IMPROVED = "improved"
WITHIN_THRESHOLD = "within threshold"
UNCHANGED = "unchanged"
NOT_SIGNIFICANT = "not significant"
TOO_FEW_SAMPLES = "not significant (too few samples)"
NOT_COMPARABLE = "not comparable"
NOT_MEASURED = "not measured"
FAILED = "failed"
MISSING = "missing in candidate"
NEW = "new in candidate"
#: Row statuses for which no test ran: reported, but neither a pass nor a failure.
SKIPPED_STATUSES = frozenset({NOT_COMPARABLE, NOT_MEASURED, MISSING})


@dataclass(frozen=True)
class Thresholds:
    """How big a change must be to count as a regression (or an improvement).

    Percentages are of the baseline's value; accuracy is in percentage points.
    """

    latency_pct: float = 5.0
    size_pct: float = 1.0
    memory_pct: float = 10.0
    accuracy_points: float = 0.5
    alpha: float = 0.05
    min_samples: int = 10

    @classmethod
    def from_suite(cls, suite: dict[str, Any] | None) -> Thresholds:
        """Return the thresholds of a stored suite's `regression` section, defaults for missing fields."""
        section = (suite or {}).get("regression") or {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in section.items() if k in known and v is not None})

    @classmethod
    def parse_override(cls, text: str) -> tuple[str, float]:
        """Parse "NAME=VALUE" (e.g. "latency_pct=20"); raise ValueError naming the allowed names."""
        name, sep, value = text.partition("=")
        defaults = {f.name: f.default for f in fields(cls)}
        if not sep or name.strip() not in defaults:
            allowed = ", ".join(f"{k} (default {v})" for k, v in defaults.items())
            raise ValueError(f"{text!r} is not NAME=VALUE with NAME one of: {allowed}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{text!r}: {value!r} is not a number") from None
        if number < 0 or math.isnan(number):
            raise ValueError(f"{text!r}: a threshold cannot be negative")
        name = name.strip()
        return name, int(number) if isinstance(defaults[name], int) else number


@dataclass(frozen=True)
class MetricChange:
    """How one metric changed from baseline to candidate.

    `change` is in percent of the baseline for latency, size and memory, and in percentage
    points for accuracy (`change_unit` says which). The confidence interval, p-value and sample
    counts are only set for latency.
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
    #: "samples" (every measured iteration) or "repeat medians" (the runner's per-run statistics).
    sample_kind: str | None = None


@dataclass(frozen=True)
class Comparison:
    """One (model, variant, device, accelerator) in the baseline and the candidate run."""

    model: str
    variant: str
    device_id: str
    accelerator: str
    status: str
    reason: str = ""
    latency: MetricChange | None = None
    size: MetricChange | None = None
    memory: MetricChange | None = None
    accuracy: MetricChange | None = None
    model_changed: bool = False
    accuracy_gate: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Return a readable one-line name: model/variant on device · accelerator."""
        return f"{self.model}/{self.variant} on {self.device_id} · {self.accelerator}"

    @property
    def label(self) -> str:
        """Return the status with its reason, e.g. "not comparable: os_version differs (14 vs 15)"."""
        return f"{self.status}: {self.reason}" if self.reason else self.status

    @property
    def metrics(self) -> tuple[MetricChange, ...]:
        """Return the metrics that were compared, latency first."""
        return tuple(m for m in (self.latency, self.size, self.memory, self.accuracy) if m is not None)

    @property
    def failed(self) -> bool:
        """Whether this row fails the check: a regression, a new failure or a broken accuracy budget."""
        return self.status in (REGRESSION, FAILED) or self.accuracy_gate is not None


@dataclass(frozen=True)
class CompareResult:
    """Every comparison of a candidate run against a baseline run, and the verdict."""

    baseline_run: str
    candidate_run: str
    baseline_dir: Path
    candidate_dir: Path
    thresholds: Thresholds
    budget_points: float | None
    comparisons: tuple[Comparison, ...]
    notes: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[Comparison, ...]:
        """Return the rows that fail the check."""
        return tuple(c for c in self.comparisons if c.failed)

    @property
    def verdict(self) -> int:
        """Return the exit code: 1 when any row fails the check, else 0."""
        return EXIT_GATE_FAILED if self.failures else EXIT_OK

    def counts(self) -> dict[str, int]:
        """Return how many rows have each status (accuracy-gate failures counted separately)."""
        counts: dict[str, int] = {}
        for c in self.comparisons:
            counts[c.status] = counts.get(c.status, 0) + 1
        gate = sum(c.accuracy_gate is not None for c in self.comparisons)
        if gate:
            counts["accuracy gate failed"] = gate
        return counts

    @property
    def verdict_text(self) -> str:
        """Return a one-line verdict, e.g. "FAIL: 1 regression, 1 accuracy gate failed (of 6)"."""
        counts = self.counts()
        failing = [(REGRESSION, "regression", "regressions"), (FAILED, "failed", "failed"),
                   ("accuracy gate failed", "accuracy gate failed", "accuracy gate failed")]
        parts = [f"{counts[key]} {one if counts[key] == 1 else many}" for key, one, many in failing if counts.get(key)]
        compared = sum(c.latency is not None for c in self.comparisons)
        if parts:
            return f"FAIL: {', '.join(parts)} ({len(self.comparisons)} rows, {compared} latencies compared)"
        others = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return f"OK: no regression ({others})"


# ---------------------------------------------------------------------------------------------
# Statistics


def _count_at_most(x: np.ndarray, y: np.ndarray, d: float) -> int:
    """Return #{(i, j): y[j] - x[i] <= d} for sorted x."""
    return int((len(x) - np.searchsorted(x, y - d, side="left")).sum())


def kth_pairwise_difference(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Return the k-th smallest (1-based) of the len(x)*len(y) differences y[j] - x[i].

    `x` and `y` must be sorted. Bisection on the value with an O(m log n) count per step, then
    snapped to the actual difference, so no n*m array is ever built.
    """
    lo, hi = float(y[0] - x[-1]), float(y[-1] - x[0])
    if _count_at_most(x, y, lo) >= k:
        return lo
    # Invariant: count(lo) < k <= count(hi).
    tolerance = 1e-12 * max(1.0, abs(lo), abs(hi))
    for _ in range(200):
        if hi - lo <= tolerance:
            break
        mid = (lo + hi) / 2.0
        if _count_at_most(x, y, mid) >= k:
            hi = mid
        else:
            lo = mid
    # The answer is the smallest actual difference above lo (differences closer than the
    # tolerance are one value up to rounding).
    index = np.searchsorted(x, y - lo, side="left") - 1
    valid = index >= 0
    above = y[valid] - x[index[valid]]
    above = above[above > lo]
    return float(above.min()) if above.size else hi


def hodges_lehmann(baseline: Sequence[float], candidate: Sequence[float],
                   confidence: float = CONFIDENCE) -> tuple[float, float | None, float | None]:
    """Return the Hodges-Lehmann shift candidate - baseline and its distribution-free CI.

    The CI bounds are None when the samples are too few for an interval at this confidence.
    """
    from scipy.stats import norm

    x = np.sort(np.asarray(baseline, dtype=np.float64))
    y = np.sort(np.asarray(candidate, dtype=np.float64))
    n, m = len(x), len(y)
    total = n * m
    if total % 2:
        estimate = kth_pairwise_difference(x, y, (total + 1) // 2)
    else:
        estimate = (kth_pairwise_difference(x, y, total // 2) + kth_pairwise_difference(x, y, total // 2 + 1)) / 2
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    cut = math.floor(total / 2 - z * math.sqrt(total * (n + m + 1) / 12.0))
    if cut < 1:
        return estimate, None, None
    return estimate, kth_pairwise_difference(x, y, cut), kth_pairwise_difference(x, y, total - cut + 1)


def _pct(log_ratio: float | None) -> float | None:
    return None if log_ratio is None else 100.0 * math.expm1(log_ratio)


SAMPLES = "samples"
REPEAT_MEDIANS = "repeat medians"


def latency_samples(m: Measurement) -> tuple[list[float], str]:
    """Return the latencies (µs) to compare and their kind: every measured iteration ("samples"),
    or, for a runner that reports only per-run statistics, each repeat's median or mean."""
    if m.all_samples_us:
        return list(m.all_samples_us), SAMPLES
    per_repeat = [s.get("median_us") or s.get("avg_us") for s in m.runner_stats]
    return [float(v) for v in per_repeat if v is not None], REPEAT_MEDIANS


def latency_change(baseline_us: Sequence[float], candidate_us: Sequence[float],
                   thresholds: Thresholds = Thresholds(), sample_kind: str = SAMPLES) -> MetricChange:
    """Compare two sets of latencies (microseconds); see the module docstring.

    Returns a MetricChange with medians in ms, the change and its 95% CI in percent, the
    Mann-Whitney U p-value and one of: regression, improved, within threshold, not significant,
    not significant (too few samples).
    """
    from scipy.stats import mannwhitneyu

    base = np.asarray(baseline_us, dtype=np.float64)
    cand = np.asarray(candidate_us, dtype=np.float64)
    n, m = len(base), len(cand)
    common = {"metric": "latency", "unit": "ms", "change_unit": "%", "threshold": thresholds.latency_pct,
              "n_baseline": n, "n_candidate": m, "method": LATENCY_METHOD, "sample_kind": sample_kind,
              "baseline": float(np.median(base)) / 1000.0 if n else None,
              "candidate": float(np.median(cand)) / 1000.0 if m else None}
    if n == 0 or m == 0 or (base <= 0).any() or (cand <= 0).any():
        return MetricChange(**common, change=None, status=NOT_MEASURED,
                            reason="no samples" if not (n and m) else "non-positive latencies")
    estimate, ci_low, ci_high = hodges_lehmann(np.log(base), np.log(cand))
    change, low, high = _pct(estimate), _pct(ci_low), _pct(ci_high)
    p_value = float(mannwhitneyu(cand, base, alternative="two-sided").pvalue)
    numbers = {**common, "change": change, "ci_low": low, "ci_high": high, "p_value": p_value}
    if min(n, m) < thresholds.min_samples:
        hint = (" (the runner reports only per-run statistics: raise scenario.repeats)"
                if sample_kind == REPEAT_MEDIANS else "")
        return MetricChange(**numbers, status=TOO_FEW_SAMPLES,
                            reason=f"{min(n, m)} {sample_kind} on a side, at least {thresholds.min_samples} "
                                   f"needed{hint}")
    excludes_zero = low is not None and high is not None and (low > 0 or high < 0)
    if not (p_value < thresholds.alpha and excludes_zero):
        return MetricChange(**numbers, status=NOT_SIGNIFICANT)
    return MetricChange(**numbers, status=_against_threshold(change, thresholds.latency_pct))


def _against_threshold(change: float, threshold: float, higher_is_worse: bool = True) -> str:
    worse = change if higher_is_worse else -change
    if change == 0:
        return UNCHANGED
    if worse > threshold:
        return REGRESSION
    if worse < -threshold:
        return IMPROVED
    return WITHIN_THRESHOLD


def _relative_change(metric: str, unit: str, baseline: float | None, candidate: float | None,
                     threshold: float) -> MetricChange | None:
    if baseline is None or candidate is None:
        return None
    if baseline <= 0:
        return MetricChange(metric=metric, unit=unit, baseline=baseline, candidate=candidate, change=None,
                            change_unit="%", threshold=threshold, status=NOT_MEASURED,
                            reason="baseline value is not positive")
    change = 100.0 * (candidate / baseline - 1.0)
    return MetricChange(metric=metric, unit=unit, baseline=float(baseline), candidate=float(candidate),
                        change=change, change_unit="%", threshold=threshold,
                        status=_against_threshold(change, threshold))


def _accuracy_change(base: Measurement, cand: Measurement, threshold: float,
                     same_eval_set: str | None) -> MetricChange | None:
    if base.accuracy is None or cand.accuracy is None:
        return None
    change = float(cand.accuracy) - float(base.accuracy)
    common = {"metric": "accuracy", "unit": "%", "baseline": float(base.accuracy),
              "candidate": float(cand.accuracy), "change": change, "change_unit": "points", "threshold": threshold}
    if same_eval_set is not None:
        return MetricChange(**common, status=NOT_COMPARABLE, reason=same_eval_set)
    if base.accuracy_metric != cand.accuracy_metric:
        return MetricChange(**common, status=NOT_COMPARABLE,
                            reason=f"metric differs ({base.accuracy_metric} vs {cand.accuracy_metric})")
    return MetricChange(**common, status=_against_threshold(change, threshold, higher_is_worse=False))


# ---------------------------------------------------------------------------------------------
# Runs


Key = tuple[str, str, str, str]


def _key(m: Measurement) -> Key:
    return (m.variant.model, m.variant.name, m.device.id, m.accelerator.name)


def _accelerator_setting(m: Measurement) -> dict[str, Any]:
    a = m.accelerator
    return {"kind": a.kind, "threads": a.threads, "xnnpack": a.xnnpack, "cpu_mask": a.cpu_mask,
            "options": a.options}


def not_comparable_reason(base: Measurement, cand: Measurement) -> str | None:
    """Return why two measurements of one key must not be compared, or None when they may be."""
    checks = (
        ("os_version", base.device.os_version, cand.device.os_version),
        ("runner", base.runner, cand.runner),
        ("runner_version", base.runner_version, cand.runner_version),
        ("recipe", base.variant.recipe, cand.variant.recipe),
        ("recipe options", base.variant.options, cand.variant.options),
        ("format", base.variant.format, cand.variant.format),
        ("accelerator setting", _accelerator_setting(base), _accelerator_setting(cand)),
    )
    for name, a, b in checks:
        if a != b:
            return f"{name} differs ({a} vs {b})"
    return None


def _file_digest(paths: Sequence[Path]) -> str | None:
    digest = hashlib.sha256()
    found = False
    for path in paths:
        if path.is_file():
            found = True
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest() if found else None


def _eval_set_difference(model: str, base_dir: Path, cand_dir: Path, base_suite: dict[str, Any],
                         cand_suite: dict[str, Any]) -> str | None:
    """Return why accuracies of `model` are not comparable between the runs, or None."""
    def stored(run_dir: Path) -> str | None:
        stem = file_name(model)
        return _file_digest([run_dir / "inputs" / f"{stem}.npy", run_dir / "inputs" / f"{stem}.labels.npy"])

    base_digest, cand_digest = stored(base_dir), stored(cand_dir)
    if base_digest and cand_digest:
        return None if base_digest == cand_digest else "the evaluation inputs or labels differ"
    base_spec, cand_spec = base_suite.get("dataset"), cand_suite.get("dataset")
    if base_spec is not None and cand_spec is not None and base_spec != cand_spec:
        return f"dataset differs ({base_spec} vs {cand_spec})"
    return None


def accuracy_gate(m: Measurement, budget_points: float | None) -> str | None:
    """Return why a candidate measurement breaks the accuracy budget, or None when it does not."""
    if budget_points is None or m.status != "ok":
        return None
    if m.accuracy_delta is not None:
        if m.accuracy_delta < -budget_points:
            return (f"accuracy {m.accuracy_delta:+.2f} points vs the reference, "
                    f"below the budget of -{budget_points:g} points")
        return None
    if m.fidelity is not None and m.fidelity.reference_variant != m.variant.name:
        agreement = 100.0 * m.fidelity.top1_agreement
        if agreement < 100.0 - budget_points:
            return (f"top-1 agreement with {m.fidelity.reference_variant} {agreement:.1f}%, "
                    f"below {100 - budget_points:g}% (budget {budget_points:g} points)")
    return None


def _flag_note(m: Measurement) -> tuple[str, ...]:
    return (f"candidate flagged: {', '.join(m.flags)}",) if m.flags else ()


def compare_measurements(base: Measurement | None, cand: Measurement | None, thresholds: Thresholds,
                         budget_points: float | None = None, eval_set_difference: str | None = None) -> Comparison:
    """Compare one key's baseline and candidate measurements (either may be missing)."""
    ref = cand or base
    if ref is None:
        raise ValueError("compare_measurements needs a baseline or a candidate measurement")
    ident = {"model": ref.variant.model, "variant": ref.variant.name, "device_id": ref.device.id,
             "accelerator": ref.accelerator.name}
    gate = accuracy_gate(cand, budget_points) if cand is not None else None
    if cand is None:
        return Comparison(**ident, status=MISSING, reason="measured in the baseline only")
    if base is None:
        return Comparison(**ident, status=NEW, reason="no baseline measurement", accuracy_gate=gate,
                          notes=_flag_note(cand))
    if cand.status != "ok":
        if base.status == "ok" and cand.status == "failed":
            return Comparison(**ident, status=FAILED, reason=cand.error or "failed", accuracy_gate=gate)
        return Comparison(**ident, status=NOT_MEASURED,
                          reason=f"baseline {base.status}, candidate {cand.status}: {cand.error or ''}".rstrip(": "))
    if base.status != "ok":
        return Comparison(**ident, status=NEW, reason=f"baseline {base.status}: {base.error or ''}".rstrip(": "),
                          accuracy_gate=gate, notes=_flag_note(cand))
    refusal = not_comparable_reason(base, cand)
    if refusal is not None:
        return Comparison(**ident, status=NOT_COMPARABLE, reason=refusal, accuracy_gate=gate)

    notes = list(_flag_note(cand))
    model_changed = base.variant.sha256 != cand.variant.sha256
    if model_changed:
        before, after = (base.variant.sha256 or "?")[:12], (cand.variant.sha256 or "?")[:12]
        notes.insert(0, f"model changed (sha256 {before} → {after})")
    (base_us, base_kind), (cand_us, cand_kind) = latency_samples(base), latency_samples(cand)
    if base_kind != cand_kind:
        return Comparison(**ident, status=NOT_COMPARABLE, accuracy_gate=gate,
                          reason=f"latency source differs ({base_kind} vs {cand_kind})")
    latency = latency_change(base_us, cand_us, thresholds, cand_kind)
    size = _relative_change("size", "bytes", base.variant.size_bytes, cand.variant.size_bytes, thresholds.size_pct)
    memory = _relative_change("peak memory", "MB", base.peak_memory_mb, cand.peak_memory_mb, thresholds.memory_pct)
    accuracy = _accuracy_change(base, cand, thresholds.accuracy_points, eval_set_difference)
    metrics = [m for m in (latency, size, memory, accuracy) if m is not None]
    regressed = [m for m in metrics if m.status == REGRESSION]
    if regressed:
        status, reason = REGRESSION, ", ".join(m.metric for m in regressed)
    elif any(m.status == IMPROVED for m in metrics):
        status, reason = IMPROVED, ", ".join(m.metric for m in metrics if m.status == IMPROVED)
    else:
        status, reason = latency.status, latency.reason
    return Comparison(**ident, status=status, reason=reason, latency=latency, size=size, memory=memory,
                      accuracy=accuracy, model_changed=model_changed, accuracy_gate=gate, notes=tuple(notes))


def _by_key(measurements: Sequence[Measurement]) -> dict[Key, Measurement]:
    found: dict[Key, Measurement] = {}
    for m in measurements:
        found[_key(m)] = m  # a resumed run never repeats a job; if it did, the later one counts
    return found


def compare_runs(baseline_dir: Path | str, candidate_dir: Path | str, thresholds: Thresholds | None = None,
                 overrides: dict[str, float] | None = None) -> CompareResult:
    """Compare every measurement of the candidate run with the baseline run's.

    Thresholds default to the candidate suite's `regression` section (else `Thresholds()`), with
    `overrides` (field name -> value, e.g. from ``--threshold latency_pct=20``) applied on top; the
    accuracy budget is the candidate suite's `accuracy.budget_points`. Raises StoreError when
    either directory is not a run, both are the same run, or no measurement of one matches a
    measurement of the other.
    """
    baseline_dir, candidate_dir = Path(baseline_dir), Path(candidate_dir)
    base_meta, cand_meta = read_run_meta(baseline_dir), read_run_meta(candidate_dir)
    if baseline_dir.resolve() == candidate_dir.resolve():
        raise StoreError(f"baseline and candidate are the same run ({baseline_dir})",
                         hint="pass an earlier run as the baseline")
    base_suite, cand_suite = base_meta.get("suite") or {}, cand_meta.get("suite") or {}
    thresholds = thresholds or Thresholds.from_suite(cand_suite)
    if overrides:
        thresholds = replace(thresholds, **overrides)
    budget = (cand_suite.get("accuracy") or {}).get("budget_points")
    base = _by_key(RunStore(baseline_dir).measurements())
    cand = _by_key(RunStore(candidate_dir).measurements())
    if not set(base) & set(cand):
        raise StoreError(
            f"nothing to compare: no measurement of {baseline_dir.name} ({len(base)}) has the model, variant, "
            f"device and accelerator of one of {candidate_dir.name} ({len(cand)})",
            hint="compare two runs of the same suite on the same devices",
        )
    notes = []
    if base_meta.get("suite_name") != cand_meta.get("suite_name"):
        notes.append(f"suites differ ({base_meta.get('suite_name')} vs {cand_meta.get('suite_name')})")
    eval_differences: dict[str, str | None] = {}
    comparisons = []
    for key in [*cand, *(k for k in base if k not in cand)]:
        model = key[0]
        if model not in eval_differences:
            eval_differences[model] = _eval_set_difference(model, baseline_dir, candidate_dir, base_suite, cand_suite)
        comparisons.append(compare_measurements(base.get(key), cand.get(key), thresholds, budget,
                                                eval_differences[model]))
    return CompareResult(
        baseline_run=base_meta.get("run_id") or baseline_dir.name,
        candidate_run=cand_meta.get("run_id") or candidate_dir.name,
        baseline_dir=baseline_dir, candidate_dir=candidate_dir, thresholds=thresholds, budget_points=budget,
        comparisons=tuple(comparisons), notes=tuple(notes),
    )
