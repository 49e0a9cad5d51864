"""First inference: the first invoke after init, per repeat, in ms (caches cold, delegates finishing setup).

Every runner reports it for each repeat (`Measurement.first_us`); like init (benchlab.metrics.init_time)
it is the median over repeats, compared at the repeat level and reported without failing the check.
"""

from __future__ import annotations

from benchlab.metrics.base import RepeatMetric, Threshold
from benchlab.records import Measurement


class FirstInference(RepeatMetric):
    """Median first-inference time over the repeats; reported by compare, never fails it."""

    name = "first_inference"
    label = "first inference"
    unit = "ms"
    position = 70
    column = "first_ms"
    scale = 1e-3
    threshold = Threshold("first_inference_pct", 10.0, "first inference slower by more than this percent and "
                                                       "significant: reported as a regression, never fails the check")
    gates = False

    def repeat_value(self, record: Measurement) -> float | None:
        """Return the repeat's first inference in µs."""
        return record.first_us


METRIC = FirstInference()
