"""Init: loading the model and building the interpreter / MLModel, per repeat, in ms (the worked example).

Every runner reports it for each repeat (each repeat is a fresh process, so each pays it):
`Measurement.init_us`. Its statistic is the median over the repeats; a comparison tests the repeat
values like latency's, and reports a change without failing the check (`gates = False`): start-up
cost matters to an app, but no suite has gated on it yet. Core ML's on-device compile
(`compile_us`, first repeat) is shown beside it.

This module is the template for a metric a runner reports once per repeat (energy per inference
in mJ is the next): declare it with `RepeatMetric` and say where a repeat's value is; a metric
without a Measurement field of its own needs no `repeat_value`, since runners put it in
`Measurement.metric_values[name]`.
"""

from __future__ import annotations

from typing import Any

from benchlab.metrics.base import RepeatMetric, Threshold
from benchlab.records import Measurement


class InitTime(RepeatMetric):
    """Median model-load time over the repeats; reported by compare, never fails it."""

    name = "init"
    label = "init"
    unit = "ms"
    position = 60
    column = "init_ms"
    scale = 1e-3
    threshold = Threshold("init_pct", 10.0, "init (model load) slower by more than this percent and significant: "
                                            "reported as a regression, never fails the check")
    gates = False

    def repeat_value(self, record: Measurement) -> float | None:
        """Return the repeat's init time in µs."""
        return record.init_us

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the median init in ms, and Core ML's on-device compile in ms (first repeat)."""
        return {**super().columns(m), "compile_ms": m.compile_us / 1000.0 if m.compile_us is not None else None}


METRIC = InitTime()
