"""The other rows of a device · accelerator as controls: what moves them all is the machine.

Repeats inside one run do not see what moves a whole run: a slow episode of a shared machine,
another co-tenant, a different boot. On this project's 2-core VM two unchanged runs moved fp32 by
+33% and full-int8 by +47% at 2 threads, together. Every row of one device · accelerator saw the
same machine that night, so rows whose variant file did not change (same sha256 in both runs)
are controls for each other:

* The machine's shift is the median of their changes (log Hodges-Lehmann shifts of per-repeat
  medians); beyond the latency threshold it is reported once ("pixel7 · cpu-t4 ran 35% slower
  overall"), not as one regression per row.
* Each row is judged relative to its controls as well as alone (benchlab.metrics.change): the
  control shift of a row is the median of the *other* rows' shifts, so a row that really
  regressed does not move its own control, and a row whose file changed (a new model) is judged
  against the unchanged ones but is never a control itself.

A real regression of every unchanged variant at once cannot come from the variants (their files
did not change, and a runner or OS change makes the rows not comparable), so taking the common
shift out loses nothing a comparison of these two runs could attribute to a model.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from benchlab.metrics.stats import hodges_lehmann

Key = tuple[str, str, str, str]
#: Fewest repeats on each side for a row's shift to serve as a control.
MIN_CONTROL_REPEATS = 3


@dataclass(frozen=True)
class MachineShift:
    """The median change of the unchanged rows of one device · accelerator: the machine's, not a model's."""

    device_id: str
    accelerator: str
    change_pct: float
    rows: int

    def describe(self) -> str:
        """Return e.g. "pixel7 · cpu-t4 ran 35% slower overall (median change of its 8 unchanged rows) ..."."""
        how = "slower" if self.change_pct > 0 else "faster"
        return (f"{self.device_id} · {self.accelerator} ran {abs(self.change_pct):.0f}% {how} overall (median change "
                f"of its {self.rows} rows whose files did not change): the machine's shift, so each row is also "
                "judged relative to the others")


def control_shift_log(base_values: list[float], cand_values: list[float]) -> float | None:
    """Return a control row's log shift (Hodges-Lehmann of log per-repeat values), None with too few
    repeats or a non-positive value."""
    if min(len(base_values), len(cand_values)) < MIN_CONTROL_REPEATS or min(*base_values, *cand_values) <= 0:
        return None
    return hodges_lehmann(np.log(base_values), np.log(cand_values))[0]


def _group(key: Key) -> tuple[str, str]:
    return key[2], key[3]


@dataclass(frozen=True)
class RowControls:
    """What one row is judged against besides itself: its controls' median log shift, how many
    controls, and the row's noise floor relative to them from history (None: not known yet)."""

    shift_log: float
    count: int
    relative_floor_pct: float | None = None


def shift_of_others(key: Key, shifts: Mapping[Key, float], relative_floors: Mapping[Key, float] | None = None
                    ) -> RowControls | None:
    """Return the median log shift of the controls of `key`'s device · accelerator other than `key`
    itself, how many there are and `key`'s relative floor (benchlab.nightly.noise.relative_noise_floors);
    None when it has no control."""
    return rows_controls([key], shifts, relative_floors)[key]


def rows_controls(keys: Iterable[Key], shifts: Mapping[Key, float], relative_floors: Mapping[Key, float] | None = None
                  ) -> dict[Key, RowControls | None]:
    """Return `shift_of_others` of each of `keys`, the rows of each device · accelerator found once (a
    farm's compare has 1,200 rows: not every row scanned for every row)."""
    groups: dict[tuple[str, str], list[tuple[Key, float]]] = {}
    for other, shift in shifts.items():
        groups.setdefault(_group(other), []).append((other, shift))
    found: dict[Key, RowControls | None] = {}
    for key in keys:
        others = [shift for other, shift in groups.get(_group(key), ()) if other != key]
        found[key] = (RowControls(statistics.median(others), len(others), (relative_floors or {}).get(key))
                      if others else None)
    return found


def machine_shifts(shifts: Mapping[Key, float], threshold_pct: float) -> list[MachineShift]:
    """Return each device · accelerator with at least two controls whose median shift is beyond
    `threshold_pct`, in the order the rows came."""
    groups: dict[tuple[str, str], list[float]] = {}
    for key, shift in shifts.items():
        groups.setdefault(_group(key), []).append(shift)
    found = []
    for (device, accelerator), values in groups.items():
        change = 100.0 * math.expm1(statistics.median(values))
        if len(values) >= 2 and abs(change) > threshold_pct:
            found.append(MachineShift(device, accelerator, change, len(values)))
    return found
