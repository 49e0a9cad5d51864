"""Latency per inference: the median of each repeat's iterations, compared at the repeat level.

Runners report every measured iteration of a repeat (`Measurement.samples_us`), or, where a
runner prints only per-run statistics (LiteRT's benchmark_model), that run's median or mean
(`runner_stats`); benchlab.metrics.stats computes every figure from them. A comparison tests the
repeat medians against the latency threshold and the row's noise floor (benchlab.metrics.change).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchlab.metrics.base import Metric, Threshold, number_text, present
from benchlab.metrics.change import ChangeContext, MetricChange, repeat_change
from benchlab.metrics.stats import LatencySummary, iteration_spread, repeat_values_us, summarize
from benchlab.records import Measurement

#: pyperf warns when the standard deviation is more than 10% of the mean; benchlab holds the robust
#: spread of the iterations (IQR on the scale of a CV) and the spread of the repeat medians to it.
MAX_CV = 0.1
#: Below this many repeats a measurement has no 95% interval (benchlab.metrics.stats).
MIN_REPEATS = 6
#: What one compared latency is: one repeat (runner process), its median iteration.
REPEAT_MEDIANS = "repeat medians"


def _over_limit(spread: float) -> str:
    """Return a spread beyond MAX_CV in percent, with a decimal where a whole percent would read as the
    limit itself ("10.4% (more than 10%)", not "10% (more than 10%)")."""
    return f"{spread:.1%}" if round(100 * spread) <= round(100 * MAX_CV) else f"{spread:.0%}"


def latency_summary(m: Measurement) -> tuple[LatencySummary | None, str | None]:
    """Return the latency statistics of a measurement and where its per-repeat values come from.

    "samples": each repeat's median of its measured iterations. "runner-repeats": the runner
    reports only per-run statistics (benchmark_model), so each repeat's median (or mean) is used.
    """
    summary = summarize(m.samples_us, m.runner_stats)
    if summary is None:
        return None, None
    return summary, "samples" if m.all_samples_us else "runner-repeats"


def latency_change(baseline_us: list[float], candidate_us: list[float], context: ChangeContext) -> MetricChange:
    """Compare two sets of per-repeat latencies in µs (see benchlab.metrics.change); medians come out in ms."""
    return repeat_change("latency", "ms", baseline_us, candidate_us, context, scale=1e-3,
                         sample_kind=REPEAT_MEDIANS)


class Latency(Metric):
    """Median latency per inference, with its 95% CI over repeats; gates on `latency_pct`."""

    name = "latency"
    label = "latency"
    unit = "ms"
    position = 20
    threshold = Threshold("latency_pct", 5.0, "median latency slower by more than this percent (and significant)")
    headline = True
    compare_heading = "latency change"
    terminal_cells = ("median ms", "95% CI ms", "repeats")
    history_column = "latency_ms_median"

    def repeat_values(self, m: Measurement) -> list[float]:
        """Return one latency per repeat in µs (its median iteration, or the runner's per-run figure)."""
        return repeat_values_us(m.samples_us, m.runner_stats)

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the latency statistics (ms), how many iterations and repeats they rest on, and their source."""
        summary, source = latency_summary(m)
        return {
            "latency_source": source,
            "latency_count": summary.count if summary else 0,
            "latency_repeats": summary.repeats if summary else 0,
            "latency_ms_median": summary.median_ms if summary else None,
            "latency_ms_ci_low": summary.ci_low_ms if summary else None,
            "latency_ms_ci_high": summary.ci_high_ms if summary else None,
            "latency_repeat_sd_pct": 100.0 * summary.repeat_sd_log if summary and summary.repeat_sd_log is not None
            else None,
            "latency_ms_mean": summary.mean_ms if summary else None,
            "latency_ms_std": summary.std_ms if summary else None,
            "latency_ms_min": summary.min_ms if summary else None,
            "latency_ms_p5": summary.p5_ms if summary else None,
            "latency_ms_p90": summary.p90_ms if summary else None,
            "latency_ms_p95": summary.p95_ms if summary else None,
            "latency_cv": summary.cv if summary else None,
        }

    def change(self, base: Measurement, cand: Measurement, context: ChangeContext) -> MetricChange:
        """Return the repeat-level latency change; "not measured" when a side has no latencies."""
        return latency_change(self.repeat_values(base), self.repeat_values(cand), context)

    def cells(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Return the median, its 95% CI, the p90 (ms) and the repeat count."""
        low, high = row["latency_ms_ci_low"], row["latency_ms_ci_high"]
        return {"median ms": number_text(row["latency_ms_median"], 3),
                "95% CI ms": f"{low:.3f}–{high:.3f}" if present(low) else "",
                "p90 ms": number_text(row["latency_ms_p90"], 3), "repeats": str(int(row["latency_repeats"]))}

    def warnings(self, m: Measurement) -> list[tuple[str, str]]:
        """Return few-repeats, unstable (the iterations' robust spread, naming their outliers) and
        noisy-repeats (the repeat medians' spread). A few slow outliers alone are no warning: they
        move the std and the mean, not the medians every statistic rests on."""
        found = []
        summary = summarize(m.samples_us, m.runner_stats)
        if summary is None:  # nothing timed per inference (a language model: its metrics are tokens/s)
            return found
        repeats = summary.repeats
        if repeats < MIN_REPEATS:
            found.append(("few-repeats", f"only {repeats} repeat(s); at least {MIN_REPEATS} are needed for a 95% "
                                         "interval and to tell a change from noise: raise scenario.repeats"))
        spread = iteration_spread(m.samples_us)
        if spread is not None and spread.robust_cv > MAX_CV:
            found.append(("unstable", f"unstable: iterations spread by {_over_limit(spread.robust_cv)} of the median (IQR/1.35, "
                                      f"median over repeats; more than {MAX_CV:.0%}); {spread.describe_outliers()}; "
                                      "other load, frequency scaling or throttling?"))
        if summary is not None and summary.repeat_sd_log is not None and summary.repeat_sd_log > MAX_CV:
            found.append(("noisy-repeats", f"repeat medians spread by {_over_limit(summary.repeat_sd_log)} (more than "
                                           f"{MAX_CV:.0%}): changes smaller than that cannot be seen here"))
        return found


METRIC = Latency()
