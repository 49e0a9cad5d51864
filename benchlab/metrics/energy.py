"""Energy per inference in millijoules, from a phone's power rails, compared at the repeat level.

What a runner reports, per repeat, in `Measurement.metric_values` (keys below): the energy the
device's meters counted over one runner process above the device's idle power (measured in the
same run, a short idle window per device), divided by the inferences that process ran (warmup and
timed runs). Model load and process start-up are inside the window, so the figure is an upper
bound of the loop's own energy that approaches it as a repeat runs more iterations. Android
reports it from the on-device power monitor (ODPM) rails (android_runner.power_rails), in total
and per rail. An iPhone's energy figure is Apple's unitless energy impact, a different metric
(benchlab.metrics.energy_impact), never this one.

Like latency, the repeat is the unit: the statistic is the median of the repeat values, with the
provisional noise floor of the repeats (z_0.975 * sqrt(2) * their log sd, what one repeat of each
of two runs differs by) beside it; `benchlab compare` tests the repeat values (Hodges-Lehmann shift,
Mann-Whitney, benchlab.metrics.change) against `energy_pct` and the row's noise floor, and a
regression fails the check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from benchlab.metrics.base import RepeatMetric, Threshold, number_text, present, values_by_prefix
from benchlab.metrics.stats import Z_95, log_sd
from benchlab.records import Measurement

#: `metric_values` key prefix of one rail's share (mJ per inference, idle subtracted): "energy.rail.NAME".
RAIL_PREFIX = "energy.rail."
#: `metric_values` key of the idle power subtracted (all rails together, mW).
IDLE_KEY = "energy.idle_mw"
#: `metric_values` key of where the meters were read ("odpm-iio", "powerstats-hal2", "powerstats-hal1").
#: Stored as the index into SOURCES (metric values are numbers).
SOURCE_KEY = "energy.source"
#: The readers a runner may name in SOURCE_KEY, by index.
SOURCES = ("odpm-iio", "powerstats-hal2", "powerstats-hal1")
#: `benchlab check` warns when the repeats' noise floor is wider than this (percent): a change
#: smaller than it cannot be told from noise.
NOISY_FLOOR_PCT = 25.0


def repeats_floor_pct(values: list[float]) -> float | None:
    """Return the provisional noise floor of per-repeat values in percent: what one repeat of each
    of two runs differs by (z_0.975 * sqrt(2) * the log sd); None below 2 positive values."""
    positive = [v for v in values if v > 0]
    sd = log_sd(positive) if len(positive) == len(values) else None
    return 100.0 * math.expm1(Z_95 * math.sqrt(2.0) * sd) if sd is not None else None


def rail_values(m: Measurement) -> dict[str, float]:
    """Return each rail's mJ per inference (idle subtracted) of a measurement, by rail name."""
    return values_by_prefix(m, RAIL_PREFIX)


class Energy(RepeatMetric):
    """Median energy per inference over the repeats (mJ, idle subtracted); gates on `energy_pct`."""

    name = "energy"
    label = "energy per inference"
    unit = "mJ"
    position = 35
    column = "energy_mj"
    threshold = Threshold("energy_pct", 10.0, "energy per inference higher by more than this percent and "
                                              "significant (phones with power rails)")
    compare_heading = "energy change"
    terminal_cells = ("mJ/inf",)
    history_column = "energy_mj"
    terminal_when_measured = True
    summary_columns = ("energy_mj", "energy_noise_floor_pct", "energy_repeats", "energy_idle_mw")

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the median mJ per inference, its repeats and noise floor, each rail's share and the idle power."""
        values = self.repeat_values(m)
        rails = rail_values(m)
        source = m.metric_values.get(SOURCE_KEY)
        return {
            **super().columns(m),
            "energy_repeats": len(values),
            "energy_noise_floor_pct": repeats_floor_pct(values),
            "energy_idle_mw": m.metric_values.get(IDLE_KEY) if values else None,
            "energy_rails": "; ".join(f"{name} {value:.4g}" for name, value in sorted(rails.items())) or None,
            "energy_source": SOURCES[int(source)] if source is not None and values else None,
        }

    def warnings(self, m: Measurement) -> list[tuple[str, str]]:
        """Return energy-below-idle (a repeat whose energy did not rise above the idle power: too little
        work per repeat for the rails' clock and resolution) and energy-noisy (repeats too far apart)."""
        values = self.repeat_values(m)
        found = []
        below = sum(v <= 0 for v in values)
        if below:
            found.append(("energy-below-idle", f"{below} of {len(values)} repeat(s) measured no energy above the "
                                               "phone's idle power: too little work per repeat for the rails' "
                                               "clock and resolution; raise scenario.iterations"))
        floor = repeats_floor_pct(values)
        if floor is not None and floor > NOISY_FLOOR_PCT:
            found.append(("energy-noisy", f"energy per inference differs by ±{floor:.0f}% between repeats (more than "
                                          f"{NOISY_FLOOR_PCT:.0f}%): raise scenario.iterations, keep the screen off "
                                          "and the phone quiet"))
        return found

    def cells(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Return the median mJ per inference with its noise floor, the idle power and the rails."""
        floor = row.get("energy_noise_floor_pct")
        median = number_text(row.get(self.column), 3)
        return {"mJ/inf": f"{median} ±{floor:.0f}%" if median and present(floor) else median,
                "idle mW": number_text(row.get("energy_idle_mw"), 0),
                "mJ/inf per rail": row.get("energy_rails") or ""}


METRIC = Energy()
