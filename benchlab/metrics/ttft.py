"""Time to first token of a language model, per repeat, in ms: labelled by the engine that timed it.

Engines time it differently: LiteRT-LM's benchmark reports it from its prefill and first decode
step (tokenization outside); ExecuTorch's runner from the start of `generate` (tokenization
inside) to the first sampled token. So a row names its engine (`ttft_engine`, the runner), and a
comparison across engines is not made: it returns no change when the two rows' runners differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchlab.metrics.base import RepeatMetric, Threshold, number_text
from benchlab.metrics.change import ChangeContext, MetricChange
from benchlab.records import Measurement


class TimeToFirstToken(RepeatMetric):
    """Median TTFT over the repeats, with the engine that measured it; reported by compare, never fails it."""

    name = "ttft"
    label = "TTFT"
    unit = "ms"
    position = 23
    column = "ttft_ms"
    scale = 1e-3
    threshold = Threshold("ttft_pct", 10.0, "time to first token slower by more than this percent and significant "
                                            "(same engine only): reported, never fails the check")
    gates = False
    terminal_cells = ("TTFT ms",)
    terminal_when_measured = True  # a run without a language model has nothing in them

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the median TTFT in ms and the engine that timed it (None for a row without one)."""
        found = super().columns(m)
        return {**found, "ttft_engine": m.runner if found[self.column] is not None else None}

    def change(self, base: Measurement, cand: Measurement, context: ChangeContext) -> MetricChange | None:
        """Return the repeat-level change when both rows were timed by the same engine, else None."""
        if base.runner != cand.runner:
            return None
        return super().change(base, cand, context)

    def cells(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Return the median TTFT in ms, with its engine."""
        value = row.get(self.column)
        return {"TTFT ms": f"{number_text(value, 2)} ({row['ttft_engine']})" if value is not None and value == value
                else ""}


METRIC = TimeToFirstToken()
