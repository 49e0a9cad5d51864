"""Peak memory: each repeat's runner-process high-water mark in MB, with repeat-level statistics like latency.

A runner reports one peak per repeat (`Measurement.peak_memory_mb` of the repeat's record): the
host's worker and LLM child read their own process's high-water mark (VmHWM, ru_maxrss) when the
model is done, benchmark_model and litert_lm_main print their own monitor's peak, the iPhone app
its footprint. Each repeat is a fresh process, so the peaks are independent samples of one
process's peak, not one figure: the statistic is their median with its 95% CI, their spread and
the minimum detectable change (benchlab.metrics.base.repeat_statistics), and the largest beside it
(`peak_memory_mb_max`). A comparison tests the repeat peaks like latency (Hodges-Lehmann shift,
Mann-Whitney, the row's noise floor from history of `peak_memory_mb`; benchlab.metrics.change)
against `memory_pct`, and a significant regression beyond it fails the check. The footprint
after loading (`memory_init_mb`) is the first repeat's, as runners report it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchlab.metrics.base import RepeatMetric, Threshold, number_text, present, repeat_statistics
from benchlab.records import Measurement


class Memory(RepeatMetric):
    """Median peak memory over the repeats in MB, with its 95% CI; gates on `memory_pct`."""

    name = "memory"
    label = "peak memory"
    unit = "MB"
    position = 30
    column = "peak_memory_mb"
    threshold = Threshold("memory_pct", 10.0, "peak memory (median of the repeats' peaks) higher by more than "
                                              "this percent and significant")
    compare_heading = "peak memory"
    terminal_cells = ("peak MB",)
    history_column = "peak_memory_mb"

    def repeat_value(self, record: Measurement) -> float | None:
        """Return the repeat's peak memory in MB (None where the runner does not report one)."""
        return record.peak_memory_mb

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the footprint after init (first repeat), the median peak with its CI, spread and MDC, and the largest."""
        values = self.repeat_values(m)
        return {"memory_init_mb": m.memory_init_mb, **repeat_statistics(self.column, values),
                "peak_memory_mb_max": max(values) if values else None}

    def cells(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Return the median peak in MB and its 95% CI."""
        low, high = row.get("peak_memory_mb_ci_low"), row.get("peak_memory_mb_ci_high")
        return {"peak MB": number_text(row.get(self.column), 1),
                "peak MB 95% CI": f"{low:.1f}–{high:.1f}" if present(low) else ""}


METRIC = Memory()
