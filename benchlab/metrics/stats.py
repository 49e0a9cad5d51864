"""Latency statistics computed from raw samples, never copied from a tool's summary.

The repeat is the unit
----------------------
Iterations of one runner process share a CPU frequency, cache and memory placement, the
co-tenants of the moment and a thermal state, so they are not independent samples: on this
project's VM two identical runs differ by 10-27% while each run's iterations agree to 0.3%.
Differences between processes dominate (Chromium's Pinpoint, Google Benchmark's compare.py and
ExecuTorch's phone benchmarks say the same). So every figure that claims a confidence rests on
**per-repeat medians** (one fresh runner process each, see benchlab.execute.executor); iterations are
kept raw for distributions and plots.

* A measurement's latency is the median of its repeat medians. Its 95% confidence interval is the
  distribution-free one from order statistics over the repeat medians: with n repeats, the number
  below the true median is Binomial(n, 1/2), so the sorted x(j) and x(n-j+1) with
  P(j <= B <= n-j) >= 0.95 bound it. That needs n >= 6; with fewer, no interval is reported.
* Two runs are compared by the Hodges-Lehmann shift of log repeat medians with its
  distribution-free interval from the Mann-Whitney U distribution (see benchlab.nightly.compare).
* Two variants measured interleaved in one run are compared pairwise by round (round r ran
  repeat r of both): the paired log differences cancel whatever drift hit that round. The
  estimate is the one-sample Hodges-Lehmann estimator (median of the Walsh averages), its
  interval comes from the signed-rank distribution, and the test is the exact Wilcoxon test.
* The minimum detectable change of a comparison is what a two-sided test at level alpha finds
  with 80% power given the between-repeat spread: (z_{1-alpha/2} + z_{0.8}) * sd * sqrt(1/n1 + 1/n2),
  divided by sqrt(3/pi) for the rank test's efficiency against normal data. Across runs it is
  never below what the row's noise floor (benchlab.nightly.noise) lets through with the same
  power: a change must land beyond the floor, z_0.975 sd of the run-to-run spread, so a true change
  *at* the floor is called only half the time; the change called with 80% power is
  (z_0.975 + z_0.8) / z_0.975 = 1.43 times the floor on the log scale (detectable_beyond_floor).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CONFIDENCE = 0.95
#: Power at which the minimum detectable change is quoted.
POWER = 0.8
#: Asymptotic relative efficiency of the rank tests against the t test on normal data.
RANK_TEST_EFFICIENCY = 3.0 / math.pi
#: z_0.975: a two-sided 95% bound of a normal spread (noise floors cover 95% of unchanged changes).
Z_95 = 1.959964


@dataclass(frozen=True)
class LatencySummary:
    """One measurement's latency in milliseconds: repeat-level centre and interval, iteration spread."""

    #: Measured iterations over all repeats, and how many repeats (runner processes) they came from.
    count: int
    repeats: int
    #: Median of the repeat medians, and its order-statistic interval (None below 6 repeats).
    median_ms: float
    ci_low_ms: float | None
    ci_high_ms: float | None
    #: Spread of the repeat medians: standard deviation of their logs (about the relative spread).
    repeat_sd_log: float | None
    #: Distribution of every iteration (or of the repeat values when a runner gives no iterations).
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    p5_ms: float
    p90_ms: float
    p95_ms: float

    @property
    def cv(self) -> float:
        """Coefficient of variation of the iterations (std / mean); a few outliers rule it, so `benchlab check`
        judges stability by iteration_spread instead."""
        return self.std_ms / self.mean_ms if self.mean_ms else math.nan


def median_ci_ranks(count: int, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """Return 0-based ranks (lo, hi) of the sorted samples bounding the median, or None if n is too small.

    The 1-based rank j is the largest with P(B <= j - 1) <= (1 - confidence) / 2 for
    B ~ Binomial(n, 1/2); the interval is [x(j), x(n - j + 1)].
    """
    from scipy.stats import binom

    tail = (1 - confidence) / 2
    j = int(binom.ppf(tail, count, 0.5))  # smallest k with P(B <= k) >= tail
    if binom.cdf(j, count, 0.5) <= tail:  # ppf lands exactly on the tail: that rank still qualifies
        j += 1
    if j < 1:
        return None
    return j - 1, count - j


def repeat_values_us(samples_us: Sequence[Sequence[float]],
                     runner_stats: Sequence[Mapping[str, float | None]]) -> list[float]:
    """Return one latency per repeat (µs): the median of its iterations, or, for a runner that
    prints only per-run statistics (benchmark_model), that run's median or else its mean."""
    if samples_us and all(len(r) for r in samples_us):
        return [float(np.median(r)) for r in samples_us]
    values = [s.get("median_us") or s.get("avg_us") for s in runner_stats]
    return [float(v) for v in values if v is not None]


def log_sd(values_us: Sequence[float]) -> float | None:
    """Return the sample standard deviation of log values (≈ relative spread), None below 2 values."""
    if len(values_us) < 2:
        return None
    return float(np.std(np.log(np.asarray(values_us, dtype=np.float64)), ddof=1))


def summarize(samples_us: Sequence[Sequence[float]],
              runner_stats: Sequence[Mapping[str, float | None]] = ()) -> LatencySummary | None:
    """Return the summary of a measurement's repeats (µs in, ms out), or None when nothing was measured.

    `samples_us` holds one sequence of iterations per repeat; a runner without per-iteration
    times gives `runner_stats` (one dict per repeat) instead.
    """
    per_repeat = repeat_values_us(samples_us, runner_stats)
    if not per_repeat:
        return None
    iterations = [s for r in samples_us for s in r] or per_repeat
    ms = np.sort(np.asarray(iterations, dtype=np.float64)) / 1000.0
    centres = np.sort(np.asarray(per_repeat, dtype=np.float64)) / 1000.0
    ranks = median_ci_ranks(len(centres))
    return LatencySummary(
        count=len(ms), repeats=len(centres),
        median_ms=float(np.median(centres)),
        ci_low_ms=float(centres[ranks[0]]) if ranks else None,
        ci_high_ms=float(centres[ranks[1]]) if ranks else None,
        repeat_sd_log=log_sd(per_repeat),
        mean_ms=float(ms.mean()), std_ms=float(ms.std(ddof=1)) if len(ms) > 1 else 0.0,
        min_ms=float(ms[0]), max_ms=float(ms[-1]),
        p5_ms=float(np.percentile(ms, 5)), p90_ms=float(np.percentile(ms, 90)),
        p95_ms=float(np.percentile(ms, 95)),
    )


# --- how steady the iterations of a repeat are ------------------------------------------------------

#: IQR / NORMAL_IQR is the standard deviation of normal data: a robust spread on the scale of a CV.
NORMAL_IQR = 1.349
#: An iteration beyond Q3 + OUTLIER_IQRS * IQR of its repeat is an outlier (Tukey's "far out").
OUTLIER_IQRS = 3.0


@dataclass(frozen=True)
class IterationSpread:
    """How steady the iterations inside each repeat are, told apart from their few outliers.

    The iteration standard deviation of a microsecond latency is ruled by a handful of context
    switches (one 2 ms preemption in 300 iterations of 10 µs makes the std 10x the mean) while the
    repeat medians agree within a few percent, so steadiness is judged by the interquartile range,
    which those outliers do not move, and the outliers are counted and sized apart.
    """

    #: Median over repeats of IQR / 1.349 / median of the repeat's iterations (≈ a CV of normal data).
    robust_cv: float
    #: Iterations beyond their repeat's Q3 + 3 IQR, of how many, and the largest as a multiple of its repeat's median.
    outliers: int
    iterations: int
    largest_outlier_ratio: float | None

    def describe_outliers(self) -> str:
        """Return e.g. "12 of 1,800 iterations were outliers, up to 41.0x their repeat's median" ("no outliers")."""
        if not self.outliers:
            return f"no outliers in {self.iterations:,} iterations"
        return (f"{self.outliers:,} of {self.iterations:,} iterations were outliers, up to "
                f"{self.largest_outlier_ratio:.1f}x their repeat's median")


def iteration_spread(samples_us: Sequence[Sequence[float]]) -> IterationSpread | None:
    """Return the robust spread and the outliers of each repeat's iterations; None when no repeat has
    at least 4 iterations (a runner that reports only per-run statistics has none)."""
    spreads, outliers, total, largest = [], 0, 0, None
    for repeat in samples_us:
        values = np.asarray(repeat, dtype=np.float64)
        if len(values) < 4:
            continue
        q1, median, q3 = np.percentile(values, (25, 50, 75))
        spreads.append((q3 - q1) / NORMAL_IQR / median)
        far = values[values > q3 + OUTLIER_IQRS * (q3 - q1)]
        outliers, total = outliers + len(far), total + len(values)
        if len(far):
            largest = max(largest or 0.0, float(far.max() / median))
    if not spreads:
        return None
    return IterationSpread(float(np.median(spreads)), outliers, total, largest)


@lru_cache(maxsize=None)
def normal_quantile(p: float) -> float:
    """Return the standard normal quantile of `p` (scipy's norm.ppf, about 0.2 ms a call: compare asks it
    for the same few probabilities for each of a farm's 1,200 rows)."""
    from scipy.stats import norm

    return float(norm.ppf(p))


# --- two independent samples: Hodges-Lehmann shift with the Mann-Whitney interval ---------------

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


def mann_whitney_p(candidate: Sequence[float], baseline: Sequence[float]) -> float:
    """Return the two-sided Mann-Whitney p-value of `candidate` against `baseline`, as
    scipy.stats.mannwhitneyu gives it (exact for small samples without ties).

    The test reads only the pooled ranks, so scipy is asked once per pattern of ranks: a compare of
    1,200 rows with three repeats a side meets a few dozen patterns, where scipy's argument handling
    cost about half a millisecond a call (over a second of a year's compare).
    """
    cand, base = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    pooled = np.concatenate([cand, base])
    if not np.isfinite(pooled).all():  # scipy's own NaN policy decides
        return _mann_whitney_p_of_ranks(tuple(cand.tolist()), tuple(base.tolist()))
    ordered = np.sort(pooled)
    # Average ranks of ties, as scipy's rankdata: halves, so exact in floating point.
    ranks = (np.searchsorted(ordered, pooled, "left") + np.searchsorted(ordered, pooled, "right") + 1) / 2.0
    return _cached_p(tuple(sorted(ranks[:cand.size].tolist())), tuple(sorted(ranks[cand.size:].tolist())))


def _mann_whitney_p_of_ranks(candidate: tuple[float, ...], baseline: tuple[float, ...]) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(candidate, baseline, alternative="two-sided").pvalue)


_cached_p = lru_cache(maxsize=4096)(_mann_whitney_p_of_ranks)


def hodges_lehmann(baseline: Sequence[float], candidate: Sequence[float],
                   confidence: float = CONFIDENCE) -> tuple[float, float | None, float | None]:
    """Return the Hodges-Lehmann shift candidate - baseline and its distribution-free CI.

    The CI bounds are None when the samples are too few for an interval at this confidence.
    """
    x = np.sort(np.asarray(baseline, dtype=np.float64))
    y = np.sort(np.asarray(candidate, dtype=np.float64))
    n, m = len(x), len(y)
    total = n * m
    if total % 2:
        estimate = kth_pairwise_difference(x, y, (total + 1) // 2)
    else:
        estimate = (kth_pairwise_difference(x, y, total // 2) + kth_pairwise_difference(x, y, total // 2 + 1)) / 2
    z = normal_quantile(1 - (1 - confidence) / 2)
    cut = math.floor(total / 2 - z * math.sqrt(total * (n + m + 1) / 12.0))
    if cut < 1:
        return estimate, None, None
    return estimate, kth_pairwise_difference(x, y, cut), kth_pairwise_difference(x, y, total - cut + 1)


# --- paired samples: one-sample Hodges-Lehmann with the signed-rank interval ----------------------

def paired_shift(differences: Sequence[float], confidence: float = CONFIDENCE
                 ) -> tuple[float, float | None, float | None, float]:
    """Return (estimate, ci_low, ci_high, p_value) for paired differences (e.g. log latency per round).

    The estimate is the median of the Walsh averages (d_i + d_j) / 2, i <= j; the interval is
    [W(c), W(N - c + 1)] of the sorted Walsh averages with c from the exact signed-rank
    distribution (None when n is too small for this confidence); the p-value is the two-sided
    exact Wilcoxon signed-rank test (1.0 when every difference is zero).
    """
    from scipy.stats import wilcoxon

    d = np.asarray(differences, dtype=np.float64)
    n = len(d)
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2.0)
    estimate = float(np.median(walsh))
    # Exact null distribution of the signed-rank statistic: counts of subsets of 1..n by rank sum.
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    cdf = np.cumsum(counts) / counts.sum()
    tail = (1 - confidence) / 2
    c = int(np.searchsorted(cdf, tail, side="right"))  # P(T <= c - 1) <= tail
    low = float(walsh[c - 1]) if c >= 1 else None
    high = float(walsh[len(walsh) - c]) if c >= 1 else None
    if not np.any(d != 0):
        return estimate, low, high, 1.0
    p_value = float(wilcoxon(d, alternative="two-sided", method="exact" if n <= 50 else "approx").pvalue)
    return estimate, low, high, p_value


# --- how big a change could have been seen ---------------------------------------------------------

def detectable_beyond_floor(floor_pct: float | None, power: float = POWER) -> float | None:
    """Return the change (in percent) that lands beyond a noise floor with `power`.

    A floor is z_0.975 times the spread of unchanged run-to-run changes (log scale), and a change is
    called only when its estimate is beyond it; an estimate spreads by that same sd about the true
    change, so the change called with `power` is (z_0.975 + z_power) sd. None when there is no floor.
    """
    if floor_pct is None:
        return None
    sd_log = math.log1p(floor_pct / 100.0) / Z_95
    return 100.0 * math.expm1((Z_95 + normal_quantile(power)) * sd_log)


def minimum_detectable_change(sd_log: float | None, n_baseline: int, n_candidate: int | None = None,
                              alpha: float = 0.05, power: float = POWER) -> float | None:
    """Return the smallest change (in percent) a two-sided rank test would detect with `power`.

    `sd_log` is the between-repeat standard deviation of log latency. With `n_candidate` None the
    comparison is paired (n_baseline pairs, sd_log of the paired differences). None when unknown.
    """
    if sd_log is None or n_baseline < 2 or (n_candidate is not None and n_candidate < 2):
        return None
    z = normal_quantile(1 - alpha / 2) + normal_quantile(power)
    scale = math.sqrt(1 / n_baseline) if n_candidate is None else math.sqrt(1 / n_baseline + 1 / n_candidate)
    return 100.0 * math.expm1(z * sd_log * scale / math.sqrt(RANK_TEST_EFFICIENCY))
