"""What a metric declares: the one interface every module of benchlab.metrics implements.

A metric says what it is (name, label, unit, which direction is better), how a runner reports it
(one value per repeat, read from a repeat's record), its statistic (the tidy-table columns of a
measurement), whether and how a comparison judges it (its threshold in the suite's `regression:`
section, whether a regression fails the check), and how it shows (report and terminal table
cells, its compare column, its `benchlab check` warnings). The stages iterate the registry
(`benchlab.metrics.registered()`) instead of naming metrics.

`RepeatMetric` is the template for a metric a runner reports once per repeat (init, first
inference; energy per inference is the next): it only names where the repeat's value is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from benchlab.metrics.change import ChangeContext, MetricChange, repeat_change
from benchlab.records import Measurement

Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class Threshold:
    """A metric's field in the suite's `regression:` section (benchlab.plan.suite.RegressionSpec)."""

    #: The field name, e.g. "latency_pct" ("..._pct": percent of the baseline, "..._points": points).
    field: str
    default: float
    #: The help text of the field (shown in the suite schema and by `--threshold`).
    description: str


class Metric:
    """One metric: what it is, how it is measured, compared and shown (see the module docstring).

    A subclass sets the class attributes and overrides the methods it needs; the defaults say
    "nothing": no columns, no comparison, no cells, no warnings.
    """

    #: Key of the metric (JSON summaries, `Measurement.repeat_values`), e.g. "latency", "memory".
    name: ClassVar[str]
    #: How a comparison names it in text, e.g. "peak memory".
    label: ClassVar[str]
    #: Unit of its compared value: "ms", "bytes", "MB", "%".
    unit: ClassVar[str]
    better: ClassVar[Better] = "lower"
    #: Where it sits in tables and in a comparison's list of metrics (lower first).
    position: ClassVar[int]
    #: Its threshold in the suite's `regression:` section; None: never compared against one.
    threshold: ClassVar[Threshold | None] = None
    #: Whether a regression of it fails `benchlab compare` (else it is reported only).
    gates: ClassVar[bool] = True
    #: The metric whose status a comparison row takes when no gating metric regressed or improved
    #: (latency: only a test can say "not significant"); exactly one metric is the headline.
    headline: ClassVar[bool] = False
    #: Column heading of its change in the compare table and the Markdown comment; None: not a column.
    compare_heading: ClassVar[str | None] = None
    #: Which of its `cells` the terminal table shows (the report shows them all).
    terminal_cells: ClassVar[tuple[str, ...]] = ()
    #: Its tidy-table column whose changes between unchanged runs give each row's noise floor
    #: (benchlab.nightly.noise); None: compared against its repeats' floor only.
    history_column: ClassVar[str | None] = None
    #: Whether its terminal cells are left out of a run's table when no row has them (a metric only
    #: some devices measure, as energy); the report shows them all the same.
    terminal_when_measured: ClassVar[bool] = False
    #: Its tidy-table columns a run's summary.json carries as numbers beside the display cells.
    summary_columns: ClassVar[tuple[str, ...]] = ()

    def repeat_value(self, record: Measurement) -> float | None:
        """Return the value one repeat's record holds (None: not reported), as the runner reported it."""
        return None

    def repeat_values(self, m: Measurement) -> list[float]:
        """Return one value per ok repeat of a combined measurement, in repeat order."""
        return list(m.repeat_values.get(self.name, ()))

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the tidy-table columns of this metric for one (combined) measurement."""
        return {}

    def change(self, base: Measurement, cand: Measurement, context: ChangeContext) -> MetricChange | None:
        """Return how this metric changed from `base` to `cand` (both ok), None when it is not compared."""
        return None

    def cells(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Return this metric's cells of the report table (display text by heading) from a tidy-table row."""
        return {}

    def warnings(self, m: Measurement) -> list[tuple[str, str]]:
        """Return (code, message) reasons not to trust this metric of an ok measurement (`benchlab check`)."""
        return []


class RepeatMetric(Metric):
    """A metric a runner reports once per repeat, compared at the repeat level (benchlab.metrics.change).

    Its statistic is the median of the repeat values, in the tidy column `column` (the values times
    `scale`, in `unit`). A metric without a Measurement field of its own is read from the repeat's
    `metric_values[name]`, which is where a runner reports it.
    """

    #: The tidy-table column of the median, e.g. "init_ms".
    column: ClassVar[str]
    #: Factor from the reported value to `unit` (1e-3: µs reported, ms shown).
    scale: ClassVar[float] = 1.0

    def repeat_value(self, record: Measurement) -> float | None:
        """Return the value the runner reported for this repeat in `metric_values`, None when it did not."""
        return record.metric_values.get(self.name)

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the median of the repeat values in `unit` under `column` (None when none was reported)."""
        import numpy as np

        values = self.repeat_values(m)
        return {self.column: float(np.median(values)) * self.scale if values else None}

    def change(self, base: Measurement, cand: Measurement, context: ChangeContext) -> MetricChange | None:
        """Return the repeat-level change (None when either side reported no value)."""
        before, after = self.repeat_values(base), self.repeat_values(cand)
        if not before or not after:
            return None
        return repeat_change(self.label, self.unit, before, after, context, scale=self.scale, gates=self.gates)


def repeat_statistics(column: str, values: list[float]) -> dict[str, Any]:
    """Return the tidy-table columns of one value per repeat: under `column` their median, its
    distribution-free 95% CI (the order statistics around the median, benchlab.metrics.stats.median_ci_ranks;
    None below 6 repeats), how many repeats, their relative spread (log sd, percent) and the minimum
    detectable change (percent) of comparing two runs like this one."""
    import numpy as np

    from benchlab.metrics.stats import log_sd, median_ci_ranks, minimum_detectable_change

    ordered = np.sort(np.asarray(values, dtype=np.float64))
    ranks = median_ci_ranks(len(ordered)) if len(ordered) else None
    spread = log_sd(ordered.tolist()) if len(ordered) and (ordered > 0).all() else None
    return {
        column: float(np.median(ordered)) if len(ordered) else None,
        f"{column}_repeats": len(ordered),
        f"{column}_ci_low": float(ordered[ranks[0]]) if ranks else None,
        f"{column}_ci_high": float(ordered[ranks[1]]) if ranks else None,
        f"{column}_repeat_sd_pct": 100.0 * spread if spread is not None else None,
        f"{column}_mdc_pct": minimum_detectable_change(spread, len(ordered), len(ordered)),
    }


def values_by_prefix(m: Measurement, prefix: str) -> dict[str, float]:
    """Return a measurement's `metric_values` whose keys start with `prefix`, keyed by the rest
    (a metric's parts: energy per rail, energy impact per part)."""
    return {key[len(prefix):]: value for key, value in m.metric_values.items() if key.startswith(prefix)}


def present(value: object) -> bool:
    """Return whether a table value is there (not None, not NaN)."""
    return value is not None and value == value  # noqa: PLR0124 - NaN is the one value unequal to itself


def number_text(value: object, digits: int = 2) -> str:
    """Return a number with `digits` decimals for a table cell, "" when there is none."""
    return f"{float(value):.{digits}f}" if present(value) else ""  # type: ignore[arg-type]


def kb_text(size_bytes: object) -> str:
    """Return a size in bytes as KB with one decimal and thousands separators, "" when there is none."""
    return f"{float(size_bytes) / 1024:,.1f}" if present(size_bytes) else ""  # type: ignore[arg-type]


class RateMetric(RepeatMetric):
    """A throughput a runner reports once per repeat (tokens per second), where higher is better.

    Its statistic is the median of the repeat values with a distribution-free 95% CI (the order
    statistics around the median, benchlab.metrics.stats.median_ci_ranks), the repeats' relative
    spread and the minimum detectable change of comparing two runs like this one (MDC, percent of
    the time per unit). A comparison tests the time per unit, 1/rate, at the repeat level like
    latency (benchlab.metrics.change.repeat_change): the same log shift, the sign the other way.
    """

    better = "higher"
    #: Name of one unit of work in the reciprocal's label, e.g. "token".
    per: ClassVar[str] = "token"
    #: The repeat's `metric_values` key (and tidy column) of how many units the rate is over, which
    #: the runner reports beside it (the cell's exact token count: the report's pp and tg).
    count_key: ClassVar[str]

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the median rate, its 95% CI (None below 6 repeats), the repeat spread and the MDC."""
        values = self.repeat_values(m)
        count = m.metric_values.get(self.count_key) if values else None
        return {self.count_key: int(count) if count is not None else None, **repeat_statistics(self.column, values)}

    def change(self, base: Measurement, cand: Measurement, context: ChangeContext) -> MetricChange | None:
        """Return the repeat-level change of the time per unit, 1/rate in ms (None when a side has no values)."""
        before, after = self.repeat_values(base), self.repeat_values(cand)
        if not before or not after or min(before + after) <= 0:
            return None
        return repeat_change(f"{self.label} time per {self.per}", f"ms/{self.per}", [1e3 / v for v in before],
                             [1e3 / v for v in after], context, gates=self.gates)

    def cells(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Return the median rate and its 95% CI."""
        low, high = row.get(f"{self.column}_ci_low"), row.get(f"{self.column}_ci_high")
        return {f"{self.label} tok/s": number_text(row.get(self.column), 1),
                f"{self.label} 95% CI": f"{low:.1f}–{high:.1f}" if present(low) else ""}
