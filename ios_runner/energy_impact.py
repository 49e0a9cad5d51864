"""Apple's energy impact of the runner app: what Xcode's energy gauge answers over DVT, and one repeat's figure.

Xcode's Energy gauge reads ``com.apple.xcode.debug-gauge-data-providers.Energy`` through developer
services; pymobiledevice3's ``EnergyMonitor`` (``services/dvt/instruments/energy_monitor.py``) opens
it for a list of pids and yields one reply of ``sampleAttributes:forPIDs:`` per iteration, keyed by
pid (``{1714: {'energy.cost': 331.15..., 'energy.display.cost': 341.15..., ...}}``, issue
doronz88/pymobiledevice3#792; tests/ios/public/README.md lists the recordings). Each pid's values:

- ``energy.cost``: the process's energy impact now, the figure Xcode's gauge draws; Apple gives it
  **no unit** (not joules, not watts) and does not say how it is computed. It is a level over time,
  not a counter: a repeat's figure is the mean of the levels sampled while it ran.
- ``energy.<part>.cost`` for cpu, gpu, display, networking, location: its parts as the gauge splits
  them, in the same units; ``energy.<part>.overhead`` and ``energy.overhead`` are overheads Apple
  reports beside them (500 for networking whenever it was active in the recordings), not parts.
  Apple's parts do not add up to ``energy.cost`` (#792 asks why; the maintainer: "pymobile just
  reports the data as-is"), so each is kept as printed.
- ``kIDEGaugeSecondsSinceInitialQueryKey``: whole seconds (rounded up) since the pid's first query.

The gauge's first answer for a pid (second 0: Xcode's provider notes the time of the first query
then) has no CPU, GPU or display cost yet and ``energy.cost`` is the bare overhead (-10.0 in the
recordings): it is not a reading and is left out. The gauge updates about once a second and answers
faster than that (a public tool's notes: at ten questions a second every other answer was all
zeros), and asking costs the phone work: benchlab asks once a second
(ios_runner.services.SAMPLE_INTERVAL_S) and keeps the first reading of each gauge second.
Values are kept as Apple prints them, negative overheads included: an idle app's impact is -10.0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchlab.metrics.energy_impact import METRIC, PART_PREFIX, READINGS_KEY

#: The parts of the impact the gauge reports, as named in its keys (``energy.cpu.cost`` ...).
PARTS = ("cpu", "gpu", "display", "networking", "location")
_COST = "energy.cost"
_SECONDS = "kIDEGaugeSecondsSinceInitialQueryKey"


@dataclass(frozen=True)
class ImpactReading:
    """One answer of the gauge for one process: its energy impact and the parts', unitless as Apple prints them."""

    #: Whole seconds since the process's first query (the gauge's own count).
    seconds: int
    impact: float
    #: Each part's cost that the answer holds, by part name ("cpu", "gpu" ...).
    parts: Mapping[str, float]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def parse_values(values: Mapping[str, Any]) -> ImpactReading | None:
    """Return one process's gauge values as a reading; None for the first answer after sampling
    starts (gauge second 0) and for values without ``energy.cost``. A missing second is -1."""
    impact = _number(values.get(_COST))
    seconds = _number(values.get(_SECONDS))
    if impact is None or seconds == 0:
        return None
    parts = {part: cost for part in PARTS if (cost := _number(values.get(f"energy.{part}.cost"))) is not None}
    return ImpactReading(seconds=int(seconds) if seconds is not None else -1, impact=impact, parts=parts)


def parse_reply(reply: Any, pid: int) -> ImpactReading | None:
    """Return the reading for `pid` in one ``EnergyMonitor`` reply (``{pid: {...}}``); None when the
    reply does not hold that process or holds no reading for it. The pid key is matched as a number:
    pymobiledevice3 decodes it as an int, older DTX decoders as a float (``2230.0``)."""
    if not isinstance(reply, Mapping):
        return None
    for key, values in reply.items():
        try:
            same = float(key) == pid
        except (TypeError, ValueError):
            continue
        if same and isinstance(values, Mapping):
            return parse_values(values)
    return None


def repeat_values(recordings: Sequence[tuple[int, Sequence[Any]]]) -> dict[str, float]:
    """Return one repeat's `Measurement.metric_values` from the gauge's replies while it ran, given as
    (pid, replies) per recording: the mean energy impact over every reading, each part's mean and how
    many readings; {} when no reply held a reading.

    Readings of the same gauge second of one recording count once (the first: the gauge answers a
    second question within its update with a stale or zeroed one).
    """
    readings: list[ImpactReading] = []
    for pid, replies in recordings:
        by_second: dict[int, ImpactReading] = {}
        for index, reply in enumerate(replies):
            reading = parse_reply(reply, pid)
            if reading is not None:
                by_second.setdefault(reading.seconds if reading.seconds >= 0 else -1 - index, reading)
        readings += by_second.values()
    if not readings:
        return {}
    values = {METRIC.name: sum(r.impact for r in readings) / len(readings), READINGS_KEY: float(len(readings))}
    for part in PARTS:
        costs = [r.parts[part] for r in readings if part in r.parts]
        if costs:
            values[f"{PART_PREFIX}{part}"] = sum(costs) / len(costs)
    return values
