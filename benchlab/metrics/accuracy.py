"""Accuracy on the evaluation set, in percent, and its delta in points against the model's fp32 reference.

Scored after execution from the outputs the store holds (benchlab.results.scoring), never by a
runner. Deterministic for one model and one evaluation set, so a comparison checks it against
`accuracy_points` directly, and only when both runs evaluated the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchlab.metrics.base import Metric, Threshold, number_text
from benchlab.metrics.change import NOT_COMPARABLE, ChangeContext, MetricChange, against_threshold
from benchlab.records import Measurement

#: What the accuracy cell says for a model measured on synthetic inputs (no labels, no real data).
SYNTHETIC_NOTE = "synthetic: fidelity only"


class Accuracy(Metric):
    """Accuracy in percent (higher is better); gates on `accuracy_points`."""

    name = "accuracy"
    label = "accuracy"
    unit = "%"
    better = "higher"
    position = 40
    threshold = Threshold("accuracy_points", 0.5, "accuracy lower by more than this many percentage points")
    compare_heading = "accuracy"
    terminal_cells = ("accuracy %", "Δ pts")

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the metric's name (e.g. "top-1"), the accuracy, its delta against the reference, and why
        it was not scored when it was not."""
        return {"accuracy_metric": m.accuracy_metric, "accuracy": m.accuracy, "accuracy_delta": m.accuracy_delta,
                "accuracy_note": m.accuracy_note}

    def change(self, base: Measurement, cand: Measurement, context: ChangeContext) -> MetricChange | None:
        """Return the change in points; "not comparable" when the evaluation sets or the metrics differ."""
        if base.accuracy is None or cand.accuracy is None:
            return None
        change = float(cand.accuracy) - float(base.accuracy)
        common = {"metric": self.label, "unit": self.unit, "baseline": float(base.accuracy),
                  "candidate": float(cand.accuracy), "change": change, "change_unit": "points",
                  "threshold": context.threshold}
        if context.eval_set_difference is not None:
            return MetricChange(**common, status=NOT_COMPARABLE, reason=context.eval_set_difference)
        if base.accuracy_metric != cand.accuracy_metric:
            return MetricChange(**common, status=NOT_COMPARABLE,
                                reason=f"metric differs ({base.accuracy_metric} vs {cand.accuracy_metric})")
        return MetricChange(**common, status=against_threshold(change, context.threshold, higher_is_worse=False))

    def cells(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Return the accuracy (or the synthetic-data note) and its delta in points."""
        synthetic = row.get("data") == SYNTHETIC_NOTE
        return {"accuracy %": SYNTHETIC_NOTE if synthetic else number_text(row["accuracy"], 1),
                "Δ pts": number_text(row["accuracy_delta"], 2)}


METRIC = Accuracy()
