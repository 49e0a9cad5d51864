"""Latency statistics computed from raw samples, never copied from a tool's summary.

The median is the figure we quote: phone latencies are skewed (a scheduler hiccup or a thermal
step adds a long right tail) and the median is robust to it. Its 95% confidence interval is the
distribution-free one from order statistics: with n samples, the number of samples below the true
median is Binomial(n, 1/2), so the sorted samples x(j) and x(k) with P(j <= B < k) >= 0.95 bound
it. No normality is assumed, and with fewer than 6 samples no 95% interval exists, so we report
none rather than a misleading one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True)
class LatencySummary:
    """Statistics of one measurement's samples, in milliseconds."""

    count: int
    median_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    p5_ms: float
    p90_ms: float
    p95_ms: float
    ci_low_ms: float | None
    ci_high_ms: float | None

    @property
    def cv(self) -> float:
        """Coefficient of variation (std / mean): a large one means an unstable measurement."""
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


def summarize(samples_us: Sequence[float]) -> LatencySummary | None:
    """Return the summary of per-iteration latencies given in microseconds, or None when empty."""
    if len(samples_us) == 0:
        return None
    ms = np.sort(np.asarray(samples_us, dtype=np.float64)) / 1000.0
    ranks = median_ci_ranks(len(ms))
    return LatencySummary(
        count=len(ms),
        median_ms=float(np.median(ms)),
        mean_ms=float(ms.mean()),
        std_ms=float(ms.std(ddof=1)) if len(ms) > 1 else 0.0,
        min_ms=float(ms[0]),
        max_ms=float(ms[-1]),
        p5_ms=float(np.percentile(ms, 5)),
        p90_ms=float(np.percentile(ms, 90)),
        p95_ms=float(np.percentile(ms, 95)),
        ci_low_ms=float(ms[ranks[0]]) if ranks else None,
        ci_high_ms=float(ms[ranks[1]]) if ranks else None,
    )
