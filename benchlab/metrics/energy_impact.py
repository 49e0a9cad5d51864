"""Apple's energy impact of the runner app on an iPhone: unitless, a metric of its own, never joules.

Xcode's Energy gauge gives a process's "energy impact": a level over time with no unit that Apple
states (it is neither joules nor watts), split into parts (CPU, GPU, display, networking,
location). An iPhone reports, per repeat, the mean of the levels the gauge gave while the runner
app ran that repeat (ios_runner.energy_impact; keys below). It is kept apart from energy per
inference (benchlab.metrics.energy, mJ from Android's power rails): the two are never compared,
added or put in one column, since their units differ and Apple's is an estimate of its own making.

Like latency, the repeat is the unit: the median of the repeat values with the repeats' provisional
noise floor beside it. `benchlab compare` reports a change against `energy_impact_pct` and the row's
noise floor but never fails the check on it (`gates = False`): Apple does not document the model
behind the figure, and the gauge's once-a-second level over a repeat of a few seconds is coarse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchlab.metrics.base import RepeatMetric, Threshold, number_text, present, values_by_prefix
from benchlab.metrics.energy import repeats_floor_pct
from benchlab.records import Measurement

#: `metric_values` key prefix of one part's mean impact: "energy_impact.part.cpu".
PART_PREFIX = "energy_impact.part."
#: `metric_values` key of how many gauge readings the repeat's mean is over.
READINGS_KEY = "energy_impact.readings"


def part_values(m: Measurement) -> dict[str, float]:
    """Return each part's mean energy impact of a measurement (unitless), by part name."""
    return values_by_prefix(m, PART_PREFIX)


class EnergyImpact(RepeatMetric):
    """Median over the repeats of Apple's energy impact (unitless); reported by compare, never gates."""

    name = "energy_impact"
    label = "energy impact (Apple, unitless)"
    unit = "impact"
    position = 36
    column = "energy_impact"
    threshold = Threshold("energy_impact_pct", 10.0, "iPhones: Apple's unitless energy impact higher by more than "
                                                     "this percent and significant; reported, never fails the check")
    gates = False
    terminal_cells = ("impact",)
    history_column = "energy_impact"
    terminal_when_measured = True
    summary_columns = ("energy_impact", "energy_impact_noise_floor_pct", "energy_impact_repeats")

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the median impact, its repeats and noise floor, the readings per repeat and each part."""
        values = self.repeat_values(m)
        parts = part_values(m)
        readings = m.metric_values.get(READINGS_KEY)
        return {
            **super().columns(m),
            "energy_impact_repeats": len(values),
            "energy_impact_noise_floor_pct": repeats_floor_pct(values),
            "energy_impact_readings": int(readings) if readings is not None and values else None,
            "energy_impact_parts": "; ".join(f"{name} {value:.4g}" for name, value in sorted(parts.items())) or None,
        }

    def cells(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Return the median impact with its noise floor and the parts ("impact" is not a unit: Apple gives none)."""
        floor = row.get("energy_impact_noise_floor_pct")
        median = number_text(row.get(self.column), 1)
        return {"impact": f"{median} ±{floor:.0f}%" if median and present(floor) else median,
                "impact parts (Apple)": row.get("energy_impact_parts") or ""}


METRIC = EnergyImpact()
