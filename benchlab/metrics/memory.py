"""Memory: the footprint after loading the model and the peak over a run, in MB, as runners report them.

The peak is the runner's high-water mark; a job's is the largest of its repeats
(benchlab.results.run_record.combine_repeats). A comparison checks it against `memory_pct` directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchlab.metrics.base import Metric, Threshold, number_text
from benchlab.metrics.change import ChangeContext, MetricChange, relative_change
from benchlab.records import Measurement


class Memory(Metric):
    """Peak memory in MB; gates on `memory_pct`."""

    name = "memory"
    label = "peak memory"
    unit = "MB"
    position = 30
    threshold = Threshold("memory_pct", 10.0, "peak memory higher by more than this percent")
    compare_heading = "peak memory"
    terminal_cells = ("peak MB",)

    def repeat_value(self, record: Measurement) -> float | None:
        """Return the repeat's peak memory in MB (None where the runner does not report one)."""
        return record.peak_memory_mb

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the footprint after init (first repeat) and the peak over the repeats, in MB."""
        return {"memory_init_mb": m.memory_init_mb, "peak_memory_mb": m.peak_memory_mb}

    def change(self, base: Measurement, cand: Measurement, context: ChangeContext) -> MetricChange | None:
        """Return the change in percent of the peak (None when a side has none)."""
        return relative_change(self.label, self.unit, base.peak_memory_mb, cand.peak_memory_mb, context.threshold)

    def cells(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Return the peak in MB."""
        return {"peak MB": number_text(row["peak_memory_mb"], 1)}


METRIC = Memory()
