"""Within-run A/B: two jobs measured interleaved in one run, compared round by round.

In an interleaved run (benchlab.execute.executor) round r ran repeat r of every job on a device, close
together in time, so whatever drifted during the run (a co-tenant, the governor, heat) hit both
jobs of a round alike. The paired differences of log repeat latency cancel it, which is why a
within-run comparison can see changes that two separate runs cannot (benchlab.metrics.stats, "paired
samples"). Used for the "what to ship" pick (a variant not significantly slower than the fastest
is a tie) and by `benchlab ab` (two models or variants of one run, e.g. baseline.tflite against
candidate.tflite).

Verdicts, as for run-to-run comparisons: "regression"/"improved" when significant (exact
Wilcoxon p < alpha and the interval excludes 0) and beyond the threshold; "within threshold"
when significant but small; otherwise "not significant (minimum detectable change ±x%)", or
"too few rounds" below MIN_ROUNDS paired rounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from benchlab.metrics.stats import log_sd, minimum_detectable_change, paired_shift

#: Fewest paired rounds for a verdict: with 6 pairs the exact signed-rank test reaches p = 0.031
#: and the 95% interval exists; with 5 neither does.
MIN_ROUNDS = 6
ALPHA = 0.05


@dataclass(frozen=True)
class PairedChange:
    """How job B's latency differs from job A's over the rounds both measured, in percent."""

    rounds: int
    change_pct: float | None
    ci_low_pct: float | None
    ci_high_pct: float | None
    p_value: float | None
    mdc_pct: float | None
    verdict: str

    @property
    def significant(self) -> bool:
        """Whether the difference is real at level ALPHA (test and interval agree)."""
        return self.verdict in ("regression", "improved", "within threshold")

    def describe(self) -> str:
        """Return the change as a reader wants it: "+12.3% [+8.1, +16.0] p=0.031 (regression)"."""
        if self.change_pct is None:
            return self.verdict
        ci = (f" [{self.ci_low_pct:+.1f}, {self.ci_high_pct:+.1f}]"
              if self.ci_low_pct is not None and self.ci_high_pct is not None else "")
        return f"{self.change_pct:+.1f}%{ci} p={self.p_value:.3g} ({self.verdict})"


def _pct(log_ratio: float | None) -> float | None:
    return None if log_ratio is None else 100.0 * math.expm1(log_ratio)


def paired_change(a: Mapping[int, float], b: Mapping[int, float], threshold_pct: float = 5.0,
                  alpha: float = ALPHA) -> PairedChange:
    """Compare per-round latencies of job B against job A (round -> latency, any unit, > 0)."""
    rounds = sorted(set(a) & set(b))
    if len(rounds) < MIN_ROUNDS:
        return PairedChange(len(rounds), None, None, None, None, None,
                            f"too few rounds ({len(rounds)} paired, {MIN_ROUNDS} needed)")
    diffs = np.log([b[r] for r in rounds]) - np.log([a[r] for r in rounds])
    estimate, low, high, p_value = paired_shift(diffs)
    sd = log_sd(np.exp(diffs).tolist())
    mdc = minimum_detectable_change(sd, len(rounds), alpha=alpha)
    change, ci_low, ci_high = _pct(estimate), _pct(low), _pct(high)
    excludes_zero = low is not None and high is not None and (low > 0 or high < 0)
    if not (p_value < alpha and excludes_zero):
        verdict = f"not significant (minimum detectable change ±{mdc:.1f}%)" if mdc is not None else "not significant"
    elif change > threshold_pct:
        verdict = "regression"
    elif change < -threshold_pct:
        verdict = "improved"
    else:
        verdict = "within threshold"
    return PairedChange(len(rounds), change, ci_low, ci_high, p_value, mdc, verdict)
